"""Solves, log-determinants and the inverse from a lower Cholesky factor."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from scipy.linalg import lapack


def cho_solve(L, B):
    """``K⁻¹ B`` for ``K = L Lᵀ``; ``L`` ``(n, n)``, ``B`` ``(n,)`` or ``(n, m)``."""
    return solve_triangular(L, solve_triangular(L, B, lower=True), lower=True, trans="T")


def whiten(L, B):
    """``L⁻¹ B``; ``B`` ``(n,)`` or ``(n, m)``."""
    return solve_triangular(L, B, lower=True)


def logdet_from_cholesky(L):
    """``log det K`` for ``K = L Lᵀ``; ``L`` ``(..., n, n)`` -> ``(...)``."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


#: Below this size the XLA formulation is used: its extra flops cost less than the host
#: callback's round trip, which on a loaded machine (threads descheduled) can take
#: milliseconds and dominated small fits (a 12-point MAP fit: 11-22 s with the callback,
#: 2.3 s without, at load average 12-15).
POTRI_MIN_SIZE = 256


def inverse_from_cholesky(L):
    """``K⁻¹`` ``(n, n)`` from ``L`` ``(n, n)``, exactly symmetric.

    On CPU this is LAPACK ``potri`` (``2n³/3`` flops, one triangle), called
    through ``jax.pure_callback``: XLA has no triangular inverse, and
    ``L⁻ᵀ L⁻¹`` by a triangular solve against the identity and a full
    matrix product costs ``3n³`` flops, about four Cholesky factorisations
    (measured: ``potri`` ≈ 1.4-2 Choleskys). For ``n < POTRI_MIN_SIZE``, on accelerators, or under
    ``BAYESKERN_XLA_INVERSE=1``, the XLA formulation is used. A factor with
    NaNs (failed Cholesky) gives NaNs, never an exception.
    """
    if L.ndim == 2 and L.shape[-1] >= POTRI_MIN_SIZE and L.dtype in (jnp.float32, jnp.float64) and _lapack_ok():
        return _lapack_inverse(L)
    Linv = solve_triangular(L, jnp.eye(L.shape[-1], dtype=L.dtype), lower=True)
    return Linv.T @ Linv


@jax.custom_jvp
def _lapack_inverse(L):
    lower = jax.pure_callback(_potri_lower, jax.ShapeDtypeStruct(L.shape, L.dtype), L, vmap_method="sequential")
    return jnp.tril(lower) + jnp.tril(lower, -1).T


@_lapack_inverse.defjvp
def _lapack_inverse_jvp(primals, tangents):
    # Callbacks have no derivative; d(K⁻¹) = -K⁻¹ dK K⁻¹ with dK = dL Lᵀ + L dLᵀ
    # (used by second-order derivatives, e.g. Hessians for Laplace's method).
    (L,), (dL,) = primals, tangents
    Kinv = _lapack_inverse(L)
    dK = dL @ L.T
    return Kinv, -Kinv @ (dK + dK.T) @ Kinv


def _lapack_ok() -> bool:
    import os

    return jax.default_backend() == "cpu" and os.environ.get("BAYESKERN_XLA_INVERSE", "0") != "1"


def _potri_lower(L):
    """Lower triangle of ``(L Lᵀ)⁻¹`` (upper triangle zero) by LAPACK; NaNs on failure."""
    L = np.asarray(L)
    if not np.all(np.isfinite(np.diagonal(L))):
        return np.full(L.shape, np.nan, L.dtype)
    potri = lapack.dpotri if L.dtype == np.float64 else lapack.spotri
    # L in C order is, read in Fortran order, U = Lᵀ with K = UᵀU: one plain copy
    # (the callback's buffer is read-only), then LAPACK works in place on it.
    work = np.array(L.T, order="F", copy=True)
    inv_upper, info = potri(work, lower=0, overwrite_c=1)
    if info != 0:
        return np.full(L.shape, np.nan, L.dtype)
    # The upper triangle of K⁻¹ in Fortran order is, in C order, its lower triangle;
    # the other triangle still holds L's zeros and is discarded by the caller anyway.
    return inv_upper.T
