"""Kronecker preconditioner and deterministic log-det approximations for the grid Laplace marginal.

With the whitening ``f = m + S u``, ``S = ⊗_d L_d``, the Laplace precision is
``A = I + Sᵀ W S`` (``W`` ``(N,)`` diagonal). Replacing ``W`` by a scalar
``c`` gives ``P_c = I + c SᵀS`` with ``SᵀS = ⊗_d L_dᵀL_d = ⊗_d Q_d Λ_d Q_dᵀ``, so
``P_c`` is diagonal in the Kronecker eigenbasis: ``P_c^s v = Q (1 + c λ)^s Qᵀ v``
for any power ``s`` at the cost of two Kronecker products, and
``log det P_c = Σ_i log(1 + c λ_i)`` exactly (``λ = ⊗ Λ_d``, the eigenvalues of
``K = ⊗ L_d L_dᵀ``). It serves twice:

* **Preconditioner** for CG on ``A``: if ``w_min ≤ W ≤ w_max`` and
  ``w_min ≤ c ≤ w_max``, ``κ(P_c⁻¹A) ≤ w_max / w_min`` whatever the prior's
  condition number (Jacobi on ``A`` leaves ``κ`` near ``1 + λ_max w``).
* **Control variate** for the log det: ``log det A = log det P_c +
  log det(P_c^{-½} A P_c^{-½})``; the first term is exact and the second is
  the log det of a matrix near ``I``, whose stochastic Lanczos estimate has a
  far smaller Hutchinson variance and quadrature error than SLQ on ``A``.
  With ``c = mean(W)`` the first term alone is an upper bound (``log det A``
  is concave in ``W``, Jensen), measured 5-10 % high on LGCP grids.

Also :func:`fiedler_logdet`, the sorted-pairing approximation of Flaxman et
al. (2015, after Fiedler 1971): ``log det(I + K W) ≈ Σ_i log(1 + λ_(i) w_(i))``
with both sorted in decreasing order. By Fiedler's theorem this pairing is an
*upper* bound and the reverse pairing (:func:`fiedler_bounds`) a lower bound;
on LGCP grids the bound is loose (measured +34 % to +74 % of the exact
value; see tests/gp/test_laplace_kron_logdet.py), so it is offered as an
option, not the default.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayeskern.linalg.kronecker import kron_mvp

__all__ = ["KronEigen", "axis_eigen", "fiedler_bounds", "fiedler_logdet", "prior_eigenvalues", "scalar_precond"]


class KronEigen(NamedTuple):
    """Eigenpairs of ``SᵀS = ⊗_d L_dᵀ L_d``: per-axis ``Qs`` ``(n_d, n_d)`` and the flat eigenvalues ``lam`` ``(N,)``."""

    Qs: tuple
    lam: jax.Array


def axis_eigen(Ls) -> KronEigen:
    """Eigendecomposition of ``⊗ L_dᵀ L_d`` from the per-axis factors (no gradient: used as a preconditioner)."""
    Ls = tuple(jax.lax.stop_gradient(L) for L in Ls)
    pairs = [jnp.linalg.eigh(L.T @ L) for L in Ls]
    lam = pairs[0][0]
    for w, _ in pairs[1:]:
        lam = jnp.outer(lam, w).ravel()
    return KronEigen(tuple(q for _, q in pairs), jnp.maximum(lam, 0.0))


def _kron_scaled(eig: KronEigen, s, V):
    return kron_mvp(eig.Qs, s * kron_mvp(tuple(q.T for q in eig.Qs), V))


def scalar_precond(eig: KronEigen, c):
    """``(P⁻¹, P^{½}, P^{-½}, log det P)`` for ``P = I + c SᵀS`` (maps act on ``(..., N)``)."""
    d = 1.0 + c * eig.lam
    return (lambda V: _kron_scaled(eig, 1.0 / d, V), lambda V: _kron_scaled(eig, jnp.sqrt(d), V),
            lambda V: _kron_scaled(eig, 1.0 / jnp.sqrt(d), V), jnp.sum(jnp.log(d)))


def prior_eigenvalues(Ls):
    """Eigenvalues ``(N,)`` of ``K = ⊗ L_d L_dᵀ`` (differentiable in ``Ls``; clipped at 0)."""
    lam = None
    for L in Ls:
        w = jnp.linalg.eigvalsh(L @ L.T)
        lam = w if lam is None else jnp.outer(lam, w).ravel()
    return jnp.maximum(lam, 0.0)


def fiedler_logdet(Ls, W):
    """Flaxman et al.'s ``Σ_i log(1 + λ_(i) w_(i))`` (both sorted decreasing): an upper bound on ``log det A``.

    Differentiable in ``Ls`` and ``W`` (through the sort's permutation). Negative
    ``W`` (non-log-concave likelihoods) can make a term ``log`` of a negative
    number: ``nan``, which the caller turns into ``-inf``.
    """
    lam = jnp.sort(prior_eigenvalues(Ls))
    return jnp.sum(jnp.log1p(lam * jnp.sort(W)))


def fiedler_bounds(Ls, W):
    """``(lower, upper)`` Fiedler bounds on ``log det(I + K W)`` for ``W ≥ 0``: reverse and same sorted pairing."""
    lam = jnp.sort(prior_eigenvalues(Ls))
    w = jnp.sort(W)
    return jnp.sum(jnp.log1p(lam * w[::-1])), jnp.sum(jnp.log1p(lam * w))
