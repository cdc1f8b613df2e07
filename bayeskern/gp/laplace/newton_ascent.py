"""The damped Newton loop shared by the Laplace mode searches (dense, low-rank, Kronecker).

Each mode search maximises ``Ψ(u) = Σ ℓ(m + S u) - ½ uᵀu`` over whitened
coordinates ``u`` (``S`` a Cholesky factor, a low-rank basis or a Kronecker
product of factors); they differ only in how the Newton direction
``(I + Sᵀ W S)⁻¹ ∇Ψ`` is computed (the posterior precision ``K⁻¹ + W`` in
``f``-space, a dense Cholesky of ``I + Sᵀ W S``, conjugate gradients). This
module holds the loop itself: the direction, then halving the step until
``Ψ`` increases, inside ``lax.while_loop`` (never differentiated: gradients
of the Laplace marginal come from the implicit function theorem), and the
data-based restart (:func:`data_start`), a second loop run only when the
first, from the prior mean, does not converge (e.g. Poisson counts of 1e12
under a zero prior mean: the first Newton step from ``f = 0`` overflows
``exp`` at every halving).

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
                  tol: float, max_halvings: int = 30, restart: tuple | Callable | None = None,
                  grad_floor: Callable | None = None, step_ok: Callable | None = None) -> AscentResult:
    """Maximise ``objective`` from ``u0`` by Newton steps with backtracking.

    Args:
        objective: ``u (M,) -> Ψ(u)`` (scalar).
        gradient: ``u -> (∇Ψ(u) (M,), W)`` with ``W = -∂²ℓ`` at ``f(u)`` ``(n,)``, or any pytree of
            curvature information the direction and floor need (it is only passed on to them).
        direction: ``(u, ∇Ψ, W) -> step (M,)``, an ascent direction (the Newton step where
            the Hessian is negative definite, a positive-definite surrogate elsewhere).
        u0: starting point ``(M,)``.
        max_iter: Newton iteration cap (per start).
        tol: stop when ``max|∇Ψ| <= tol · (1 + max|u|)``.
        max_halvings: step halvings per iteration before giving up on it.
        restart: ``(g, W)`` of a Gaussian-site start (see :func:`data_start`), a function
            ``() -> (g, W)`` that computes it, a function ``() -> u_r (M,)`` that computes the
            restart point itself, or ``None``. A function is evaluated only when the restart is taken
            (outside ``vmap`` a run that converges from ``u0`` never pays for it). When
            the run from ``u0`` stops unconverged (iteration cap, or no step raises ``Ψ``), it is
            restarted once from ``direction(0, g, W)`` (or ``u_r``), the maximiser of
            ``-½ Σ W (f - f_d)² - ½ uᵀu``, with a fresh ``max_iter``. A run that converges from ``u0``
            is unaffected; under ``vmap`` only lanes that fail take the extra iterations.
        grad_floor: ``(u, W) -> scalar``, the round-off floor of ``max|∇Ψ|`` (see :func:`gradient_floor`),
            or ``None``. A run that can make no further progress with ``max|∇Ψ|`` below it has converged
            as far as the arithmetic allows.
        step_ok: ``(u, step) -> bool``, whether the Newton step from ``u`` is small enough for ``u`` to
            count as the maximiser (e.g. ``max|S step|`` against the latent values it moves), or ``None``
            (every step is). A step whose Newton decrement is at round-off but which is not small moves
            along a direction where ``Ψ`` is flat to round-off while the maximiser is still far (the
            latent value of a zero count under a prior variance of 1e32: ``Ψ`` changes by 1e-14 per unit,
            the maximiser is 20 units away): it is taken whole and the search goes on; a run that stops
            with such a step pending has not converged.

    Returns:
        :class:`AscentResult` (``iterations`` counts both runs). ``converged`` is the
        tolerance test, or, when no step could raise ``Ψ`` any further ("stuck": the maximum is
        found to round-off, including a Newton decrement below ``64 ε (1 + |Ψ|)``) and the last
        step passed ``step_ok``, the looser ``max|∇Ψ| <= √tol · (1 + max|u|)`` or
        ``max|∇Ψ| <= grad_floor(u, W)``.
    """
    def scale(u):
        return 1.0 + jnp.max(jnp.abs(u))

    def running(u, gu, k, stuck):
        return (k < max_iter) & (jnp.max(jnp.abs(gu)) > tol * scale(u)) & ~stuck

    def done_ok(u, gu, W, stuck, small):
        stuck = stuck & small
        gnorm = jnp.max(jnp.abs(gu))
        loose = gnorm <= jnp.sqrt(tol) * scale(u)
        if grad_floor is not None:
            # the floor is only consulted for a stuck run (evaluated only then outside vmap)
            loose = loose | lax.cond(stuck & ~loose, lambda: gnorm <= grad_floor(u, W), lambda: jnp.asarray(False))
        return (gnorm <= tol * scale(u)) | (stuck & loose)

    def cond(state):
        u, _, gu, _, k, stuck, _ = state
        return running(u, gu, k, stuck)

    roundoff = 64.0 * jnp.finfo(u0.dtype).eps

    def body(state):
        u, val, gu, W, k, _, _ = state
        step = direction(u, gu, W)
        # Newton decrement gᵀA⁻¹g: twice the increase the step can still bring. At round-off level
        # (the whitened gradient often has a floor above tol: measured 5e-7 at n = 500) no halving can
        # show an increase, so take the full step without a line search (and stop, if it is small).
        slack = roundoff * (1.0 + jnp.abs(val))
        negligible = jnp.dot(gu, step) <= slack
        small = jnp.asarray(True) if step_ok is None else step_ok(u, step)

        def ls_cond(s):
            _, new_val, j = s
            return (~(new_val > val) | ~jnp.isfinite(new_val)) & (j < max_halvings)

        def ls_body(s):
            t, _, j = s
            t = 0.5 * t
            return t, objective(u + t * step), j + 1

        j0 = jnp.where(negligible, max_halvings, 0)
        t, new_val, _ = lax.while_loop(ls_cond, ls_body, (jnp.asarray(1.0, u.dtype), objective(u + step), j0))
        ok = jnp.isfinite(new_val) & jnp.where(negligible, new_val >= val - slack, new_val > val)
        # When no halving raises Ψ, Ψ's round-off may hide the increase (Poisson counts of 1e12: each
        # term carries ~3e-3 of round-off, so f stalls 1e-8 from the mode with a whitened gradient of
        # 6e4). The gradient is still accurate there: take the full step if it halves max|∇Ψ|.
        u_full = u + step

        def try_full():
            g_full, _ = gradient(u_full)
            val_full = objective(u_full)
            halves = jnp.isfinite(val_full) & (jnp.max(jnp.abs(g_full)) <= 0.5 * jnp.max(jnp.abs(gu)))
            return halves, val_full

        # evaluated only when the line search failed (outside vmap)
        by_grad, val_full = lax.cond(~ok & ~negligible, try_full, lambda: (jnp.asarray(False), val))
        u_new = jnp.where(ok, u + t * step, jnp.where(by_grad, u_full, u))
        g_new, W_new = gradient(u_new)
        moved = ok | by_grad
        stuck_new = ~moved | (negligible & small)
        val_new = jnp.where(ok, new_val, jnp.where(by_grad, val_full, val))
        return u_new, val_new, g_new, W_new, k + 1, stuck_new, small

    def start(u_start):
        g, W = gradient(u_start)
        false = jnp.asarray(False)
        return u_start, objective(u_start), g, W, jnp.asarray(0), false, false

    def ok_of(state):
        u, _, gu, W, _, stuck, small = state
        return done_ok(u, gu, W, stuck, small)

    first = lax.while_loop(cond, body, start(u0))
    if restart is None:
        final, total = first, first[4]
    else:
        restart_fn = (lambda: restart) if isinstance(restart, tuple) else restart

        def restarted():
            begin = restart_fn()
            u_r = direction(jnp.zeros_like(u0), *begin) if isinstance(begin, tuple) else begin
            return start(jnp.where(jnp.all(jnp.isfinite(u_r)), u_r, u0))

        # A second loop for the runs that failed; its first pass computes the data-based start. Under
        # vmap its body (the start included) runs only while some lane still needs it.
        def cond2(s):
            state, fresh, active = s
            return active & (fresh | cond(state))

        def body2(s):
            state, fresh, active = s
            return lax.cond(fresh, restarted, lambda: body(state)), jnp.asarray(False), active

        ok1 = ok_of(first)
        final, _, _ = lax.while_loop(cond2, body2, (first, jnp.asarray(True), ~ok1))
        total = first[4] + jnp.where(ok1, 0, final[4])
    u, _, gu, _, _, _, _ = final
    return AscentResult(u, jnp.max(jnp.abs(gu)), total, ok_of(final))


def gradient_floor(abs_ST: Callable, f, W, *, grad=None, f_scale=None):
    """Round-off floor of the whitened gradient ``max|Sᵀ∇ℓ(f) - u|``, ``f = m + S u``.

    ``64 ε max(|S|ᵀ(|W| (1 + |f| + f_scale) + 2 |∇ℓ|))``, the first-order error bound of
    computing it in floating point:

    * ``f = m + S u`` is rounded by ``ε (|m| + |S||u|)`` per coordinate, not ``ε |f|``: with a
      prior variance of 1e12 the summands ``S_ij u_j`` are of order 1e4 while ``f`` is of order
      10 (``f_scale = |m| + |S||u|`` carries this; ``None`` counts ``|f|`` only);
    * ``∇ℓ`` there is then off by ``|W| · δf``, and is itself rounded by ``ε |∇ℓ|``;
    * ``Sᵀ∇ℓ`` sums ``n`` terms of size ``|S_ji ∇ℓ_j|``, rounded by ``ε |S|ᵀ|∇ℓ|``.

    ``Sᵀ`` carries the first two into whitened coordinates. Negligible for ordinary data
    (``W`` of order 1-100, unit prior scale: ~1e-12); for Poisson counts of 1e12 it is of
    order 1, and with a prior variance of 1e12 about 1e-3 (measured stall: 1e-4 after 21
    Newton iterations), where no Newton step can be resolved any further.

    Args:
        abs_ST: ``v (n,) -> |S|ᵀ v (M,)`` with ``|S|`` the elementwise absolute whitening factor.
        f: latent values ``(n,)``; ``W``: ``-∂²ℓ`` there ``(n,)``.
        grad: ``∇ℓ(f)`` ``(n,)``, or ``None`` (its rounding not counted).
        f_scale: ``|m| + |S||u|`` ``(n,)``, the size of the summands that form ``f``, or ``None``.
    """
    eps = jnp.finfo(f.dtype).eps
    size = 1.0 + jnp.abs(f) if f_scale is None else 1.0 + jnp.abs(f) + f_scale
    v = jnp.abs(W) * size
    if grad is not None:
        v = v + 2.0 * jnp.abs(grad)
    return 64.0 * eps * jnp.max(abs_ST(jnp.where(jnp.isfinite(v), v, 0.0)))


def _pointwise(loglik: Callable, f, consts):
    def total(x):
        return jnp.sum(loglik(x, *consts))

    g, h = jax.jvp(jax.grad(total), (f,), (jnp.ones_like(f),))
    return g, -h


def data_start(loglik: Callable, consts: tuple, m, prior_var, candidates=None, *, steps: int = 20,
               halvings: int = 40, doublings: int = 8):
    """A data-based Gaussian-site start ``(f_d, W_d)`` for a Laplace mode search (used as its restart).

    Each coordinate separately maximises ``φ_i(f) = log p(y_i | f) - (f - m_i)² / (2 K_ii)``
    (the likelihood with the marginal prior: always has a finite maximiser): the best of ``m_i``
    and the ``candidates`` (e.g. ``y`` for an identity link, ``log(y + ½) - offset`` for counts with
    a log link), refined by ``steps`` damped 1-D Newton steps (the best of ``halvings`` shortened and
    ``doublings`` lengthened steps per coordinate: a start far out on an exponential is walked in
    safely, and a maximiser many Newton steps away, where each full step moves by about one unit, is
    reached in a few: a zero count under a prior variance of 1e66 has its maximiser near -150, and a
    plain Newton walk from log(½) takes a step of -1 at a time).
    ``W_d = max(-∂²ℓ(f_d), 0)`` is the curvature there. Cost ``O(n · steps · (halvings + doublings))``
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
    ts = jnp.concatenate([0.5 ** jnp.arange(halvings, dtype=m.dtype),
                          2.0 ** jnp.arange(1, doublings + 1, dtype=m.dtype)])
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
