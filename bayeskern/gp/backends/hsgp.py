"""HSGP back end: Hilbert-space basis (Solin & Särkkä 2020), ``O(n M²)`` with the Woodbury identity.

``GaussianProcess(kernel, X, noise=s2, structure="hsgp", num_basis=..., boundary_factor=...)``

Options (``structure_options``):

* ``num_basis``: basis functions per input dimension ``m`` (int or tuple),
  ``M = ∏ m_d`` in all. Required when the kernel hyperparameters are traced
  (inside a model); with concrete RBF/Matérn 3/2 / 5/2 hyperparameters
  both ``num_basis`` and ``boundary_factor`` default to the rules of
  Riutort-Mayol et al. (2023), see ``bayeskern.features.hsgp_settings``,
  and then ``m`` (and, while the boundary effect dominates, ``c``) grows
  (``m`` up to ``MAX_GROWTH`` times) until the prior variance the basis
  misses at the data, averaged over ``X``, is at most ``NOISE_TOLERANCE``
  times the median noise variance (else an ``HSGPSettingsWarning``). The rules hold the
  prior covariance error near 1 % of the kernel variance, which is not
  enough when the noise is small: measured on 60 points with Matérn 5/2,
  ``ℓ/S = 0.28``, noise 0.05 · variance, the rule's ``m = 14`` is 2.2 nats
  off the exact log density, ``m = 32`` 0.12 nats.
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
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from bayeskern._checks import is_concrete
from bayeskern.features.hsgp import (
    HSGPBasis,
    HSGPBoundaryWarning,
    hsgp_spectral_weights,
    spectral_reason,
)
from bayeskern.features.hsgp_settings import (
    HSGPSettingsWarning,
    check_hsgp_settings,
    hsgp_settings,
    rule_name,
)
from bayeskern.gp.backends import _lowrank
from bayeskern.kernels import Scaled, Sum

#: Settings this back end reads from ``GaussianProcess(..., **structure_options)``.
OPTIONS = ("num_basis", "boundary_factor", "L", "center")

#: Largest input dimension (the tensor-product basis has ``m^d`` functions).
MAX_DIM = 3
DEFAULT_BOUNDARY_FACTOR = 1.5
#: Rule-based defaults also keep the prior-variance error at the data edges below this.
EDGE_TOLERANCE = 0.01
#: Rule-based defaults then grow ``m`` until the missed prior variance is at most this times the noise.
NOISE_TOLERANCE = 0.02
#: ... but by at most this factor per dimension (then warn).
MAX_GROWTH = 4.0
#: The missed variance is averaged over at most this many of the inputs.
_DEFICIT_POINTS = 2000


def applicable(process):
    """None when the HSGP basis applies to ``process``, else the reason."""
    d = process.X.shape[1]
    if d > MAX_DIM:
        return (f"the HSGP basis is a tensor product (m^d functions) and supports at most {MAX_DIM} input "
                f"dimensions, X has {d}; use structure='rff' (random Fourier features) instead")
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


def _subsample(X):
    return np.asarray(X)[:: max(1, X.shape[0] // _DEFICIT_POINTS)]


def _missed_variance(kernel, X, num_basis, c):
    """Mean over (a subsample of) ``X`` of ``k(x, x) − Σ_j S(ω_j) φ_j(x)²``: prior variance the basis misses."""
    Xs = _subsample(X)
    basis = HSGPBasis.from_inputs(X, num_basis, c)
    Phi = np.asarray(basis.features(Xs))
    captured = (Phi * Phi) @ np.asarray(hsgp_spectral_weights(kernel, basis))
    return float(np.mean(np.asarray(kernel.diag(Xs)) - captured))


def _boundary_deficit(kernel, X, c):
    """Leading image terms ``Σ_d k(2δ_d⁻ e_d) + k(2δ_d⁺ e_d)`` averaged over ``X``: the part no ``m`` removes."""
    Xs = _subsample(X)
    basis = HSGPBasis.from_inputs(X, 1, c)
    lo, hi = np.asarray(basis.center - basis.L), np.asarray(basis.center + basis.L)
    d = Xs.shape[1]
    total = np.zeros(Xs.shape[0])
    for i in range(d):
        for gap in (Xs[:, i] - lo[i], hi[i] - Xs[:, i]):
            lag = np.zeros_like(Xs)
            lag[:, i] = 2.0 * gap
            total += np.asarray(kernel(np.zeros((1, d)), lag))[0]
    return float(np.mean(total))


def _noise_refined(process, num_basis, c):
    """Grow the box and the basis until the missed variance is ≤ ``NOISE_TOLERANCE`` · noise.

    The missed variance has two parts: the truncated spectrum (falls as ``m``
    grows) and the boundary effect (falls only as ``c`` grows). Each step
    grows ``m`` by 1.25 and, while the boundary part exceeds half the target,
    ``c`` with it (so the frequency resolution is kept).
    """
    if not is_concrete(process.noise):
        return num_basis, c
    noise = float(np.median(np.asarray(process.noise)))
    target = NOISE_TOLERANCE * max(noise, 0.0)
    m0, c0 = np.asarray(num_basis, dtype=float), np.asarray(c, dtype=float)
    m, cv = m0.copy(), c0.copy()
    while True:
        mt = tuple(int(v) for v in np.ceil(m - 1e-9))
        ct = tuple(float(v) for v in cv)
        missed = _missed_variance(process.kernel, process.X, mt, ct)
        if missed <= target:
            return mt, ct
        if np.max(m / m0) >= MAX_GROWTH:
            warnings.warn(
                f"HSGP with the default basis: even m={mt}, c={tuple(round(v, 3) for v in ct)} (m up to "
                f"{MAX_GROWTH:g} times the Riutort-Mayol rule) misses prior variance {missed:.3g} at the data, more "
                f"than {NOISE_TOLERANCE:g} times the noise variance {noise:.3g}; the approximate likelihood can be "
                f"far from the exact one. Pass num_basis= and boundary_factor= (and check against a dense GP on a "
                f"subsample) or use another structure.",
                HSGPSettingsWarning, stacklevel=6,
            )
            return mt, ct
        if _boundary_deficit(process.kernel, process.X, ct) > 0.5 * target:
            cv = cv * 1.25
        m = np.minimum(m * 1.25, m0 * MAX_GROWTH)


class HSGPSpec(NamedTuple):
    """Resolved static settings: ``m`` and ``c`` per dimension, or an explicit box."""

    num_basis: tuple
    boundary_factor: tuple
    center: tuple | None = None
    L: tuple | None = None

    def basis(self, X) -> HSGPBasis:
        return HSGPBasis.from_inputs(X, self.num_basis, self.boundary_factor, center=self.center, L=self.L)

    def dynamic(self, process):
        return None

    def build(self, kernel, X, dynamic=None):
        basis = self.basis(X)
        return _Representation(basis, hsgp_spectral_weights(kernel, basis))

    def component_weights(self, kernel, X, target):
        return hsgp_spectral_weights(kernel, self.basis(X), target)

    def check_inputs(self, X, X_new):
        basis = self.basis(X)
        if not basis.contains(X_new):
            lo = np.asarray(basis.center - basis.L)
            hi = np.asarray(basis.center + basis.L)
            warnings.warn(
                f"X_new has points outside the HSGP box [{lo}, {hi}] (boundary_factor times the half-range of "
                f"X around its midpoint); the basis vanishes on the boundary, so predictions there are wrong. "
                f"Use a larger boundary_factor (and num_basis) or an explicit L= covering X_new.",
                HSGPBoundaryWarning, stacklevel=5,
            )


class _Representation(NamedTuple):
    basis: HSGPBasis
    weights: jnp.ndarray

    def features(self, X):
        return self.basis.features(X)


def _tuple_or_none(value):
    return None if value is None else tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)))


def spec(process) -> HSGPSpec:
    """Resolve the options of ``process`` (rule-based defaults) and warn about settings below the rules."""
    opts = process.options
    num_basis, c = opts.get("num_basis"), opts.get("boundary_factor")
    if num_basis is None:
        num_basis, c = _rule_settings(process)
        num_basis, c = _noise_refined(process, num_basis, c)
    elif c is None:
        c = DEFAULT_BOUNDARY_FACTOR
    d = process.X.shape[1]
    num_basis = tuple(int(m) for m in np.broadcast_to(np.atleast_1d(num_basis), (d,)))
    c = tuple(float(v) for v in np.broadcast_to(np.atleast_1d(np.asarray(c, dtype=float)), (d,)))
    out = HSGPSpec(num_basis, c, _tuple_or_none(opts.get("center")), _tuple_or_none(opts.get("L")))
    if out.L is None:
        _check_rules(process, num_basis, c)
    return out


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


log_prob, pointwise_log_prob, sample, condition = _lowrank.entry_points(spec, "HSGP")
