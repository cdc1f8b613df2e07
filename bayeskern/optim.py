"""Deterministic minimisation shared by every mode search: optax's L-BFGS with a convergence test.

One loop serves the MAP/Laplace mode search of NumPyro models
(:mod:`bayeskern.infer`), the BO surrogate's hyperparameter fit
(:mod:`bayeskern.optimize`) and anything else that minimises a smooth,
deterministic function of a flat vector. It is jit- and vmap-friendly (a
``lax.while_loop``), so multi-start fits run as one compiled program.

The convergence rule is the library's, stated once here: a search has
converged when ``max |∇f| <= GRAD_RTOL · max(1, |f|)``, or when the line
search can no longer decrease ``f`` with the gradient already within
``STALL_FACTOR`` of that test (round-off stops line searches before the
strict test on flat, well-scaled optima). An objective whose own round-off
hides the last digits (a near-singular Gram matrix in a noise-free design)
may also stop on the predicted decrease: stalled, with the quasi-Newton
model promising less than ``DECREMENT_RTOL · (1 + |f|)`` further decrease
(:func:`converged_by_decrement`), a change in log density far below anything
statistical. Anything else is reported as not
converged; callers turn that into a :class:`~bayeskern.errors.ConvergenceError`,
a warning or ``-inf``, never a silent value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["DECREMENT_RTOL", "GRAD_RTOL", "STALL_FACTOR", "converged_by_decrement", "MinimizeResult", "converged_test", "lbfgs_minimize"]

#: L-BFGS stops when max |gradient| <= GRAD_RTOL * max(1, |f|).
GRAD_RTOL = 1e-7
#: A search that stalls (no decrease) counts as converged within this factor of the gradient test.
STALL_FACTOR = 1e3
#: A stalled search whose predicted decrease ½ gᵀH⁻¹g is below DECREMENT_RTOL * (1 + |f|) has converged.
DECREMENT_RTOL = 1e-6


class MinimizeResult(NamedTuple):
    """What :func:`lbfgs_minimize` returns (arrays; batched along a leading axis under ``vmap``).

    Attributes:
        x: the final point ``(D,)``.
        value: ``f(x)`` (scalar).
        grad_max: ``max |∇f(x)|`` (scalar).
        iterations: L-BFGS iterations run (int scalar).
        converged: the library's convergence test (bool scalar).
        losses: ``(max_iter,)`` value after each iteration, NaN after the last.
    """

    x: jax.Array
    value: jax.Array
    grad_max: jax.Array
    iterations: jax.Array
    converged: jax.Array
    losses: jax.Array


def converged_test(value, grad_max, stalled) -> jax.Array:
    """The convergence rule on ``(f, max |∇f|, stalled)`` (works on arrays and Python floats)."""
    tol = GRAD_RTOL * jnp.maximum(1.0, jnp.abs(value))
    return jnp.isfinite(value) & ((grad_max <= tol) | (stalled & (grad_max <= STALL_FACTOR * tol)))


def converged_by_decrement(value: float, decrement: float) -> bool:
    """A stalled search has converged when its predicted decrease ``½ gᵀH⁻¹g`` is below round-off scale.

    Args:
        value: ``f`` at the final point.
        decrement: ``½ gᵀ H⁻¹ g`` with the search's own inverse-Hessian approximation (>= 0).
    """
    return bool(0.0 <= decrement <= DECREMENT_RTOL * (1.0 + abs(value)))


def lbfgs_minimize(f: Callable[[jax.Array], jax.Array], x0: jax.Array, max_iter: int) -> MinimizeResult:
    """Minimise ``f`` (flat ``(D,)`` -> scalar) from ``x0`` by L-BFGS with a zoom line search.

    Stops at the convergence test, when the line search stalls, or after
    ``max_iter`` iterations; traceable (use it under ``jit`` and ``vmap``).

    Example:
        >>> import jax.numpy as jnp
        >>> res = lbfgs_minimize(lambda x: jnp.sum((x - 3.0) ** 2), jnp.zeros(2), 50)
        >>> bool(res.converged), [round(float(v), 6) for v in res.x]
        (True, [3.0, 3.0])
    """
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(f)

    def keep_going(carry):
        _, _, it, _, gmax, value, stalled = carry
        return (it < max_iter) & (gmax > GRAD_RTOL * jnp.maximum(1.0, jnp.abs(value))) & ~stalled

    def step(carry):
        x, state, it, losses, _, value, _ = carry
        v, g = value_and_grad(x, state=state)
        updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
        x_new = optax.apply_updates(x, updates)
        v_new = optax.tree_utils.tree_get(state, "value")
        g_new = optax.tree_utils.tree_get(state, "grad")
        stalled = ~(v_new < v)  # no decrease (also NaN): the line search found nothing better
        return x_new, state, it + 1, losses.at[it].set(v_new), jnp.max(jnp.abs(g_new)), v_new, stalled

    v0, g0 = jax.value_and_grad(f)(x0)
    losses = jnp.full((max_iter,), jnp.nan, dtype=v0.dtype)
    carry = (x0, opt.init(x0), jnp.asarray(0), losses, jnp.max(jnp.abs(g0)), v0, jnp.asarray(False))
    x, _, it, losses, _, _, stalled = jax.lax.while_loop(keep_going, step, carry)
    value, grad = jax.value_and_grad(f)(x)
    gmax = jnp.max(jnp.abs(grad))
    # A stall only counts once the search stopped early; hitting max_iter is never convergence by stalling.
    ok = converged_test(value, gmax, stalled & (it < max_iter))
    return MinimizeResult(x, value, gmax, it, ok, losses)
