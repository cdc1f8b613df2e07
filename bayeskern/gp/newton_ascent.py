"""The damped Newton loop shared by the Laplace mode searches (dense, low-rank, Kronecker).

Each mode search maximises ``Ψ(u) = Σ ℓ(m + S u) - ½ uᵀu`` over whitened
coordinates ``u`` (``S`` a Cholesky factor, a low-rank basis or a Kronecker
product of factors); they differ only in how the Newton direction
``(I + Sᵀ W S)⁻¹ ∇Ψ`` is computed (dense Cholesky, Woodbury through
``B = I + W½ K W½``, conjugate gradients). This module holds the loop
itself: the direction, then halving the step until ``Ψ`` increases, inside
``lax.while_loop`` (never differentiated: gradients of the Laplace marginal
come from the implicit function theorem), and the data-based restart
(:func:`data_start`) taken when the run from the prior mean does not
converge (e.g. Poisson counts of 1e12 under a zero prior mean: the first
Newton step from ``f = 0`` overflows ``exp`` at every halving).

Convergence policy: a mode search that still has not converged gives the
caller ``converged=False``; the log marginal is then ``-inf`` with a
:class:`~bayeskern.errors.ConvergenceWarning` (or a
:class:`~bayeskern.errors.ConvergenceError` for an eager call), see
:func:`bayeskern.linalg.cg.guard_convergence`, never a finite value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class AscentResult(NamedTuple):
    """``u``: the maximiser found ``(M,)``; ``grad_norm``: max-abs ``∇Ψ`` there;
    ``iterations``; ``converged`` (see :func:`newton_ascent`)."""

    u: jax.Array
    grad_norm: jax.Array
    iterations: jax.Array
    converged: jax.Array


def newton_ascent(objective: Callable, gradient: Callable, direction: Callable, u0, *, max_iter: int,
                  tol: float, max_halvings: int = 30, restart: tuple | None = None,
                  grad_floor: Callable | None = None) -> AscentResult:
    """Maximise ``objective`` from ``u0`` by Newton steps with backtracking.

    Args:
        objective: ``u (M,) -> Ψ(u)`` (scalar).
        gradient: ``u -> (∇Ψ(u) (M,), W (n,))`` with ``W = -∂²ℓ`` at ``f(u)``.
        direction: ``(u, ∇Ψ, W) -> step (M,)``, an ascent direction (the Newton step where
            the Hessian is negative definite, a positive-definite surrogate elsewhere).
        u0: starting point ``(M,)``.
        max_iter: Newton iteration cap (per start).
        tol: stop when ``max|∇Ψ| <= tol · (1 + max|u|)``.
        max_halvings: step halvings per iteration before giving up on it.
        restart: ``(g, W)`` of a Gaussian-site start (see :func:`data_start`), or ``None``. When
            the run from ``u0`` stops unconverged (iteration cap, or no step raises ``Ψ``), it is
            restarted once from ``direction(0, g, W)``, the maximiser of ``-½ Σ W (f - f_d)² - ½ uᵀu``,
            with a fresh ``max_iter``. A run that converges from ``u0`` is unaffected; under
            ``vmap`` only lanes that fail take the extra iterations.
        grad_floor: ``(u, W) -> scalar``, the round-off floor of ``max|∇Ψ|`` (see :func:`gradient_floor`),
            or ``None``. A run that can make no further progress with ``max|∇Ψ|`` below it has converged
            as far as the arithmetic allows.

    Returns:
        :class:`AscentResult` (``iterations`` counts both runs). ``converged`` is the
        tolerance test, or, when no step could raise ``Ψ`` any further ("stuck": the maximum is
        found to round-off, including a Newton decrement below ``64 ε (1 + |Ψ|)``), the looser
        ``max|∇Ψ| <= √tol · (1 + max|u|)`` or ``max|∇Ψ| <= grad_floor(u, W)``.
    """
    def scale(u):
        return 1.0 + jnp.max(jnp.abs(u))

    def running(u, gu, k, stuck):
        return (k < max_iter) & (jnp.max(jnp.abs(gu)) > tol * scale(u)) & ~stuck

    def done_ok(u, gu, W, stuck):
        gnorm = jnp.max(jnp.abs(gu))
        loose = gnorm <= jnp.sqrt(tol) * scale(u)
        if grad_floor is not None:
            loose = loose | (gnorm <= grad_floor(u, W))
        return (gnorm <= tol * scale(u)) | (stuck & loose)

    def cond(state):
        u, _, gu, W, k, stuck, phase, _ = state
        go = running(u, gu, k, stuck)
        if restart is not None:
            go = go | ((phase == 0) & ~done_ok(u, gu, W, stuck))
        return go

    roundoff = 64.0 * jnp.finfo(u0.dtype).eps

    def body(state):
        u, val, gu, W, k, stuck, phase, total = state
        if restart is None:
            do_restart = jnp.asarray(False)
            u_in, g_in, W_in = u, gu, W
        else:
            # reached with phase 0 and not running only when the first run failed: restart
            do_restart = (phase == 0) & ~running(u, gu, k, stuck)
            u_in = jnp.where(do_restart, jnp.zeros_like(u), u)
            g_in = jnp.where(do_restart, restart[0], gu)
            W_in = jnp.where(do_restart, restart[1], W)
        step = direction(u_in, g_in, W_in)
        # Newton decrement gᵀA⁻¹g: twice the increase the step can still bring. At round-off level
        # (the whitened gradient often has a floor above tol: measured 5e-7 at n = 500) no halving can
        # show an increase, so take the full step without a line search and stop.
        slack = roundoff * (1.0 + jnp.abs(val))
        negligible = (jnp.dot(gu, step) <= slack) & ~do_restart

        def ls_cond(s):
            _, new_val, j = s
            return (~(new_val > val) | ~jnp.isfinite(new_val)) & (j < max_halvings)

        def ls_body(s):
            t, _, j = s
            t = 0.5 * t
            return t, objective(u_in + t * step), j + 1

        j0 = jnp.where(negligible | do_restart, max_halvings, 0)
        t, new_val, _ = lax.while_loop(ls_cond, ls_body,
                                       (jnp.asarray(1.0, u.dtype), objective(u_in + step), j0))
        ok = jnp.isfinite(new_val) & jnp.where(negligible, new_val >= val - slack, new_val > val)
        ok = jnp.where(do_restart, jnp.isfinite(new_val), ok)
        # When no halving raises Ψ, Ψ's round-off may hide the increase (Poisson counts of 1e12: each
        # term carries ~3e-3 of round-off, so f stalls 1e-8 from the mode with a whitened gradient of
        # 6e4). The gradient is still accurate there: take the full step if it halves max|∇Ψ|.
        u_full = u_in + step
        g_full, W_full = gradient(u_full)
        val_full = objective(u_full)
        by_grad = (~ok & ~do_restart & ~negligible & jnp.isfinite(val_full)
                   & (jnp.max(jnp.abs(g_full)) <= 0.5 * jnp.max(jnp.abs(gu))))
        u_new = jnp.where(ok, u_in + t * step, jnp.where(by_grad, u_full, u))
        g_new, W_new = gradient(u_new)
        moved = ok | by_grad
        stuck_new = jnp.where(do_restart, ~ok, ~moved | negligible)
        val_new = jnp.where(ok, new_val, jnp.where(by_grad, val_full, val))
        return (u_new, val_new, g_new, W_new, jnp.where(do_restart, 0, k + 1), stuck_new,
                jnp.where(do_restart, 1, phase), total + jnp.where(do_restart, 0, 1))

    g0, W0 = gradient(u0)
    zero = jnp.asarray(0)
    u, _, gu, W, _, stuck, _, total = lax.while_loop(
        cond, body, (u0, objective(u0), g0, W0, zero, jnp.asarray(False), zero, zero))
    gnorm = jnp.max(jnp.abs(gu))
    return AscentResult(u, gnorm, total, done_ok(u, gu, W, stuck))


def gradient_floor(abs_ST: Callable, f, W):
    """Round-off floor of ``max|Sᵀ∇ℓ(f) - u|``: ``64 ε max(|S|ᵀ(|W| (1 + |f|)))``.

    ``∇ℓ`` at ``f`` is known only to ``|W| · ε (1 + |f|)`` per coordinate (the rounding of ``f``
    moves it by that much), which ``Sᵀ`` carries into whitened coordinates. Negligible for
    ordinary data (``W`` of order 1-100: ~1e-12); for Poisson counts of 1e12 it is of order 1,
    where no Newton step can be resolved any further.

    Args:
        abs_ST: ``v (n,) -> |S|ᵀ v (M,)`` with ``|S|`` the elementwise absolute whitening factor.
        f: latent values ``(n,)``; ``W``: ``-∂²ℓ`` there ``(n,)``.
    """
    eps = jnp.finfo(f.dtype).eps
    v = jnp.abs(W) * (1.0 + jnp.abs(f))
    return 64.0 * eps * jnp.max(abs_ST(jnp.where(jnp.isfinite(v), v, 0.0)))


def _pointwise(loglik: Callable, f, consts):
    def total(x):
        return jnp.sum(loglik(x, *consts))

    g, h = jax.jvp(jax.grad(total), (f,), (jnp.ones_like(f),))
    return g, -h


def data_start(loglik: Callable, consts: tuple, m, prior_var, candidates=None, *, steps: int = 20,
               halvings: int = 40):
    """A data-based Gaussian-site start ``(f_d, W_d)`` for a Laplace mode search (used as its restart).

    Each coordinate separately maximises ``φ_i(f) = log p(y_i | f) - (f - m_i)² / (2 K_ii)``
    (the likelihood with the marginal prior: always has a finite maximiser): the best of ``m_i``
    and the ``candidates`` (e.g. ``y`` for an identity link, ``log(y + ½) - offset`` for counts with
    a log link), refined by ``steps`` damped 1-D Newton steps (the best of ``halvings`` step
    lengths per coordinate, so a start far out on an exponential is walked in safely).
    ``W_d = max(-∂²ℓ(f_d), 0)`` is the curvature there. Cost ``O(n · steps · halvings)``
    likelihood evaluations, nothing of size ``n²``.

    Args:
        loglik: ``(f (n,), *consts) -> (n,)`` pointwise log likelihood.
        consts: arrays it depends on.
        m: prior mean ``(n,)``.
        prior_var: prior variances ``K_ii`` ``(n,)``.
        candidates: ``(k, n)`` starting values per coordinate, or ``None`` (prior mean only).

    Returns:
        ``(f_d (n,), W_d (n,))``; the restart of :func:`newton_ascent` is ``(Sᵀ(W_d (f_d - m)), W_d)``.
    """
    v = jnp.maximum(prior_var, jnp.finfo(m.dtype).tiny)

    def phi(f):
        val = loglik(f, *consts) - 0.5 * (f - m) ** 2 / v
        return jnp.where(jnp.isfinite(val), val, -jnp.inf)

    C = m[None, :] if candidates is None else jnp.concatenate([m[None, :], jnp.asarray(candidates, m.dtype)])
    C = jnp.where(jnp.isfinite(C), C, m[None, :])
    vals = jax.vmap(phi)(C)
    best = jnp.argmax(vals, axis=0)
    f = jnp.take_along_axis(C, best[None, :], axis=0)[0]
    ts = 0.5 ** jnp.arange(halvings, dtype=m.dtype)
    cols = jnp.arange(f.shape[0])

    def step(_, f):
        g, W = _pointwise(loglik, f, consts)
        d = (g - (f - m) / v) / (jnp.maximum(W, 0.0) + 1.0 / v)
        d = jnp.where(jnp.isfinite(d), d, 0.0)
        trial = f[None, :] + ts[:, None] * d[None, :]
        pv = jax.vmap(phi)(trial)
        j = jnp.argmax(pv, axis=0)
        better = pv[j, cols] > phi(f)
        return jnp.where(better, trial[j, cols], f)

    f = lax.fori_loop(0, steps, step, f)
    _, W = _pointwise(loglik, f, consts)
    return f, jnp.where(jnp.isfinite(W), jnp.maximum(W, 0.0), 0.0)
