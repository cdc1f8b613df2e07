"""Lanczos tridiagonalisation and stochastic Lanczos quadrature (SLQ) for ``log det A``.

For a symmetric positive-definite ``A`` ``(N, N)`` available only through
products ``v ↦ A v``, ``log det A = tr(log A)`` is estimated with ``J``
probe vectors ``z_j`` (Rademacher, ``E[z zᵀ] = I``) as (Ubaru, Chen & Saad
2017)

    log det A ≈ (1/J) Σ_j ‖z_j‖² e₁ᵀ log(T_j) e₁,

where ``T_j`` ``(k, k)`` is the tridiagonal matrix of ``k`` Lanczos steps
started at ``z_j/‖z_j‖``: ``e₁ᵀ log(T_j) e₁`` is the ``k``-node Gauss quadrature
of ``z_jᵀ log(A) z_j / ‖z_j‖²``. Two errors add up: the Hutchinson error
(standard deviation ``√(2/J) ‖offdiag(log A)‖_F`` for Rademacher probes)
and the quadrature error (decays like ``((√κ - 1)/(√κ + 1))^{2k}`` in the
condition number ``κ``; usually much faster). No reorthogonalisation is done:
loss of orthogonality only duplicates converged Ritz values, whose
quadrature weights then split, so the estimate is unaffected to first order
(Meurant & Strakoš 2006), and memory stays at three vectors per probe.

With a *fixed* set of probes the estimate is a deterministic, smooth
function of ``A``: what an MCMC target needs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["CGLanczosResult", "LanczosResult", "cg_lanczos", "lanczos", "rademacher_probes", "slq_logdet"]


class LanczosResult(NamedTuple):
    """``J`` tridiagonal matrices from batched Lanczos.

    Attributes:
        alpha: ``(J, k)`` diagonals.
        beta: ``(J, k - 1)`` off-diagonals (zero after a breakdown).
        norm: ``(J,)`` ``‖z_j‖``.
    """

    alpha: jax.Array
    beta: jax.Array
    norm: jax.Array


def rademacher_probes(seed: int, num: int, n: int, dtype=jnp.float64):
    """``(num, n)`` fixed ±1 probes from ``seed`` (deterministic: same seed, same probes)."""
    return jax.random.rademacher(jax.random.PRNGKey(seed), (num, n), dtype=dtype)


def lanczos(matvec, Z, steps: int) -> LanczosResult:
    """``steps`` Lanczos iterations for each row of ``Z`` ``(J, N)`` with batched ``matvec`` ``(J, N) -> (J, N)``.

    A breakdown (``β ≈ 0``: the Krylov space is invariant, e.g. ``steps ≥ N``)
    decouples the rest of ``T``: later ``β`` are 0 and later ``α`` are 1, which
    carry zero quadrature weight for ``e₁``.
    """
    norm = jnp.linalg.norm(Z, axis=-1)
    q0 = Z / norm[:, None]
    tiny = 1e3 * jnp.finfo(Z.dtype).eps

    def step(carry, _):
        q, q_prev, b, done = carry
        w = matvec(q) - b[:, None] * q_prev
        a = jnp.sum(q * w, axis=-1)
        w = w - a[:, None] * q
        b_new = jnp.linalg.norm(w, axis=-1)
        brk = done | (b_new <= tiny * jnp.maximum(jnp.abs(a), 1.0))
        q_next = jnp.where(brk[:, None], 0.0, w / jnp.where(brk, 1.0, b_new)[:, None])
        a_out = jnp.where(done, 1.0, a)
        b_out = jnp.where(brk, 0.0, b_new)
        return (q_next, q, b_out, brk), (a_out, b_out)

    J = Z.shape[0]
    init = (q0, jnp.zeros_like(q0), jnp.zeros((J,), Z.dtype), jnp.zeros((J,), bool))
    _, (alpha, beta) = lax.scan(step, init, None, length=steps)
    return LanczosResult(alpha.T, beta.T[:, :-1], norm)


def _tridiag(alpha, beta):
    return jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)


def slq_logdet(matvec, Z, steps: int):
    """Stochastic Lanczos quadrature estimate of ``log det A`` and the smallest Ritz value.

    Args:
        matvec: batched ``(J, N) -> (J, N)`` product with the symmetric ``A``.
        Z: ``(J, N)`` probes (e.g. :func:`rademacher_probes`).
        steps: Lanczos steps ``k`` per probe (quadrature nodes).

    Returns:
        ``(estimate, min_ritz)``: scalar estimate (``-inf``-safe: ``nan`` never
        leaves here; a non-positive Ritz value gives ``+inf`` as the estimate
        and shows in ``min_ritz``), and the smallest Ritz value over probes
        (``≤ 0`` proves ``A`` is not positive definite).
    """
    res = lanczos(matvec, Z, steps)
    theta, vecs = jax.vmap(lambda a, b: jnp.linalg.eigh(_tridiag(a, b)))(res.alpha, res.beta)
    weights = vecs[:, 0, :] ** 2
    min_ritz = jnp.min(theta)
    safe = jnp.where(theta > 0, theta, 1.0)
    quad = jnp.sum(weights * jnp.log(safe), axis=-1) * res.norm**2
    est = jnp.mean(quad)
    return jnp.where(min_ritz > 0, est, jnp.inf), min_ritz


class CGLanczosResult(NamedTuple):
    """Batched preconditioned CG solves with the Lanczos quadrature read off the CG coefficients.

    Attributes:
        x: ``(J, N)`` solutions ``A⁻¹ b_j``.
        logdet: SLQ estimate of ``log det(D^{-½} A D^{-½})`` from the probes ``r_j = D^{-½} b_j``.
        min_ritz: smallest Ritz value of ``D^{-½} A D^{-½}`` over probes.
        iterations: ``(J,)`` CG iterations.
        residual: ``(J,)`` final relative residuals.
        converged: ``(J,)`` ``True`` where the solve met ``tol`` (``False``: it stopped at ``maxiter``;
            ``x`` is then not ``A⁻¹ b`` to the tolerance and must not be used as if it were).
    """

    x: jax.Array
    logdet: jax.Array
    min_ritz: jax.Array
    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


def cg_lanczos(matvec, B, diag=None, *, steps: int, tol: float = 1e-6, maxiter: int = 1000,
               precondition=None) -> CGLanczosResult:
    """Solve ``A X = B`` row-wise by Jacobi-preconditioned CG and estimate ``log det`` from the same iterations.

    CG on ``A`` with preconditioner ``D = diag`` is Lanczos on ``Â = D^{-½} A D^{-½}``
    started at ``D^{-½} b``; the tridiagonal matrix follows from the CG step
    sizes ``a_j`` and ratios ``β_j`` (Saad 2003, §6.7.3):
    ``T_jj = 1/a_j + β_{j-1}/a_{j-1}``, ``T_{j,j+1} = √β_j / a_j``, recorded for the
    first ``steps`` iterations (Gardner et al. 2018's "mBCG"). So with
    ``B = D^{½} R`` (``R`` probes) one pass gives both ``A⁻¹ B`` (for gradient
    trace estimates) and ``log det Â ≈ (1/J) Σ_j ‖r_j‖² e₁ᵀ log(T_j) e₁``.

    Args:
        matvec: batched ``(J, N) -> (J, N)``.
        B: ``(J, N)`` right-hand sides.
        diag: ``(N,)`` positive preconditioner diagonal ``D`` (or None with ``precondition``).
        steps: CG iterations recorded for the quadrature.
        tol: relative residual per row.
        maxiter: iteration cap.
        precondition: batched ``V (J, N) -> M⁻¹ V`` for a general SPD preconditioner ``M`` (instead of
            ``diag``); the estimate is then of ``log det(M^{-½} A M^{-½})`` from the probes
            ``r_j = M^{-½} b_j`` (``‖r_j‖² = b_jᵀ M⁻¹ b_j``).
    """
    if (diag is None) == (precondition is None):
        raise ValueError("cg_lanczos: give exactly one of diag or precondition")
    Minv = precondition if precondition is not None else (lambda V: V / diag)
    J = B.shape[0]
    bnorm = jnp.linalg.norm(B, axis=-1)
    thresh = tol * jnp.where(bnorm > 0, bnorm, 1.0)
    Z = Minv(B)
    rz = jnp.sum(B * Z, axis=-1)
    rec_a = jnp.ones((J, steps), B.dtype)
    rec_b = jnp.zeros((J, steps), B.dtype)
    valid = jnp.zeros((J, steps), bool)

    def cond(s):
        return jnp.any(s[-1]) & (s[5] < maxiter)

    def body(s):
        X, R, P, rz, rec, k, active = s
        rec_a, rec_b, valid = rec
        AP = matvec(P)
        pap = jnp.sum(P * AP, axis=-1)
        a = jnp.where(active, rz / jnp.where(active, pap, 1.0), 0.0)
        X = X + a[:, None] * P
        R = R - a[:, None] * AP
        Zn = Minv(R)
        rz_new = jnp.sum(R * Zn, axis=-1)
        b = jnp.where(active, rz_new / jnp.where(active, rz, 1.0), 0.0)
        P = jnp.where(active[:, None], Zn + b[:, None] * P, P)
        idx = jnp.minimum(k, steps - 1)
        rec_k = active & (k < steps)
        rec_a = rec_a.at[:, idx].set(jnp.where(rec_k, a, rec_a[:, idx]))
        rec_b = rec_b.at[:, idx].set(jnp.where(rec_k, b, rec_b[:, idx]))
        valid = valid.at[:, idx].set(valid[:, idx] | rec_k)
        active = active & (jnp.linalg.norm(R, axis=-1) > thresh)
        return X, R, P, jnp.where(active, rz_new, rz), (rec_a, rec_b, valid), k + 1, active

    iters0 = jnp.zeros((J,), jnp.int32)
    init = (jnp.zeros_like(B), B, Z, rz, (rec_a, rec_b, valid), jnp.asarray(0), bnorm > thresh)

    def body_count(s):
        s, it = s
        new = body(s)
        return new, it + s[-1].astype(jnp.int32)

    (X, R, _, _, (rec_a, rec_b, valid), _, _), iters = lax.while_loop(
        lambda s: cond(s[0]), body_count, (init, iters0))
    # Tridiagonal from CG coefficients; unrecorded rows decouple (diag 1, off-diagonal 0: zero e₁ weight).
    a = jnp.where(valid, rec_a, 1.0)
    prev = jnp.concatenate([jnp.zeros((J, 1), B.dtype), (rec_b / a)[:, :-1]], axis=1)
    prev = jnp.where(jnp.concatenate([jnp.zeros((J, 1), bool), valid[:, :-1]], axis=1), prev, 0.0)
    dia = jnp.where(valid, 1.0 / a + prev, 1.0)
    nxt = valid[:, 1:] & valid[:, :-1]
    off = jnp.where(nxt, jnp.sqrt(jnp.maximum(rec_b[:, :-1], 0.0)) / a[:, :-1], 0.0)
    theta, vecs = jax.vmap(lambda d, e: jnp.linalg.eigh(_tridiag(d, e)))(dia, off)
    weights = vecs[:, 0, :] ** 2
    min_ritz = jnp.min(jnp.where(weights > 0, theta, jnp.inf))
    safe = jnp.where(theta > 0, theta, 1.0)
    rnorm2 = jnp.sum(B * Z, axis=-1)  # ‖M^{-½} b‖² = bᵀ M⁻¹ b (Z = M⁻¹B from the start)
    est = jnp.mean(jnp.sum(weights * jnp.log(safe), axis=-1) * rnorm2)
    rnorm = jnp.linalg.norm(R, axis=-1)
    resid = rnorm / jnp.where(bnorm > 0, bnorm, 1.0)
    return CGLanczosResult(X, jnp.where(min_ritz > 0, est, jnp.inf), min_ritz, iters, resid, rnorm <= thresh)
