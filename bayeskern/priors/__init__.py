"""Kernel priors for NumPyro models.

* :func:`sample_kernel` (and the ``sample_<family>`` shorthands) samples every
  hyperparameter of a kernel family as a site ``f"{prefix}_{name}"`` and
  returns the built kernel; each hyperparameter may be fixed, given a prior,
  or left to a data-scaled default.
* :func:`resolve_kernel` turns a :data:`KernelSpec` (a Kernel instance, a kernel
  class or a callable ``(prefix, X) -> Kernel``) into a kernel inside a model:
  the one way every bayeskern model piece takes a kernel.
* :func:`default_prior` / :func:`default_priors` return the defaults for
  inspection (or to build outside ``jit``); :func:`describe_default_priors`
  prints the table and :mod:`bayeskern.priors.defaults` gives the reasoning.
* :func:`inverse_gamma_prior` / :func:`inverse_gamma_tails`: inverse gamma
  with given tail mass below and above two bounds (Betancourt).
* :func:`pc_lengthscale`, :class:`PCLengthscale`, :func:`pc_stddev`,
  :func:`pc_variance`: penalised-complexity priors (Simpson et al. 2017,
  Fuglstad et al. 2019).
"""

from bayeskern.priors.data import DataScales, data_scales
from bayeskern.priors.defaults import (
    DEFAULT_PRIOR_TABLE,
    default_prior,
    default_priors,
    describe_default_priors,
)
from bayeskern.priors.inverse_gamma import inverse_gamma_prior, inverse_gamma_tails
from bayeskern.priors.kernel_params import ard_params
from bayeskern.priors.pc import PCLengthscale, pc_lengthscale, pc_stddev, pc_variance
from bayeskern.priors.sample import sample_kernel
from bayeskern.priors.shortcuts import (
    sample_arc_cosine,
    sample_constant,
    sample_cosine,
    sample_linear,
    sample_matern12,
    sample_matern32,
    sample_matern52,
    sample_periodic,
    sample_polynomial,
    sample_rational_quadratic,
    sample_rbf,
    sample_spectral_mixture,
    sample_white,
)
from bayeskern.priors.spec import KERNEL_SPEC_FORMS, KernelSpec, KernelSpecError, kernel_spec_kind, resolve_kernel

__all__ = [
    "sample_kernel",
    "resolve_kernel", "KernelSpec", "KernelSpecError", "kernel_spec_kind", "KERNEL_SPEC_FORMS",
    "sample_rbf", "sample_matern12", "sample_matern32", "sample_matern52", "sample_rational_quadratic",
    "sample_periodic", "sample_cosine", "sample_spectral_mixture", "sample_linear", "sample_polynomial",
    "sample_arc_cosine", "sample_constant", "sample_white",
    "default_prior", "default_priors", "describe_default_priors", "DEFAULT_PRIOR_TABLE", "ard_params",
    "inverse_gamma_prior", "inverse_gamma_tails",
    "PCLengthscale", "pc_lengthscale", "pc_stddev", "pc_variance",
    "DataScales", "data_scales",
]
