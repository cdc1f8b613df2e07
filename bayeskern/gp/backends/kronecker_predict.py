"""Predictions of the Kronecker back end: ``K_y⁻¹ (y - m)`` on the grid and ``f(X_new) | y``.

:class:`~bayeskern.gp.backends.kronecker.KroneckerPosterior` calls :func:`_alpha`
once and :func:`_predict` per ``at(X_new)``; the mean and variance reduction
come from per-axis contractions when the kernel factors over the axes
(``O(m N)``), else from the ``(m, n)`` cross-covariance and CG/eigen solves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayeskern.gp.backends.kronecker_factors import (
    KernelFactors,
    _cross_factors,
    factor_kernel,
)
from bayeskern.gp.backends.kronecker_setup import _Setup
from bayeskern.gp.posterior import GaussianPrediction
from bayeskern.linalg.kronecker import kron_eigh, kron_vector


@jax.jit
def _alpha(process, y, grid):
    st = _Setup(process, grid)
    alpha = st.solve_grid(y - process.loc)
    return alpha, st.diagnostics()


@jax.jit
def _predict(process, alpha, grid, Xn, k):
    """Mean part, variance reduction and the pieces of the covariance for ``f(Xn)`` under kernel ``k``."""
    st = _Setup(process, grid)
    factors = factor_kernel(k, Xn.shape[1])
    reduction = cross = solved = lowrank = None
    if isinstance(factors, KernelFactors):
        W = _cross_factors(factors, grid.coords, Xn)  # D x (m, m_d)
        mean = _contract_rows(alpha.reshape(grid.shape), W)
        if st.mode == "full":
            eig = kron_eigh(st.mats)
            s = 1.0 / (eig.eigenvalues() + st.noise)
            U = [Wd @ Q for Wd, Q in zip(W, eig.vectors, strict=True)]  # (m, m_d): Q_dᵀ w_d per test point
            reduction = _contract_rows(s.reshape(grid.shape), [u * u for u in U])
            lowrank = (jnp.sqrt(s), tuple(U))
        else:
            cross = st.to_rows(kron_vector(W))  # (m, n)
    else:
        cross = k(Xn, process.X)  # (m, n)
        mean = cross @ st.to_rows(alpha)
    if cross is not None:
        solved = st.solve(cross)
        reduction = jnp.sum(cross * solved, axis=-1)
    return mean, reduction, cross, solved, lowrank, st.diagnostics()


def _contract_rows(T, W):
    """``out_j = Σ_i T[i_1..i_D] ∏_d W_d[j, i_d]`` for ``T`` ``(m_1..m_D)``, ``W_d`` ``(m, m_d)`` -> ``(m,)``."""
    out = jnp.tensordot(W[0], T, axes=([1], [0]))  # (m, m_2, ..., m_D)
    for Wd in W[1:]:
        out = jnp.einsum("jb...,jb->j...", out, Wd)
    return out


class KroneckerConditioned(GaussianPrediction):
    """``f(X_new) | y`` on a grid: mean ``(m,)``, covariance ``K** - K*ᵀ K_y⁻¹ K*``.

    ``variance`` is precomputed; ``covariance_matrix`` (and so ``sample`` and
    ``log_prob``) forms the ``(m, m)`` matrix on request, from the stored
    solved cross-covariances or, in the exact full-grid case, from the
    eigen-factors (``O(m N)`` memory then).
    """

    pytree_data_fields = ("kernel", "X_new", "reduction", "cross", "solved", "lowrank")

    def __init__(self, loc, kernel, X_new, reduction, cross=None, solved=None, lowrank=None, extra_noise=None,
                 validate_args=None):
        self.kernel = kernel
        self.X_new = X_new
        self.reduction = reduction
        self.cross = cross
        self.solved = solved
        self.lowrank = lowrank
        super().__init__(loc, extra_noise, validate_args)

    def _posterior_variance(self):
        return self.kernel.diag(self.X_new) - self.reduction

    def _posterior_covariance(self):
        if self.lowrank is not None:
            sqrt_s, U = self.lowrank
            V = sqrt_s * kron_vector(list(U))  # (m, N)
            red = V @ V.T
        else:
            red = self.cross @ self.solved.T
        return self.kernel(self.X_new) - red
