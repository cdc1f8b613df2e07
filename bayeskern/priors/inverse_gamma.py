"""Inverse-gamma lengthscale priors from two tail conditions (Betancourt's GP case study).

A lengthscale shorter than the smallest input spacing, or longer than the
input range, is not informed by the data: the likelihood is flat there, and
a prior with mass in those regions lets the posterior drift into them (the
classic GP non-identifiability). The remedy is a prior that puts a small
probability ``tail`` below the lower bound ``l_min`` and above the upper
bound ``l_max``:

    P(ℓ < l_min) = tail,    P(ℓ > l_max) = tail.

The inverse gamma suits this well: its light left tail (``exp(-b/ℓ)``) keeps
ℓ away from zero much harder than its polynomial right tail keeps it from
infinity, which is what a lengthscale prior should do.

Solving. With ``ℓ ~ InvGamma(a, b)``, ``1/ℓ ~ Gamma(a, rate=b)``; writing
``G_a(p)`` for the ``p``-quantile of ``Gamma(a, 1)``, the two conditions are
``b = l_min · G_a(1 - tail)`` and ``G_a(1 - tail) / G_a(tail) = l_max / l_min``.
The left side of the second falls monotonically from ∞ (a → 0) to 1
(a → ∞), so ``a`` is a one-dimensional bracketed root (Brent's method in
``log a``) and ``b`` follows. For concrete bounds the solve runs in
NumPy/SciPy, once, before any tracing; results are cached by ``(ratio, tail)``.

Traced bounds (a model whose ``X`` is a ``jit`` argument, e.g. NumPyro's
``jit_model_args=True``, or a library replay that traces the data) cannot
reach SciPy. Both ``log a`` and ``log G_a(1 - tail)`` depend on the bounds
only through ``u = log log(upper / lower)``, where they are smooth, so they
are tabulated once per ``tail`` by the exact solve on a uniform grid in
``u`` and read back by cubic Hermite interpolation in ``jax.numpy``
(relative error below 1e-7 for ratios in ``[1.01, 1e30]``, checked against
the exact solve in the tests).
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from scipy import optimize, special

from bayeskern._checks import is_concrete


def _log_quantile_ratio(log_a: float, tail: float) -> float:
    a = math.exp(log_a)
    hi = special.gammaincinv(a, 1.0 - tail)
    lo = special.gammaincinv(a, tail)
    if lo <= 0.0:  # underflow for tiny a: the ratio is astronomically large
        return math.inf
    return math.log(hi) - math.log(lo)


@functools.lru_cache(maxsize=1024)
def _unit_concentration(ratio: float, tail: float) -> float:
    """Concentration ``a`` with ``G_a(1-tail)/G_a(tail) = ratio`` (scale-free part of the solve)."""
    target = math.log(ratio)

    def f(log_a):
        return _log_quantile_ratio(log_a, tail) - target

    lo, hi = 0.0, 0.0  # log a brackets, widened until the root lies between
    while not f(lo) > 0:
        lo -= 2.0
        if lo < -60:  # pragma: no cover  (ratio beyond float range)
            raise ValueError(f"cannot fit an inverse gamma to a ratio of {ratio:.3g}")
    while not f(hi) < 0:
        hi += 2.0
        if hi > 60:  # pragma: no cover  (ratio indistinguishable from 1)
            raise ValueError(f"cannot fit an inverse gamma to a ratio of {ratio:.3g}")
    log_a = optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200)
    return math.exp(log_a)


#: Grid in u = log log(ratio) for the traced path: ratios 1.01 .. 1e30, 513 nodes.
_U_LO, _U_HI, _U_NODES = math.log(math.log(1.01)), math.log(math.log(1e30)), 513


@functools.lru_cache(maxsize=16)
def _traced_table(tail: float) -> tuple[np.ndarray, ...]:
    """Nodes, values and slopes of ``log a(u)`` and ``log G_a(1-tail)(u)`` for :func:`_interpolate`."""
    u = np.linspace(_U_LO, _U_HI, _U_NODES)
    log_a = np.array([math.log(_unit_concentration(math.exp(math.exp(x)), tail)) for x in u])
    log_g = np.log(special.gammaincinv(np.exp(log_a), 1.0 - tail))
    return (u, log_a, np.gradient(log_a, u, edge_order=2), log_g, np.gradient(log_g, u, edge_order=2))


def _interpolate(x, nodes, values, slopes):
    """Cubic Hermite interpolation on the uniform grid ``nodes`` (``x`` clipped to its ends)."""
    h = nodes[1] - nodes[0]
    x = jnp.clip(x, nodes[0], nodes[-1])
    i = jnp.clip(jnp.floor((x - nodes[0]) / h).astype(jnp.int32), 0, nodes.size - 2)
    t = (x - jnp.asarray(nodes)[i]) / h
    v, m = jnp.asarray(values), jnp.asarray(slopes) * h
    t2, t3 = t * t, t * t * t
    return (2 * t3 - 3 * t2 + 1) * v[i] + (t3 - 2 * t2 + t) * m[i] + (3 * t2 - 2 * t3) * v[i + 1] + (t3 - t2) * m[i + 1]


def _traced_tails(lower, upper, tail: float):
    """``(a, b)`` of :func:`inverse_gamma_tails` for traced bounds, from the tabulated solve.

    No checks can run on traced values: a ratio below 1.01 (or above 1e30)
    is read at the table's end. Callers validate concrete data first.
    """
    nodes, log_a, slope_a, log_g, slope_g = _traced_table(float(tail))
    lower, upper = jnp.broadcast_arrays(jnp.asarray(lower, float), jnp.asarray(upper, float))
    u = jnp.log(jnp.log(jnp.maximum(upper / lower, 1.01)))
    a = jnp.exp(_interpolate(u, nodes, log_a, slope_a))
    b = lower * jnp.exp(_interpolate(u, nodes, log_g, slope_g))
    return a, b


def inverse_gamma_tails(lower, upper, tail: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-gamma ``(concentration, scale)`` with ``P(ℓ < lower) = P(ℓ > upper) = tail``.

    Args:
        lower: lower bound(s) ``l_min``, scalar or ``(d,)``; positive.
        upper: upper bound(s) ``l_max``, broadcastable with ``lower``; each
            must exceed its ``lower`` by at least 1 %.
        tail: probability in each tail, in ``(0, 0.5)``.

    Returns:
        ``(a, b)`` NumPy arrays of the broadcast shape: the concentration and
        the scale (NumPyro's ``InverseGamma(concentration=a, rate=b)``,
        SciPy's ``invgamma(a, scale=b)``).

    Traced bounds (inside ``jit``) return ``jax.numpy`` arrays from the
    tabulated solve described in the module docstring; they cannot be checked.

    Raises:
        ValueError: for non-finite or non-positive bounds, ``upper < 1.01·lower``,
            or ``tail`` outside ``(0, 0.5)``.
    """
    if not 0.0 < tail < 0.5:
        raise ValueError(f"tail must lie in (0, 0.5), got {tail!r}")
    if not (is_concrete(lower) and is_concrete(upper)):
        return _traced_tails(lower, upper, tail)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    for name, v in (("lower", lower), ("upper", upper)):
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be finite and positive, got {v!r}")
    lower, upper = np.broadcast_arrays(lower, upper)
    ratio = upper / lower
    if np.any(ratio < 1.01):
        raise ValueError(f"upper must exceed lower by at least 1 %, got lower={lower!r}, upper={upper!r}")
    a = np.vectorize(lambda r: _unit_concentration(float(r), float(tail)), otypes=[float])(ratio)
    b = lower * special.gammaincinv(a, 1.0 - tail)
    return a, b


def inverse_gamma_prior(lower, upper, tail: float = 0.01) -> dist.InverseGamma:
    """``InverseGamma`` with ``tail`` probability below ``lower`` and above ``upper``.

    Args:
        lower: scalar or ``(d,)`` lower bound(s), e.g. the smallest input spacing.
        upper: scalar or ``(d,)`` upper bound(s), e.g. the input range.
        tail: probability in each tail (default 0.01).

    Returns:
        ``numpyro.distributions.InverseGamma`` with batch shape the broadcast
        shape of ``lower`` and ``upper`` (call ``.to_event(1)`` for a vector site).
    """
    a, b = inverse_gamma_tails(lower, upper, tail)
    dtype = jnp.result_type(float)
    return dist.InverseGamma(jnp.asarray(a, dtype), jnp.asarray(b, dtype))
