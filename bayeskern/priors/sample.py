"""Sampling a whole kernel inside a NumPyro model: one site per hyperparameter, under a prefix."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayeskern._checks import check_nonnegative, check_positive, is_concrete
from bayeskern.kernels.base import Kernel
from bayeskern.priors.data import data_scales
from bayeskern.priors.defaults import check_names, site_default
from bayeskern.priors.kernel_params import (
    as_site_distribution,
    check_kernel_class,
    check_options,
    param_shape,
)


def sample_kernel(
    prefix: str,
    kernel_cls: type[Kernel],
    X=None,
    y=None,
    *,
    ard: bool = False,
    pc_prior: bool = False,
    num_mixtures: int | None = None,
    **hyperparameters,
) -> Kernel:
    """Sample the hyperparameters of ``kernel_cls`` as NumPyro sites and return the built kernel.

    Call inside a NumPyro model. Each hyperparameter ``name`` in
    ``kernel_cls._params`` becomes the site ``f"{prefix}_{name}"`` unless it is
    fixed::

        k = sample_kernel("f", Matern52, X=X, y=y)            # sites f_lengthscale, f_variance
        k = sample_kernel("f", RBF, X=X, ard=True)            # f_lengthscale has shape (d,)
        k = sample_kernel("f", RBF, X=X, variance=1.0)        # fixed: no f_variance site
        k = sample_kernel("f", RBF, lengthscale=dist.Gamma(2.0, 1.0))   # the user's prior

    Per hyperparameter, pass nothing (or None) for the data-scaled default
    (:func:`~bayeskern.priors.describe_default_priors`), a NumPyro
    ``Distribution`` to use as the site's prior, or a value (number or array,
    possibly sampled elsewhere, e.g. shared between kernels) to fix it; fixed
    values are validated by the kernel's constructor (a non-positive
    ``lengthscale`` is a ``ValueError`` naming it). All checks, and the
    data-scaled defaults (computed once in NumPy/SciPy), run before the first
    site is sampled.

    Site shapes: each site is a single event of the hyperparameter's shape:
    ``()``; ``(d,)`` for per-dimension hyperparameters under ``ard=True``
    (``lengthscale``; also ``period`` for Periodic, the slope ``variance``
    for Linear, ``weight_variance`` for ArcCosine); ``(Q,)`` for spectral
    mixture ``weights`` and ``(Q, d)`` for its ``means`` and ``scales``. A
    user prior with no event dimensions whose batch shape broadcasts to the
    site shape (a scalar prior, say) is expanded, ``.expand(shape).to_event(k)``;
    one whose ``batch_shape + event_shape`` equals the site shape has its
    batch dimensions moved into the event (``.to_event``). Sites are vector
    events, not plates. A kernel holds one set of hyperparameters, so call
    this outside any ``numpyro.plate`` (``jax.vmap`` the model for a batch of
    kernels).

    Args:
        prefix: non-empty site-name prefix, unique per kernel in a model
            (NumPyro's ``trace`` rejects duplicate site names).
        kernel_cls: a kernel family, e.g. ``RBF``, ``Matern52``, ``SpectralMixture``.
        X: inputs ``(n,)`` or ``(n, d)`` for data-scaled defaults and the number
            of input dimensions ``d``; or None (weakly informative defaults).
            Must be concrete (not a ``jit`` tracer) when a default needs it;
            otherwise build the priors outside with
            :func:`~bayeskern.priors.default_priors` and pass them in.
        y: observations (any shape) for variance-type defaults, or None.
        ard: one lengthscale (or other per-dimension hyperparameter) per input dimension.
        pc_prior: penalised-complexity defaults for ``lengthscale`` and ``variance``
            (see :mod:`bayeskern.priors.pc`); needs ``X`` for the lengthscale.
        num_mixtures: number of components ``Q``, required for ``SpectralMixture``.
        **hyperparameters: per hyperparameter a value, a ``Distribution`` or
            None; plus the kernel's static settings (``active_dims``,
            ``degree``, ``order``), passed to the constructor. With
            ``active_dims`` the data-scaled defaults see only those columns.

    Returns:
        ``kernel_cls`` built from the sampled and fixed values.

    Raises:
        TypeError: ``kernel_cls`` is not a kernel family, or an argument is
            neither a hyperparameter nor a setting of it (the name is given).
        ValueError: NaN/inf or wrongly shaped ``X``/``y``; a fixed value the
            constructor rejects; a prior whose shape does not fit; options that
            do not apply (``ard`` on a kernel without per-dimension
            hyperparameters, ``num_mixtures`` off a spectral mixture); a
            default that needs data that was not given.
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
    check_kernel_class(kernel_cls)
    check_names(kernel_cls, hyperparameters)
    owner = kernel_cls.__name__
    settings = {k: v for k, v in hyperparameters.items() if k not in kernel_cls._params}
    scales = data_scales(X, y, settings.get("active_dims"))
    check_options(kernel_cls, scales, ard, num_mixtures)

    priors: dict[str, dist.Distribution] = {}
    fixed: dict[str, object] = {}
    for name in kernel_cls._params:
        spec = hyperparameters.get(name)
        shape = param_shape(kernel_cls, name, scales.dim, ard, num_mixtures)
        if spec is None:
            priors[name] = site_default(
                kernel_cls, name, scales, ard=ard, pc_prior=pc_prior, num_mixtures=num_mixtures
            )
        elif isinstance(spec, dist.Distribution):
            priors[name] = as_site_distribution(spec, shape, f"{owner} {name!r}")
        else:
            fixed[name] = _checked_fixed(spec, name, kernel_cls)

    # Build once with placeholders before sampling: the constructor checks fixed
    # values, static settings and shape agreement, so errors surface before any site.
    placeholders = {n: jnp.ones(d.event_shape) for n, d in priors.items()}
    kernel_cls(**placeholders, **fixed, **settings)

    values = dict(fixed)
    for name, prior in priors.items():
        values[name] = numpyro.sample(f"{prefix}_{name}", prior)
    return kernel_cls(**{n: values[n] for n in kernel_cls._params}, **settings)


def _checked_fixed(value, name: str, kernel_cls):
    """Validate a concrete fixed value in NumPy (a ``jnp`` conversion inside a trace would hide it)."""
    if not is_concrete(value):
        return value
    owner = kernel_cls.__name__
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(f"{owner}: {name} must be a real number or array, got {value!r}")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: {name} must be finite, got {arr!r}")
    constraint = kernel_cls._params[name][1]
    if constraint == "positive":
        check_positive(arr, name, owner)
    elif constraint == "nonnegative":
        check_nonnegative(arr, name, owner)
    return value
