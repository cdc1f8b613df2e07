"""Multivariate-normal log density with an analytic (Rasmussen & Williams §5.4.1) gradient.

Reverse-mode autodiff through ``jnp.linalg.cholesky`` costs about ten
Cholesky factorisations. The gradient of the Gaussian log density with
respect to its covariance has a closed form,

    ∂ log N(r | 0, K) / ∂K = ½ (α αᵀ - K⁻¹),   α = K⁻¹ r,

so a custom VJP returns that matrix as the cotangent of ``K``; JAX then
pushes it through whatever built ``K`` (the kernel) with an ordinary
vector-Jacobian product. Cost: one factorisation and one inverse from it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from bayeskern.linalg.cholesky import add_jitter, default_jitter
from bayeskern.linalg.triangular import cho_solve, inverse_from_cholesky, logdet_from_cholesky


def _logpdf_from_factor(r, L):
    alpha = cho_solve(L, r)
    n = r.shape[-1]
    value = -0.5 * jnp.dot(r, alpha) - 0.5 * logdet_from_cholesky(L) - 0.5 * n * math.log(2 * math.pi)
    return value, alpha


@jax.custom_vjp
def _gaussian_logpdf(r, K):
    L = jnp.linalg.cholesky(add_jitter(K, default_jitter(K.dtype)))
    value, _ = _logpdf_from_factor(r, L)
    return jnp.where(jnp.isfinite(value), value, -jnp.inf)


def _fwd(r, K):
    L = jnp.linalg.cholesky(add_jitter(K, default_jitter(K.dtype)))
    value, alpha = _logpdf_from_factor(r, L)
    ok = jnp.isfinite(value)
    return jnp.where(ok, value, -jnp.inf), (L, alpha, ok)


def _bwd(res, g):
    L, alpha, ok = res
    Kinv = inverse_from_cholesky(L)
    dK = 0.5 * g * (jnp.outer(alpha, alpha) - Kinv)
    dr = -g * alpha
    # A rejected (non-PD) point gets a zero gradient rather than NaN.
    return jnp.where(ok, dr, 0.0), jnp.where(ok, dK, 0.0)


_gaussian_logpdf.defvjp(_fwd, _bwd)


def gaussian_logpdf(r, K):
    """``log N(r | 0, K)`` with the analytic gradient; ``r`` ``(..., n)``, ``K`` ``(..., n, n)`` -> ``(...)``.

    The default jitter of the Cholesky policy is added. A ``K`` that is not
    numerically positive definite gives ``-inf`` (and a zero gradient).
    """
    return jnp.vectorize(_gaussian_logpdf, signature="(n),(n,n)->()")(r, K)


def gaussian_logpdf_from_cholesky(r, L):
    """``log N(r | 0, L Lᵀ)`` for a precomputed factor; ``r`` ``(..., n)``, ``L`` ``(n, n)`` -> ``(...)``."""
    r = jnp.asarray(r)
    n = L.shape[-1]
    R = r.reshape(-1, n).T  # (n, batch)
    quad = jnp.sum(R * cho_solve(L, R), axis=0)
    out = -0.5 * quad - 0.5 * logdet_from_cholesky(L) - 0.5 * n * math.log(2 * math.pi)
    return out.reshape(r.shape[:-1])
