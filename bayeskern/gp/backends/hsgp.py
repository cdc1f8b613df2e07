"""HSGP back end: Hilbert-space basis (Solin & Särkkä 2020), ``O(n M²)`` with the Woodbury identity.

``GaussianProcess(kernel, X, noise=s2, method="hsgp", num_basis=..., boundary_factor=...)``

Options (``method_options``):

* ``num_basis``: basis functions per input dimension ``m`` (int or tuple),
  ``M = ∏ m_d`` in all. Required when the kernel hyperparameters are traced
  (inside a model); with concrete RBF/Matérn 3/2 / 5/2 hyperparameters
  both ``num_basis`` and ``boundary_factor`` default to the rules of
  Riutort-Mayol et al. (2023), see ``bayeskern.features.hsgp_settings``.
* ``boundary_factor``: ``c`` (scalar or per dimension, default 1.5 when
  ``num_basis`` is given); the box is ``c ·`` the half-range of ``X``
  around its midpoint.
* ``L``, ``center``: an explicit box (half-widths and centre) instead,
  e.g. to share one basis between data sets.

Applies to stationary kernels with a spectral density (RBF, Matérn,
rational quadratic, spectral mixture) and sums / positive multiples of
them, without ``active_dims``, on 1–3 input dimensions. With concrete
hyperparameters, settings below the Riutort-Mayol rules raise an
``HSGPSettingsWarning``; predictions outside the box raise an
``HSGPBoundaryWarning``. The model computed exactly is the finite-basis
one (see ``_lowrank``); component prediction (``kernel=`` a summand) is
exact within it.

Cost: ``O(n M²)`` per log density (the features do not depend on the
hyperparameters, so gradients do not flow through the ``n × M`` matrix).
"""

from __future__ import annotations

import warnings

import numpy as np

from bayeskern._checks import is_concrete
from bayeskern.features.hsgp import (
    HSGPBasis,
    HSGPBoundaryWarning,
    check_hsgp_settings,
    hsgp_settings,
    hsgp_spectral_weights,
    rule_name,
    spectral_reason,
)
from bayeskern.gp.backends import _lowrank
from bayeskern.kernels import Scaled, Sum

#: Largest input dimension (the tensor-product basis has ``m^d`` functions).
MAX_DIM = 3
DEFAULT_BOUNDARY_FACTOR = 1.5
#: Rule-based defaults also keep the prior-variance error at the data edges below this.
EDGE_TOLERANCE = 0.01


def applicable(process):
    """None when the HSGP basis applies to ``process``, else the reason."""
    d = process.X.shape[1]
    if d > MAX_DIM:
        return (f"the HSGP basis is a tensor product (m^d functions) and supports at most {MAX_DIM} input "
                f"dimensions, X has {d}; use method='rff' (random Fourier features) instead")
    reason = spectral_reason(process.kernel, d)
    if reason is not None:
        return reason
    opts = process.options
    if opts.get("num_basis") is None and opts.get("L") is None:
        try:
            _rule_settings(process)
        except ValueError as err:
            return f"pass num_basis= (and boundary_factor=): {err}"
    elif opts.get("num_basis") is None:
        return "pass num_basis= together with L="
    return None


def _leaves(kernel):
    if isinstance(kernel, Sum):
        return _leaves(kernel.k1) + _leaves(kernel.k2)
    if isinstance(kernel, Scaled):
        return _leaves(kernel.kernel)
    return [kernel]


def _rule_settings(process):
    """``(num_basis, boundary_factor)`` from the rules, the most demanding over the kernel's summands."""
    leaves = _leaves(process.kernel)
    if not all(is_concrete(k.lengthscale) for k in leaves):
        raise ValueError("the kernel hyperparameters are traced, so the rule-based defaults are not available")
    if not is_concrete(process.X):
        raise ValueError("the inputs are traced")
    per_leaf = [hsgp_settings(process.X, k.lengthscale, rule_name(k), edge_tolerance=EDGE_TOLERANCE) for k in leaves]
    c = np.max([s.boundary_factor for s in per_leaf], axis=0)
    m = np.max([np.ceil(np.asarray(s.num_basis) * c / np.asarray(s.boundary_factor) - 1e-9) for s in per_leaf],
               axis=0)
    return tuple(int(v) for v in m), tuple(float(v) for v in c)


class HSGPRepresentation:
    """The process's basis and spectral weights (see ``_lowrank``)."""

    def __init__(self, process):
        opts = process.options
        num_basis, c = opts.get("num_basis"), opts.get("boundary_factor")
        if num_basis is None:
            num_basis, c = _rule_settings(process)
        elif c is None:
            c = DEFAULT_BOUNDARY_FACTOR
        self.basis = HSGPBasis.from_inputs(process.X, num_basis, c, center=opts.get("center"), L=opts.get("L"))
        self.kernel = process.kernel
        self.weights = hsgp_spectral_weights(process.kernel, self.basis)
        if opts.get("L") is None:
            _check_rules(process, self.basis.num_basis, c)

    def features(self, X):
        return self.basis.features(X)

    def component_weights(self, target):
        return hsgp_spectral_weights(self.kernel, self.basis, target)

    def check_inputs(self, X_new):
        if not self.basis.contains(X_new):
            lo = np.asarray(self.basis.center - self.basis.L)
            hi = np.asarray(self.basis.center + self.basis.L)
            warnings.warn(
                f"X_new has points outside the HSGP box [{lo}, {hi}] (boundary_factor times the half-range of "
                f"X around its midpoint); the basis vanishes on the boundary, so predictions there are wrong. "
                f"Use a larger boundary_factor (and num_basis) or an explicit L= covering X_new.",
                HSGPBoundaryWarning, stacklevel=4,
            )


def _check_rules(process, num_basis, c):
    """Warn (``HSGPSettingsWarning``) when concrete lengthscales need more than the given ``m``/``c``."""
    if not is_concrete(process.X):
        return
    for k in _leaves(process.kernel):
        try:
            name = rule_name(k)
        except ValueError:
            continue
        if is_concrete(k.lengthscale):
            check_hsgp_settings(num_basis, c, process.X, k.lengthscale, name, stacklevel=6)


def log_prob(process, value):
    """Woodbury log density of the HSGP model, ``(..., n) -> (...)``."""
    return _lowrank.log_prob(process, HSGPRepresentation(process), value)


def pointwise_log_prob(process, value):
    """Exact LOO terms of the HSGP model, ``(..., n)``."""
    return _lowrank.pointwise_log_prob(process, HSGPRepresentation(process), value)


def sample(process, key, sample_shape):
    """Prior draws (with noise), ``sample_shape + (n,)``."""
    return _lowrank.sample(process, HSGPRepresentation(process), key, sample_shape)


def condition(process, y):
    """A ``LowRankPosterior`` (weight space) with ``at(X_new, ...)`` and ``sample_functions``."""
    return _lowrank.LowRankPosterior(process, HSGPRepresentation(process), y)
