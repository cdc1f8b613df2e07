"""Implicit-function-theorem gradient of a Laplace log marginal under a generic whitening ``f = m + S(p) u``.

The Laplace log marginal in whitened coordinates is

    log Z(θ) = Ψ(û; θ) - ½ log det A(û; θ),
    Ψ(u; θ) = Σ_i log p(y_i | f_i) - ½ uᵀu,   f = m + S u,   A = I + Sᵀ W(f) S,

with ``û(θ)`` the mode (``∇_u Ψ = 0``) and ``θ = (p, m, consts)``: the
parameters ``p`` of the linear map ``S`` (a Cholesky factor, per-axis
Kronecker factors, a scaled basis), the prior mean and the likelihood's
parameters. Differentiating (never the Newton iterations):

* the ``Ψ`` term: envelope theorem, ``dΨ(û)/dθ = ∂_θ Ψ`` at fixed ``û``;
* ``log det A``: ``d log det A = tr(A⁻¹ dA)``. Any scalar ``h(θ, u)`` whose
  partial derivatives equal ``tr(A⁻¹ ∂A)`` (exactly: ``h = tr(stop(A⁻¹) A)``;
  by Hutchinson probes: ``h = (1/J) Σ_j stop(A⁻¹z_j)ᵀ A z_j``) gives both
  the explicit part ``∂_θ h`` and ``∂_u h``;
* the mode's own dependence: ``dû/dθ = A⁻¹ ∂_θ ∇_u Ψ`` (since ``∇²_u Ψ = -A``),
  so ``-½ ∂_u h · dû/dθ = vᵀ ∂_θ ∇_u Ψ`` with ``v = A⁻¹(-½ ∂_u h)``: one solve.

With ``∇_u Ψ = Sᵀ ∇ℓ(f) - u``, ``vᵀ ∇_u Ψ = (S v)ᵀ ∇ℓ(f) - vᵀu``, so all three
parts are the gradient of one scalar at fixed ``(û, v)`` (see
:func:`implicit_cotangents`), evaluated by ordinary reverse-mode autodiff
through ``S`` and the likelihood.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["implicit_cotangents", "masked_cotangents"]


def implicit_cotangents(loglik: Callable, apply_S: Callable, params, m, consts: tuple, u, h_fn: Callable,
                        solve_A: Callable):
    """Gradient of ``log Z`` w.r.t. ``(params, m, consts)`` at the mode ``u``.

    Args:
        loglik: ``(f (n,), *consts) -> (n,)`` pointwise log likelihood.
        apply_S: ``(params, v (M,)) -> (n,)``, linear in ``v``.
        params, m, consts: the differentiable inputs (pytrees of arrays).
        u: whitened mode ``(M,)``.
        h_fn: ``(params, m, consts, u) -> scalar`` whose partial derivatives are
            (estimates of) those of ``log det A`` (see the module docstring).
        solve_A: ``r (M,) -> A⁻¹ r`` at the mode.

    Returns:
        ``(params_bar, m_bar, consts_bar)``: cotangents for a unit output
        cotangent (``float0`` for integer leaves of ``consts``).
    """
    u = jax.lax.stop_gradient(u)
    dh_du = jax.grad(h_fn, argnums=3)(params, m, consts, u)
    v = jax.lax.stop_gradient(solve_A(-0.5 * dh_du))

    def total(p, mm, c):
        f = mm + apply_S(p, u)

        def ll_sum(x):
            return jnp.sum(loglik(x, *c))

        ll, g = jax.value_and_grad(ll_sum)(f)
        # Ψ (envelope) - ½ h (explicit log det part) + vᵀ ∇_uΨ (the mode's response; -vᵀu is constant).
        return ll - 0.5 * h_fn(p, mm, c, u) + jnp.dot(apply_S(p, v), g)

    _, vjp = jax.vjp(total, params, m, consts)
    return vjp(jnp.ones((), u.dtype))


def masked_cotangents(bars, gbar, finite):
    """Scale cotangents by ``gbar``; zero (not NaN) where the value was ``-inf`` (``finite`` False)."""
    def fix(x):
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            return x
        return jnp.where(finite, gbar * x, 0.0)

    return jax.tree_util.tree_map(fix, bars)
