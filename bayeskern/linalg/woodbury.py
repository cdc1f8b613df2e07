"""Low-rank-plus-diagonal Gaussians by the Woodbury identity and the matrix determinant lemma.

For ``K = Φ diag(s) Φᵀ + N`` with features ``Φ`` ``(n, M)``, non-negative
weights ``s`` ``(M,)`` and a positive diagonal ``N = diag(noise)``, write
``U = Φ diag(√s)`` and factor the ``M × M`` inner matrix

    A = I + Uᵀ N⁻¹ U = L_A L_Aᵀ.

Its eigenvalues are at least one, so the Cholesky factor is stable whatever
the conditioning of ``K``. Then (Woodbury, determinant lemma)

    K⁻¹ = N⁻¹ − N⁻¹ U A⁻¹ Uᵀ N⁻¹,      log det K = log det N + log det A,

and every quantity below costs ``O(n M²)`` time and ``O(n M)`` memory.
Gradients are JAX autodiff through these ``O(n M²)`` operations (the
Cholesky being only ``M × M``, no custom rule is needed).

With a scalar ``noise`` the inner matrix is formed as ``√s (ΦᵀΦ) √s / noise``:
``ΦᵀΦ`` does not depend on the weights or the noise, so when ``Φ`` does not
depend on the hyperparameters either (Hilbert-space basis) autodiff does
not differentiate through the ``n × M`` products at all.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

__all__ = [
    "WoodburyFactor",
    "safe_sqrt_weights",
    "woodbury_factor",
    "woodbury_inverse_diagonal",
    "woodbury_logdet",
    "woodbury_logpdf",
    "woodbury_logpdf_from_factor",
    "woodbury_posterior_weights",
    "woodbury_solve",
]


class WoodburyFactor(NamedTuple):
    """Factorisation of ``K = Φ diag(s) Φᵀ + diag(noise)``.

    Attributes:
        Phi: features ``(n, M)``.
        sqrt_s: ``√s`` ``(M,)``.
        noise: the diagonal, a scalar or ``(n,)`` (positive).
        chol: lower Cholesky factor ``(M, M)`` of ``A = I + diag(√s) Φᵀ N⁻¹ Φ diag(√s)``.
    """

    Phi: jnp.ndarray
    sqrt_s: jnp.ndarray
    noise: jnp.ndarray
    chol: jnp.ndarray

    @property
    def U(self):
        """``Φ diag(√s)`` ``(n, M)``."""
        return self.Phi * self.sqrt_s

    def noise_vector(self):
        """The diagonal ``(n,)``."""
        return jnp.broadcast_to(self.noise, self.Phi.shape[:1])


def safe_sqrt_weights(s):
    """``√s`` with a finite gradient where ``s`` is exactly zero (an underflowed spectral weight)."""
    s = jnp.asarray(s)
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def _inner_gram(Phi, noise):
    """``Φᵀ N⁻¹ Φ`` ``(M, M)``."""
    noise = jnp.asarray(noise)
    if noise.ndim == 0:
        return (Phi.T @ Phi) / noise
    return Phi.T @ (Phi / noise[:, None])


def woodbury_factor(Phi, s, noise) -> WoodburyFactor:
    """Factor ``Φ diag(s) Φᵀ + diag(noise)``; ``Phi`` ``(n, M)``, ``s`` ``(M,)``, ``noise`` scalar or ``(n,)``.

    ``noise`` must be positive (add a jitter for noise-free models); a
    non-positive-definite inner matrix gives a non-finite factor, which the
    log density turns into ``-inf``.
    """
    Phi = jnp.asarray(Phi)
    sqrt_s = safe_sqrt_weights(s).astype(Phi.dtype)
    noise = jnp.asarray(noise, dtype=Phi.dtype)
    G = _inner_gram(Phi, noise)
    A = jnp.eye(Phi.shape[1], dtype=Phi.dtype) + sqrt_s[:, None] * G * sqrt_s[None, :]
    return WoodburyFactor(Phi, sqrt_s, noise, jnp.linalg.cholesky(A))


def _as_columns(B, n):
    """``(..., n)`` -> ``(n, k)`` plus the batch shape, for solves against many right-hand sides."""
    B = jnp.asarray(B)
    batch = B.shape[:-1]
    return B.reshape(-1, n).T, batch


def _project(fac: WoodburyFactor, R):
    """``L_A⁻¹ Uᵀ N⁻¹ R`` for ``R`` ``(n, k)`` -> ``(M, k)``."""
    noise = fac.noise if fac.noise.ndim == 0 else fac.noise[:, None]
    b = fac.sqrt_s[:, None] * (fac.Phi.T @ (R / noise))
    return solve_triangular(fac.chol, b, lower=True)


def woodbury_solve(fac: WoodburyFactor, B):
    """``K⁻¹ B`` for ``B`` ``(n,)`` or ``(n, k)``."""
    B = jnp.asarray(B)
    vec = B.ndim == 1
    R = B[:, None] if vec else B
    noise = fac.noise if fac.noise.ndim == 0 else fac.noise[:, None]
    c = solve_triangular(fac.chol, _project(fac, R), lower=True, trans="T")  # A⁻¹ Uᵀ N⁻¹ R
    out = (R - fac.Phi @ (fac.sqrt_s[:, None] * c)) / noise
    return out[:, 0] if vec else out


def woodbury_logdet(fac: WoodburyFactor):
    """``log det K`` (determinant lemma)."""
    n = fac.Phi.shape[0]
    logdet_n = n * jnp.log(fac.noise) if fac.noise.ndim == 0 else jnp.sum(jnp.log(fac.noise))
    return logdet_n + 2.0 * jnp.sum(jnp.log(jnp.diagonal(fac.chol)))


def woodbury_inverse_diagonal(fac: WoodburyFactor):
    """``diag(K⁻¹)`` ``(n,)``: ``1/N_i − ‖L_A⁻¹ U_iᵀ‖² / N_i²``."""
    noise = fac.noise_vector()
    V = solve_triangular(fac.chol, fac.U.T, lower=True)  # (M, n)
    q = jnp.sum(V * V, axis=0)  # u_iᵀ A⁻¹ u_i
    return (noise - q) / (noise * noise)


def woodbury_logpdf_from_factor(r, fac: WoodburyFactor):
    """``log N(r | 0, K)`` for ``r`` ``(..., n)`` -> ``(...)``; ``-inf`` if non-finite."""
    n = fac.Phi.shape[0]
    R, batch = _as_columns(r, n)
    noise = fac.noise if fac.noise.ndim == 0 else fac.noise[:, None]
    P = _project(fac, R)
    quad = jnp.sum(R * R / noise, axis=0) - jnp.sum(P * P, axis=0)
    value = -0.5 * (quad + woodbury_logdet(fac) + n * math.log(2 * math.pi))
    value = jnp.where(jnp.isfinite(value), value, -jnp.inf)
    return value.reshape(batch)


def woodbury_logpdf(r, Phi, s, noise):
    """``log N(r | 0, Φ diag(s) Φᵀ + diag(noise))`` in ``O(n M²)``; ``r`` ``(..., n)`` -> ``(...)``.

    Args:
        r: residuals ``(..., n)``.
        Phi: features ``(n, M)``.
        s: non-negative weights ``(M,)``.
        noise: positive diagonal, scalar or ``(n,)``.
    """
    return woodbury_logpdf_from_factor(r, woodbury_factor(Phi, s, noise))


def woodbury_posterior_weights(fac: WoodburyFactor, r):
    """Mean ``(M,)`` of ``v | r`` for ``r = U v + ε``, ``v ~ N(0, I)``: ``A⁻¹ Uᵀ N⁻¹ r`` (covariance ``A⁻¹``)."""
    R = jnp.asarray(r)[:, None]
    return solve_triangular(fac.chol, _project(fac, R), lower=True, trans="T")[:, 0]
