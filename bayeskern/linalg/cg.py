"""Conjugate gradients for symmetric positive-definite operators given as matrix-vector products.

Used where a Kronecker structure is broken (missing grid cells,
heteroscedastic noise, the Newton systems of the Kronecker Laplace path):
the operator is applied through fast products, never formed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["CGInfo", "conjugate_gradient", "cg_solve"]


class CGInfo(NamedTuple):
    """Diagnostics of a conjugate-gradient solve: ``iterations``, final relative residual ``‖b - Ax‖/‖b‖``."""

    iterations: jax.Array
    residual: jax.Array


def conjugate_gradient(matvec, b, *, precondition=None, tol: float = 1e-10, maxiter: int = 1000, x0=None):
    """Preconditioned conjugate gradients for ``A x = b`` with ``A`` symmetric positive definite.

    Args:
        matvec: ``v (n,) -> A v (n,)``.
        b: right-hand side ``(n,)``.
        precondition: ``v -> M⁻¹ v`` for an SPD approximation ``M ≈ A``; None for none.
        tol: stop when ``‖b - A x‖ ≤ tol ‖b‖``.
        maxiter: iteration cap.
        x0: starting point (default zeros).

    Returns:
        ``(x (n,), CGInfo)``. Not differentiable by itself; use ``cg_solve``.
    """
    P = (lambda v: v) if precondition is None else precondition
    b = jnp.asarray(b)
    bnorm = jnp.linalg.norm(b)
    thresh = tol * jnp.where(bnorm > 0, bnorm, 1.0)
    x = jnp.zeros_like(b) if x0 is None else x0
    r = b - matvec(x) if x0 is not None else b
    z = P(r)
    p = z
    rz = jnp.vdot(r, z)

    def cond(state):
        _, r, _, _, _, k = state
        return (jnp.linalg.norm(r) > thresh) & (k < maxiter)

    def body(state):
        x, r, p, z, rz, k = state
        Ap = matvec(p)
        step = rz / jnp.vdot(p, Ap)
        x = x + step * p
        r = r - step * Ap
        z = P(r)
        rz_new = jnp.vdot(r, z)
        p = z + (rz_new / rz) * p
        return x, r, p, z, rz_new, k + 1

    x, r, _, _, _, k = lax.while_loop(cond, body, (x, r, p, z, rz, jnp.asarray(0)))
    rel = jnp.linalg.norm(r) / jnp.where(bnorm > 0, bnorm, 1.0)
    return x, CGInfo(k, rel)


def cg_solve(matvec, b, *, precondition=None, tol: float = 1e-10, maxiter: int = 1000):
    """Differentiable ``A⁻¹ b`` ``(n,)`` by conjugate gradients -> ``(x, CGInfo)``.

    Wrapped in ``lax.custom_linear_solve`` (symmetric): the gradient is the
    implicit one, ``b̄ = A⁻¹ x̄`` by another CG solve and ``Ā = -b̄ xᵀ`` pushed
    through ``matvec``; the iterations themselves are not differentiated. The
    preconditioner is treated as a constant.
    """

    def solve(mv, rhs):
        return conjugate_gradient(mv, rhs, precondition=precondition, tol=tol, maxiter=maxiter)

    return lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)
