"""Structured embedded-Laplace marginals: Kronecker grids and low-rank (HSGP) latent fields.

:class:`KroneckerLaplaceMarginal` and :class:`LowRankLaplaceMarginal` are
:class:`~bayeskern.gp.laplace.marginal.LaplaceMarginal` subclasses with the
same observed-site API (``log_prob``, ``sample``, ``mode``, ``sample_latent``,
``pointwise_log_prob``), built by
:func:`~bayeskern.gp.laplace.marginal.laplace_marginal` with
``method="kronecker"`` / ``"hsgp"``. Algorithms:
:mod:`bayeskern.gp.laplace.kronecker` and :mod:`bayeskern.gp.laplace.lowrank`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from bayeskern.gp.laplace.kronecker import (
    _S,
    KronLaplaceOptions,
    KronMode,
    kron_find_mode,
    kron_log_marginal,
    kron_posterior_draws,
)
from bayeskern.gp.laplace.lowrank import lowrank_log_marginal, lowrank_mode, lowrank_posterior_diag
from bayeskern.gp.laplace.marginal import LaplaceMarginal, la_loo
from bayeskern.gp.laplace.newton import DEFAULT_SITE, guard_mode

__all__ = ["KroneckerLaplaceMarginal", "LowRankLaplaceMarginal"]


class KroneckerLaplaceMarginal(LaplaceMarginal):
    """Laplace marginal with the prior ``f ~ N(m, ⊗_d L_d L_dᵀ)`` on a full grid.

    Args:
        likelihood: as for :class:`LaplaceMarginal` (evaluated in the user's row order).
        factors: tuple of per-axis lower Cholesky factors ``(n_d, n_d)`` (scale included).
        loc: prior mean ``(n,)`` in row order.
        cells: ``(n,)`` flat C-order grid cell of each row, or ``None`` when the rows
            are already in grid order.
        offset: ``(n,)`` or None.
        options: :class:`~bayeskern.gp.laplace.kronecker.KronLaplaceOptions`.
        loo_draws: Laplace draws used to estimate the posterior variances ``Σ_ii``
            for ``pointwise_log_prob`` (relative error about ``√(2/loo_draws)``).

    ``mode(value)`` returns a :class:`~bayeskern.gp.laplace.kronecker.KronMode` in
    *grid* order; ``sample_latent`` returns draws in row order.
    """

    pytree_data_fields = ("factors", "loc", "offset", "cells")
    pytree_aux_fields = ("likelihood", "options", "loo_draws", "max_iter", "tol", "site")

    def __init__(self, likelihood, factors, loc, *, cells=None, offset=None,
                 options: KronLaplaceOptions = KronLaplaceOptions(), loo_draws: int = 100,
                 site: str = DEFAULT_SITE, validate_args=None):
        self.factors = tuple(factors)
        self.cells = cells
        self.options = options
        self.loo_draws = int(loo_draws)
        super().__init__(likelihood, None, loc, offset=offset, max_iter=options.max_iter, tol=options.tol,
                         site=site, validate_args=validate_args)

    def _rows(self, fg):
        return fg if self.cells is None else fg[..., self.cells]

    def _grid(self, v):
        if self.cells is None:
            return v
        return jnp.zeros_like(v).at[..., self.cells].set(v)

    def _loglik(self, value):
        def fn(fg):
            return jnp.reshape(self._obs_dist(self._rows(fg)).log_prob(value), fg.shape)

        conv, consts = jax.closure_convert(fn, self.loc)
        return conv, tuple(consts)

    def log_prob(self, value):
        """Laplace log marginal (scalar; SLQ log det with fixed probes, implicit gradient)."""
        fn, consts = self._loglik(value)
        return kron_log_marginal(fn, self.factors, self._grid(self.loc), consts, self.options,
                                 self._grid(self._candidates(value)), self._label())

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        z = jax.random.normal(k1, sample_shape + self.event_shape, self.loc.dtype)
        z2 = jnp.reshape(z, (-1, z.shape[-1]))
        f = self.loc + self._rows(jnp.reshape(_S(self.factors, z2), z.shape))
        return self._obs_dist(f).sample(k2)

    supports_correction = False  # the Kronecker mode has no dense factors to precondition with

    def mode(self, value) -> KronMode:
        fn, consts = self._loglik(value)
        return jax.lax.stop_gradient(kron_find_mode(fn, consts, self._grid(self.loc), self.factors, self.options,
                                                    candidates=self._grid(self._candidates(value))))

    def sample_latent(self, key, value, sample_shape=()):
        """Draws ``sample_shape + (n,)`` of ``f ~ N(f̂, S A⁻¹ Sᵀ)`` (row order; one CG solve per draw)."""
        mode = self.mode(value)
        num = 1
        for s in sample_shape:
            num *= int(s)
        draws = kron_posterior_draws(key, mode, num, self.options, self._label())
        return jnp.reshape(self._rows(draws), sample_shape + self.event_shape)

    def pointwise_log_prob(self, value):
        """LA-LOO terms ``(n,)`` as in :class:`LaplaceMarginal`, with ``Σ_ii`` estimated from ``loo_draws``
        fixed-seed Laplace draws (the exact diagonal needs ``N`` solves)."""
        fn, consts = self._loglik(value)
        mode = self.mode(value)
        draws = kron_posterior_draws(jax.random.PRNGKey(self.options.seed + 1), mode, self.loo_draws,
                                     self.options, self._label())
        dS = jnp.mean((draws - mode.f) ** 2, axis=0)
        loo = la_loo(fn, consts, mode.f, dS, mode.W, mode.grad)
        return guard_mode(loo, mode.info, self._label(), self.tol)


class LowRankLaplaceMarginal(LaplaceMarginal):
    """Laplace marginal with the prior ``f = m + B β``, ``β ~ N(0, I_M)``, ``B`` ``(n, M)`` (e.g. HSGP ``Φ diag √S``).

    Args:
        likelihood, loc, offset, max_iter, tol: as for :class:`LaplaceMarginal` (``loc`` ``(n,)``).
        basis: ``B`` ``(n, M)`` at the training inputs.
        hsgp_basis: the :class:`~bayeskern.features.hsgp.HSGPBasis` that ``B`` came from
            (``B = hsgp_basis.features(X) · sqrt_weights``), or ``None`` for a user-given ``B``.
            With it, :func:`~bayeskern.gp.laplace.predict.predict_latent` can evaluate the
            basis at new inputs.
        sqrt_weights: ``(M,)`` square-root spectral weights ``√S`` (with ``hsgp_basis``; else ``None``).

    ``mode(value)`` is a :class:`~bayeskern.gp.laplace.newton.LaplaceMode` with ``L = B``
    and ``u``/``C`` of size ``M``.
    """

    # hsgp_basis is itself a pytree (box centre and half-widths as leaves), so jit/vmap carry it.
    pytree_data_fields = ("basis", "loc", "offset", "hsgp_basis", "sqrt_weights")
    pytree_aux_fields = ("likelihood", "max_iter", "tol", "site")

    def __init__(self, likelihood, basis, loc, *, offset=None, max_iter: int = 100, tol: float = 1e-9,
                 hsgp_basis=None, sqrt_weights=None, site: str = DEFAULT_SITE, validate_args=None):
        if (hsgp_basis is None) != (sqrt_weights is None):
            raise ValueError("hsgp_basis and sqrt_weights must be given together (or neither)")
        if hsgp_basis is not None:
            M = basis.shape[-1]
            if hsgp_basis.num_functions != M or tuple(sqrt_weights.shape) != (M,):
                raise ValueError(f"hsgp_basis must have M = {M} functions like basis and sqrt_weights shape "
                                 f"({M},), got {hsgp_basis.num_functions} and {tuple(sqrt_weights.shape)}")
        self.basis = basis
        self.hsgp_basis = hsgp_basis
        self.sqrt_weights = sqrt_weights
        super().__init__(likelihood, None, loc, offset=offset, max_iter=max_iter, tol=tol, site=site,
                         validate_args=validate_args)

    def log_prob(self, value):
        fn, consts = self._loglik(value)
        return lowrank_log_marginal(fn, self.basis, self.loc, consts, (self.max_iter, self.tol, self._label()),
                                    self._candidates(value))

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        z = jax.random.normal(k1, sample_shape + (self.basis.shape[1],), self.loc.dtype)
        return self._obs_dist(self.loc + z @ self.basis.T).sample(k2)

    def mode(self, value):
        fn, consts = self._loglik(value)
        return jax.lax.stop_gradient(lowrank_mode(fn, consts, self.loc, self.basis, (self.max_iter, self.tol),
                                                  self._candidates(value)))

    def sample_latent(self, key, value, sample_shape=()):
        mode = self.mode(value)
        M = self.basis.shape[1]
        eps = jax.random.normal(key, sample_shape + (M,), self.loc.dtype)
        white = solve_triangular(mode.C.T, jnp.reshape(eps, (-1, M)).T, lower=False).T  # ~ N(0, A⁻¹)
        return mode.f + jnp.reshape(white @ self.basis.T, sample_shape + self.event_shape)

    def pointwise_log_prob(self, value):
        fn, consts = self._loglik(value)
        mode = self.mode(value)
        loo = la_loo(fn, consts, mode.f, lowrank_posterior_diag(mode), mode.W, mode.grad)
        return guard_mode(loo, mode.info, self._label(), self.tol)
