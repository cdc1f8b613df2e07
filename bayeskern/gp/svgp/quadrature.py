"""Gauss–Hermite expectations of a likelihood under a Gaussian ``q(f_i)``, per data point."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from bayeskern._checks import is_concrete

#: Default number of Gauss–Hermite nodes.
NUM_QUADRATURE = 20


def gauss_hermite(num_points: int = NUM_QUADRATURE, dtype=None):
    """Nodes and weights ``(num_points,)`` with ``E_{N(0,1)}[g(z)] ≈ Σ_j w_j g(z_j)``."""
    t, w = np.polynomial.hermite.hermgauss(int(num_points))
    dtype = jnp.result_type(float) if dtype is None else dtype
    return jnp.asarray(math.sqrt(2.0) * t, dtype), jnp.asarray(w / math.sqrt(math.pi), dtype)


def _safe_sqrt(var):
    pos = var > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, var, 1.0)), 0.0)


def _nodes(mean, var, num_points):
    z, w = gauss_hermite(num_points, jnp.result_type(mean))
    return mean[None, :] + _safe_sqrt(var)[None, :] * z[:, None], w  # (Q, b)


def expected_log_likelihood(likelihood: Callable, y, mean, var, num_points: int = NUM_QUADRATURE):
    """``E_{N(f | mean, var)}[log p(y_i | f)]`` per point ``(b,)`` by Gauss–Hermite quadrature.

    Args:
        likelihood: ``f -> numpyro Distribution`` acting elementwise, e.g.
            ``lambda f: dist.Bernoulli(logits=f)``; called once with ``f`` of shape
            ``(num_points, b)``.
        y: observations ``(b,)``.
        mean, var: moments of ``q(f_i)`` ``(b,)``.
        num_points: quadrature nodes.
    """
    f, w = _nodes(mean, var, num_points)
    return w @ likelihood(f).log_prob(y)


def _gaussian_noise_scale(likelihood: Callable, mean):
    """``s`` when ``likelihood(f)`` is ``Normal(f, s)`` (checked on concrete values), else None."""
    if not is_concrete(mean):
        return None
    d0, d1 = likelihood(mean), likelihood(mean + 1.0)
    if type(d0) is not dist.Normal or type(d1) is not dist.Normal:
        return None
    values = [d0.loc, d1.loc, d0.scale, d1.scale]
    if not all(is_concrete(v) for v in values):
        return None
    loc0, loc1, s0, s1 = (np.asarray(v) for v in values)
    m = np.asarray(mean)
    if np.allclose(loc0, m, rtol=1e-12, atol=0) and np.allclose(loc1, m + 1.0, rtol=1e-12, atol=1e-12) \
            and np.allclose(s0, s1, rtol=1e-12, atol=0):
        return d0.scale
    return None


def log_predictive_density(likelihood: Callable, y, mean, var, num_points: int = NUM_QUADRATURE):
    """``log E_{N(f | mean, var)}[p(y_i | f)]`` per point ``(b,)``.

    Log-sum-exp over Gauss–Hermite nodes centred on ``q(f)``. That rule
    resolves a likelihood much narrower than ``q(f)`` poorly (e.g. a small
    Gaussian noise far from the data), so a Gaussian likelihood
    ``Normal(f, s)``, recognised on concrete values, gets the closed form
    ``N(y | mean, var + s²)`` instead.
    """
    scale = _gaussian_noise_scale(likelihood, mean)
    if scale is not None:
        return dist.Normal(mean, jnp.sqrt(var + scale**2)).log_prob(y)
    f, w = _nodes(mean, var, num_points)
    return jax.scipy.special.logsumexp(likelihood(f).log_prob(y) + jnp.log(w)[:, None], axis=0)


def predictive_moments(likelihood: Callable, mean, var, num_points: int = NUM_QUADRATURE):
    """``(E[y_i], Var[y_i])`` under ``f_i ~ N(mean, var)`` by quadrature of the likelihood's mean and variance.

    ``(None, None)`` when the likelihood's distribution does not implement them.
    """
    f, w = _nodes(mean, var, num_points)
    d = likelihood(f)
    try:
        m, v = jnp.broadcast_to(d.mean, f.shape), jnp.broadcast_to(d.variance, f.shape)
    except NotImplementedError:
        return None, None
    ey = w @ m
    return ey, jnp.maximum(w @ (v + m * m) - ey * ey, 0.0)
