"""Conjugate gradients for symmetric positive-definite operators given as matrix-vector products.

Used where a Kronecker structure is broken (missing grid cells,
heteroscedastic noise, the Newton systems of the Kronecker Laplace path):
the operator is applied through fast products, never formed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bayeskern.errors import ConvergenceError, ConvergenceWarning

__all__ = ["CGInfo", "cg_converged", "cg_solve", "conjugate_gradient", "guard_convergence",
           "reset_convergence_warnings"]


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


def cg_converged(info: CGInfo, tol: float, slack: float = 2.0) -> jax.Array:
    """``True`` where a CG solve met its tolerance: final relative residual ``<= slack · tol``.

    The loop stops at ``‖r‖ ≤ tol ‖b‖`` unless it hits ``maxiter``, so a residual above
    ``tol`` means the cap was hit; ``slack`` leaves room for round-off in the reported residual.
    """
    return jnp.asarray(info.residual) <= slack * tol


# -- convergence guard ------------------------------------------------------------------------
_WARNED: set[tuple[str, str]] = set()


def reset_convergence_warnings() -> None:
    """Forget which (solver, site) pairs have warned, so that the next failure of each warns again."""
    _WARNED.clear()


def _summary(x) -> str:
    a = np.asarray(x)
    if a.size == 1:
        v = a.reshape(())[()]
        return f"{v:.3g}" if np.issubdtype(a.dtype, np.floating) else str(v)
    return f"{np.min(a):.3g}..{np.max(a):.3g}"


def _message(solver: str, site: str, advice: str, converged, stats: dict) -> str:
    ok = np.asarray(converged)
    where = "" if ok.size == 1 else f" for {int(np.sum(~ok))} of {ok.size} evaluations"
    parts = ", ".join(f"{k} {_summary(np.asarray(v)[~ok] if np.shape(v) == ok.shape and ok.size > 1 else v)}"
                      for k, v in stats.items())
    return (f"{site}: the {solver} did not converge{where} ({parts}); its log density is -inf there "
            f"(never a finite value from an unconverged solve). {advice}")


def guard_convergence(value, converged, *, solver: str, site: str, advice: str,
                      stats: dict | None = None, fill: float = -np.inf) -> jax.Array:
    """``value`` where ``converged``, else ``fill`` (``-inf``); says so once per (solver, site).

    Args:
        value: the solver's result used as a value (a log density), any shape broadcasting with ``converged``.
        converged: boolean array, ``True`` where the solve met its tolerance.
        solver: what ran, e.g. ``"Newton mode search"``.
        site: the model site or argument it belongs to (named in the message).
        advice: what to change (e.g. ``"raise max_iter"``).
        stats: ``{label: array}`` reported in the message (iterations, final residual, tolerance).
        fill: replacement value.

    Returns:
        ``jnp.where(converged, value, fill)``.

    Raises:
        ConvergenceError: when ``converged`` is concrete (an eager call) and not all ``True``.

    Inside ``jit``/``vmap``/``grad`` the message is a :class:`ConvergenceWarning` issued
    from the host by ``jax.debug.callback`` the first time a given (solver, site) fails.
    """
    stats = {} if stats is None else dict(stats)
    converged = jnp.asarray(converged)
    if not isinstance(converged, jax.core.Tracer) and not any(isinstance(v, jax.core.Tracer)
                                                             for v in stats.values()):
        if not bool(np.all(np.asarray(converged))):
            raise ConvergenceError(_message(solver, site, advice, converged, stats))
        return jnp.asarray(value)
    key = (solver, site)
    if key not in _WARNED:
        jax.debug.callback(_host_warn(solver, site, advice, tuple(stats)), converged, *stats.values())
    return jnp.where(converged, value, fill)


def _host_warn(solver: str, site: str, advice: str, labels: tuple) -> Callable:
    key = (solver, site)

    def warn(converged, *values):
        if key in _WARNED or bool(np.all(np.asarray(converged))):
            return
        _WARNED.add(key)
        warnings.warn(_message(solver, site, advice, converged, dict(zip(labels, values, strict=True))),
                      ConvergenceWarning, stacklevel=2)

    return warn
