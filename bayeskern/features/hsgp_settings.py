"""Choosing the HSGP basis size ``m`` and boundary factor ``c`` (Riutort-Mayol et al. 2023, §4).

With ``ρ = ℓ / S`` (lengthscale over the half-range of the centred inputs)
the paper's empirical rules for RBF and Matérn 3/2, 5/2 kernels are

    c ≥ max(1.2, α ρ),      m ≥ β c / ρ,

which hold the covariance error near 1 % of the variance in the middle of
the data. ``hsgp_settings`` picks ``m`` and ``c`` from a lengthscale (a
value or the lower quantile of its prior); ``check_hsgp_settings`` warns
(``HSGPSettingsWarning``) when given settings fall short of them.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.features.hsgp import _per_dim
from bayeskern.kernels import RBF, Kernel, Matern32, Matern52

__all__ = [
    "HSGP_RULES",
    "HSGPSettings",
    "HSGPSettingsWarning",
    "check_hsgp_settings",
    "correlation_distance",
    "hsgp_settings",
    "rule_name",
]

#: Riutort-Mayol et al. (2023, eqs. for SE / Matérn 5/2 / Matérn 3/2):
#: ``m = beta · c / (ℓ/S)`` basis functions and ``c ≥ max(1.2, alpha · ℓ/S)``
#: for lengthscale ``ℓ`` and half-range ``S``: kernel name -> (beta, alpha).
HSGP_RULES = {"rbf": (1.75, 3.2), "matern52": (2.65, 4.1), "matern32": (3.42, 4.5)}
_ALIASES = {
    "rbf": "rbf", "se": "rbf", "squared_exponential": "rbf", "exp_quad": "rbf", "gaussian": "rbf",
    "matern52": "matern52", "matern_52": "matern52", "matern5/2": "matern52",
    "matern32": "matern32", "matern_32": "matern32", "matern3/2": "matern32",
}
_RULE_CLASSES = ((Matern52, "matern52"), (Matern32, "matern32"), (RBF, "rbf"))
MIN_BOUNDARY_FACTOR = 1.2


class HSGPSettingsWarning(UserWarning):
    """The number of basis functions or the boundary factor is below the empirical rule."""


class HSGPSettings(NamedTuple):
    """Basis size and box from the rules of Riutort-Mayol et al. (2023), one entry per input dimension."""

    num_basis: tuple
    boundary_factor: tuple
    half_range: tuple
    lengthscale: tuple
    kernel: str

    def options(self) -> dict:
        """``{"num_basis": ..., "boundary_factor": ...}`` for ``GaussianProcess(..., structure="hsgp", **options)``."""
        return {"num_basis": self.num_basis, "boundary_factor": self.boundary_factor}


def rule_name(kernel) -> str:
    """The rule key (``"rbf"``, ``"matern52"``, ``"matern32"``) for a name, kernel class or instance."""
    if isinstance(kernel, str):
        key = _ALIASES.get(kernel.strip().lower().replace("-", "").replace(" ", ""))
        if key is None:
            raise ValueError(
                f"kernel must name one of the kernels with an HSGP rule ({sorted(HSGP_RULES)}), got {kernel!r}"
            )
        return key
    cls = kernel if isinstance(kernel, type) else type(kernel)
    for klass, key in _RULE_CLASSES:
        if issubclass(cls, klass):
            return key
    raise ValueError(
        f"Riutort-Mayol et al. (2023) give rules for RBF, Matern32 and Matern52 only, not {cls.__name__}; "
        f"choose num_basis and boundary_factor by hand and check the approximation against a dense GP "
        f"on a subsample"
    )


def _half_range(X, half_range):
    if half_range is not None:
        S = np.atleast_1d(np.asarray(half_range, dtype=float))
    else:
        if X is None:
            raise ValueError("pass the inputs X or half_range=")
        Xa = np.asarray(as_inputs(X, "X"))
        S = 0.5 * (Xa.max(axis=0) - Xa.min(axis=0))
    if np.any(~(S > 0)):
        raise ValueError(f"the half-range of the inputs must be positive in every dimension, got {S}")
    return S


def _lengthscale_value(lengthscale, quantile, d):
    """Per-dimension lengthscale ``(d,)``: a value, or the ``quantile`` of a prior distribution."""
    if hasattr(lengthscale, "sample") and hasattr(lengthscale, "batch_shape"):
        value = _quantile(lengthscale, quantile)
    else:
        if not is_concrete(lengthscale):
            raise ValueError("the HSGP rules need a concrete lengthscale (or a prior distribution), not a traced value")
        value = np.asarray(lengthscale, dtype=float)
    value = np.atleast_1d(np.asarray(value, dtype=float))
    if value.shape == (1,):
        value = np.broadcast_to(value, (d,))
    if value.shape != (d,):
        raise ValueError(f"lengthscale must be a scalar or have shape ({d},), got shape {np.shape(value)}")
    if np.any(~(value > 0)):
        raise ValueError(f"lengthscale must be positive, got {value}")
    return value


def _quantile(distribution, q):
    """The ``q`` quantile of a (positive) NumPyro distribution: ``icdf``, else bisection on ``cdf``, else Monte Carlo."""
    try:
        value = np.asarray(distribution.icdf(jnp.asarray(q)), dtype=float)
        if np.all(np.isfinite(value)):
            return value
    except Exception:  # noqa: BLE001, S110 - e.g. InverseGamma's icdf needs tensorflow_probability
        pass
    try:
        shape = tuple(distribution.batch_shape)
        lo, hi = np.full(shape, 1e-12), np.ones(shape)
        for _ in range(200):  # bracket
            below = np.asarray(distribution.cdf(jnp.asarray(hi)), dtype=float) < q
            if not below.any():
                break
            hi = np.where(below, hi * 4.0, hi)
        for _ in range(100):  # bisect in log space
            mid = np.sqrt(lo * hi)
            below = np.asarray(distribution.cdf(jnp.asarray(mid)), dtype=float) < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        value = np.sqrt(lo * hi)
        if np.all(np.isfinite(value)) and np.all(np.abs(np.asarray(distribution.cdf(jnp.asarray(value))) - q) < 1e-6):
            return value
    except Exception:  # noqa: BLE001, S110 - no cdf either: sample
        pass
    draws = np.asarray(distribution.sample(jax.random.PRNGKey(0), (200_000,)), dtype=float)
    return np.quantile(draws, q, axis=0)


def hsgp_settings(X=None, lengthscale=None, kernel="rbf", *, half_range=None, quantile: float = 0.05,
                  min_boundary_factor: float = MIN_BOUNDARY_FACTOR, edge_tolerance: float | None = None
                  ) -> HSGPSettings:
    """``m`` and ``c`` per input dimension from the rules of Riutort-Mayol et al. (2023).

    With ``ρ = ℓ / S`` (lengthscale over the half-range of the centred inputs)
    and the kernel's constants ``(β, α)`` — RBF (1.75, 3.2), Matérn 5/2
    (2.65, 4.1), Matérn 3/2 (3.42, 4.5) —

        c = max(min_boundary_factor, α ρ),      m = ⌈β c / ρ⌉.

    Args:
        X: inputs ``(n,)|(n, d)`` (only their range is used), or None with ``half_range``.
        lengthscale: a value (scalar or ``(d,)``) or a NumPyro distribution
            (a lengthscale prior): its ``quantile`` (default 5 %) is used, so
            the basis resolves the short lengthscales the prior allows.
            Defaults to ``kernel.lengthscale`` when ``kernel`` is a kernel object.
        kernel: ``"rbf"``, ``"matern52"``, ``"matern32"`` or a kernel class/instance.
        half_range: ``S`` per dimension instead of computing it from ``X``.
        quantile: lower quantile of a lengthscale distribution.
        min_boundary_factor: lower bound on ``c`` (the paper's 1.2).
        edge_tolerance: also keep the error of the prior variance at the edges
            of the data below this fraction of the kernel variance (see below).

    The rule targets the covariance in the middle of the domain (there it
    keeps the error near 1 % of the variance). At the edges of the data the
    Dirichlet boundary pulls the approximate variance down by about
    ``k(2δ)/variance``, ``δ = (c − 1) S`` the gap between data and boundary;
    for ``ℓ/S`` between about 0.2 and 0.5 the paper's ``c`` leaves errors of
    10–40 % there. ``edge_tolerance=tol`` additionally requires
    ``c ≥ 1 + u_tol ρ / 2`` with ``k(u_tol ℓ) = tol · variance`` (for RBF and
    ``tol = 0.01``, ``c ≥ 1 + 1.52 ρ``), and ``m`` grows with ``c``.
    """
    name = rule_name(kernel)
    if lengthscale is None:
        if isinstance(kernel, Kernel):
            lengthscale = kernel.lengthscale
        else:
            raise ValueError("hsgp_settings needs lengthscale= (a value or a prior distribution)")
    S = _half_range(X, half_range)
    ls = _lengthscale_value(lengthscale, quantile, S.shape[0])
    beta, alpha = HSGP_RULES[name]
    rho = ls / S
    c = np.maximum(min_boundary_factor, alpha * rho)
    if edge_tolerance is not None:
        c = np.maximum(c, 1.0 + 0.5 * correlation_distance(name, edge_tolerance) * rho)
    m = np.ceil(beta * c / rho - 1e-9).astype(int)
    return HSGPSettings(tuple(int(v) for v in m), tuple(float(v) for v in c), tuple(float(v) for v in S),
                        tuple(float(v) for v in ls), name)


def correlation_distance(kernel, tolerance: float) -> float:
    """Distance ``u`` (in lengthscales) at which the correlation of an RBF/Matérn kernel falls to ``tolerance``."""
    if not 0 < tolerance < 1:
        raise ValueError(f"edge_tolerance must be in (0, 1), got {tolerance!r}")
    name = rule_name(kernel)
    k = {"rbf": RBF, "matern52": Matern52, "matern32": Matern32}[name](lengthscale=1.0)
    u = np.linspace(0.0, 60.0, 60001)
    r = np.asarray(k(np.zeros(1), u))[0]
    below = np.nonzero(r <= tolerance)[0]
    return float(u[below[0]]) if below.size else float(u[-1])


def check_hsgp_settings(num_basis, boundary_factor, X=None, lengthscale=None, kernel="rbf", *, half_range=None,
                        quantile: float = 0.05, edge_tolerance: float | None = None, warn: bool = True,
                        stacklevel: int = 2) -> list[str]:
    """Compare ``m`` and ``c`` with the rules of Riutort-Mayol et al. (2023) for ``lengthscale``.

    Returns the problems found (empty when the settings satisfy the rules)
    and, with ``warn=True``, issues each as an ``HSGPSettingsWarning``:
    ``m`` below ``β c / ρ`` (the basis cannot resolve this short a
    lengthscale), ``c`` below ``max(1.2, α ρ)`` (the box is too tight for
    this long a lengthscale). Arguments as in ``hsgp_settings``.
    """
    name = rule_name(kernel)
    if lengthscale is None:
        if isinstance(kernel, Kernel):
            lengthscale = kernel.lengthscale
        else:
            raise ValueError("check_hsgp_settings needs lengthscale=")
    S = _half_range(X, half_range)
    d = S.shape[0]
    ls = _lengthscale_value(lengthscale, quantile, d)
    m = np.asarray(_per_dim(num_basis, d, "num_basis", integer=True))
    c = np.asarray(_per_dim(boundary_factor, d, "boundary_factor"), dtype=float)
    beta, alpha = HSGP_RULES[name]
    rho = ls / S
    problems = []
    for i in range(d):
        where = f" in input dimension {i}" if d > 1 else ""
        c_min = max(MIN_BOUNDARY_FACTOR, alpha * rho[i])
        rule = f"Riutort-Mayol et al. 2023: c >= max(1.2, {alpha} l/S)"
        if edge_tolerance is not None:
            c_edge = 1.0 + 0.5 * correlation_distance(name, edge_tolerance) * rho[i]
            if c_edge > c_min:
                c_min, rule = c_edge, f"edge variance error <= {edge_tolerance:g}"
        if c[i] < c_min - 1e-9:
            problems.append(
                f"HSGP boundary factor c={c[i]:.3g}{where} is below {c_min:.3g}, the minimum for a {name} kernel with "
                f"lengthscale {ls[i]:.3g} on half-range {S[i]:.3g} ({rule}); the approximation degrades near "
                f"the edges of the data. Increase boundary_factor (and num_basis with it)."
            )
        m_min = math.ceil(beta * c[i] / rho[i] - 1e-9)
        if m[i] < m_min:
            problems.append(
                f"HSGP num_basis m={m[i]}{where} is below {m_min}, the number a {name} kernel with lengthscale "
                f"{ls[i]:.3g} needs at boundary factor c={c[i]:.3g} on half-range {S[i]:.3g} "
                f"(Riutort-Mayol et al. 2023: m >= {beta} c / (l/S)); functions this wiggly are smoothed away."
            )
    if warn:
        for p in problems:
            warnings.warn(p, HSGPSettingsWarning, stacklevel=stacklevel)
    return problems
