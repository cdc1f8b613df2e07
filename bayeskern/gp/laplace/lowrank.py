"""Laplace mode and log marginal for a low-rank latent field ``f = m + B β``, ``β ~ N(0, I_M)``.

``B`` ``(n, M)`` is any basis with ``K ≈ B Bᵀ``: the Hilbert-space basis
``Φ diag(√S)`` (:mod:`bayeskern.features.hsgp`), random features, a Nyström
factor. Newton runs in the ``M`` basis weights (``A = I_M + Bᵀ W B``, a dense
``M × M`` Cholesky, ``O(n M² + M³)`` per step) by
:func:`bayeskern.gp.laplace.newton.find_mode` with the rectangular factor;
``log det A`` is exact, and the implicit-function-theorem gradient
(:mod:`bayeskern.gp.laplace.implicit`) uses the exact trace
``tr(A⁻¹ ∂A)``. Cost is linear in ``n``.

Convergence as in :mod:`bayeskern.gp.laplace.newton`: a restart from a
data-based start, then ``-inf`` with a :class:`~bayeskern.errors.ConvergenceWarning`
(or a :class:`~bayeskern.errors.ConvergenceError` when eager) for a mode that
did not converge.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular

from bayeskern.gp.laplace.implicit import implicit_cotangents, masked_cotangents
from bayeskern.gp.laplace.newton import (
    LaplaceMode,
    derivatives,
    find_mode,
    guard_mode,
    log_marginal_at_mode,
    split_options,
)

__all__ = ["lowrank_log_marginal", "lowrank_mode", "lowrank_posterior_diag"]


def lowrank_mode(loglik: Callable, consts: tuple, m, B, options: tuple, candidates=None) -> LaplaceMode:
    """Newton mode in basis coordinates: a :class:`LaplaceMode` with ``L = B`` ``(n, M)``, ``u`` and ``C`` ``M``-sized.

    ``options`` is ``(max_iter, tol)`` or ``(max_iter, tol, site)``; ``candidates`` ``(k, n)`` are
    data-based starting values of ``f`` for the restart (or ``None``).
    """
    max_iter, tol, _ = split_options(options)
    cand = None if candidates is None else jax.lax.stop_gradient(candidates)
    return find_mode(loglik, consts, m, B, max_iter=max_iter, tol=tol, candidates=cand)


def _value(mode: LaplaceMode):
    return jnp.where(mode.info.converged, log_marginal_at_mode(mode), -jnp.inf)


@partial(jax.custom_vjp, nondiff_argnums=(0, 4))
def lowrank_log_marginal(loglik: Callable, B, m, consts: tuple, options: tuple, candidates=None):
    """Laplace log marginal with ``f = m + B β``; exact value and implicit gradient.

    Args:
        loglik: ``(f (n,), *consts) -> (n,)`` (closure-converted).
        B: basis ``(n, M)`` (hyperparameters enter through it, e.g. ``Φ · √S``).
        m: prior mean ``(n,)``.
        consts: likelihood parameters and data.
        options: ``(max_iter, tol)`` or ``(max_iter, tol, site)``.
        candidates: ``(k, n)`` data-based starting values for the restart (no gradient), or ``None``.

    Returns:
        Scalar; ``-inf`` when ``A`` is not positive definite, and ``-inf`` with a
        :class:`~bayeskern.errors.ConvergenceWarning` when Newton did not converge.

    Raises:
        ConvergenceError: Newton did not converge and the call is eager.
    """
    mode = lowrank_mode(loglik, consts, m, B, options, candidates)
    _, tol, site = split_options(options)
    return guard_mode(_value(mode), mode.info, site, tol)


def _fwd(loglik, B, m, consts, options, candidates=None):
    mode = lowrank_mode(loglik, consts, m, B, options, candidates)
    _, tol, site = split_options(options)
    return guard_mode(_value(mode), mode.info, site, tol), (mode, m, consts, candidates)


def _bwd(loglik, options, res, gbar):
    mode, m, consts, candidates = res
    C = mode.C
    Ainv = cho_solve((C, True), jnp.eye(C.shape[0], dtype=C.dtype))

    def h_fn(p, mm, c, u):
        # tr(stop(A⁻¹) Bᵀ W(f) B): its partials are exactly those of log det A.
        _, _, Wf = derivatives(loglik, mm + p @ u, c)
        return jnp.sum((p @ Ainv) * p * Wf[:, None])

    bars = implicit_cotangents(loglik, lambda p, v: p @ v, mode.L, m, consts, mode.u, h_fn,
                               lambda r: cho_solve((C, True), r))
    return (*masked_cotangents(bars, gbar, jnp.isfinite(_value(mode))),
            jax.tree_util.tree_map(jnp.zeros_like, candidates))


lowrank_log_marginal.defvjp(_fwd, _bwd)


def lowrank_posterior_diag(mode: LaplaceMode):
    """``diag(B A⁻¹ Bᵀ)`` ``(n,)``: the Laplace posterior variances of ``f``."""
    V = solve_triangular(mode.C, mode.L.T, lower=True)  # (M, n)
    return jnp.sum(V * V, axis=0)
