"""Solves and log-determinants from a lower Cholesky factor."""

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular


def cho_solve(L, B):
    """``K⁻¹ B`` for ``K = L Lᵀ``; ``L`` ``(n, n)``, ``B`` ``(n,)`` or ``(n, m)``."""
    return solve_triangular(L, solve_triangular(L, B, lower=True), lower=True, trans="T")


def whiten(L, B):
    """``L⁻¹ B``; ``B`` ``(n,)`` or ``(n, m)``."""
    return solve_triangular(L, B, lower=True)


def logdet_from_cholesky(L):
    """``log det K`` for ``K = L Lᵀ``; ``L`` ``(..., n, n)`` -> ``(...)``."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def inverse_from_cholesky(L):
    """``K⁻¹`` ``(n, n)`` from ``L`` ``(n, n)``, as ``L⁻ᵀ L⁻¹`` (symmetric by construction)."""
    Linv = solve_triangular(L, jnp.eye(L.shape[-1], dtype=L.dtype), lower=True)
    return Linv.T @ Linv
