"""The distributions of an embedded-Laplace site: dense, Kronecker-grid and low-rank (HSGP) latent fields.

:class:`LaplaceMarginal` is ``p(y | θ)`` by Laplace's method for a latent field
with a dense prior covariance (:mod:`bayeskern.gp.laplace.newton`).
:class:`KroneckerLaplaceMarginal` and :class:`LowRankLaplaceMarginal` are its
subclasses with the same observed-site API (``log_prob``, ``sample``, ``mode``,
``sample_latent``, ``pointwise_log_prob``) for a full grid with a Kronecker
prior (:mod:`bayeskern.gp.laplace.kronecker`) and a low-rank basis
(:mod:`bayeskern.gp.laplace.lowrank`). :func:`~bayeskern.gp.laplace.marginal.laplace_marginal`
builds them (``structure="dense"``, ``"kronecker"``, ``"hsgp"``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.linalg import solve_triangular
from numpyro.distributions import constraints

from bayeskern.gp.laplace.correction import corrected_latent_draw
from bayeskern.gp.laplace.kronecker import (
    _S,
    KronLaplaceOptions,
    KronMode,
    kron_find_mode,
    kron_log_marginal,
    kron_posterior_draws,
)
from bayeskern.gp.laplace.lowrank import lowrank_log_marginal, lowrank_mode, lowrank_posterior_diag
from bayeskern.gp.laplace.newton import (
    DEFAULT_SITE,
    LaplaceMode,
    compiled_log_marginal,
    find_mode,
    guard_mode,
    posterior_covariance,
)

__all__ = ["KroneckerLaplaceMarginal", "LaplaceMarginal", "LowRankLaplaceMarginal", "la_loo"]

_GH_POINTS = 32


class LaplaceMarginal(dist.Distribution):
    """``p(y | θ) ≈ ∫ p(y | f) N(f; m, K) df`` by Laplace's method, as a distribution over ``y`` ``(n,)``.

    Args:
        likelihood: ``f (n,) -> Distribution`` with ``batch_shape (n,)``, factorised over
            observations (e.g. ``lambda f: dist.Poisson(jnp.exp(f))``); may close
            over sampled likelihood parameters, which get gradients.
        covariance: prior covariance ``(n, n)`` (jitter included).
        loc: prior mean ``(n,)``.
        offset: ``(n,)`` added to ``f`` before the likelihood (e.g. ``log(exposure)``),
            or ``None``. Draws of ``f`` exclude it.
        max_iter: Newton iteration cap.
        tol: Newton gradient tolerance (whitened coordinates, relative to ``1 + max|u|``).
        site: the name convergence messages give (``laplace_marginal``'s ``name``).

    ``log_prob(y)`` is the Laplace log marginal (``-inf`` where the posterior
    precision is not positive definite at the mode). The mode search starts at
    the prior mean and restarts once from a data-based start (``y`` and
    ``log(y + ½)`` less the offset, refined per observation) if that does not
    converge; a mode that still has not converged gives ``-inf`` with a
    :class:`~bayeskern.errors.ConvergenceWarning` inside ``jit``/``vmap``/``grad``
    (NUTS rejects the proposal), and raises
    :class:`~bayeskern.errors.ConvergenceError` in an eager call. ``sample`` draws from the
    model the marginal approximates: ``f ~ N(m, K)``, ``y ~ likelihood(f + offset)``.
    """

    arg_constraints: dict = {}  # noqa: RUF012 - NumPyro's class-level convention
    support = constraints.real_vector
    pytree_data_fields = ("covariance", "loc", "offset")
    pytree_aux_fields = ("likelihood", "max_iter", "tol", "site")

    def __init__(self, likelihood, covariance, loc, *, offset=None, max_iter: int = 100, tol: float = 1e-9,
                 site: str = DEFAULT_SITE, validate_args=None):
        self.likelihood = likelihood
        self.site = str(site)
        self.covariance = covariance
        self.loc = loc
        self.offset = offset
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        super().__init__(batch_shape=(), event_shape=(loc.shape[-1],), validate_args=validate_args)

    # -- the likelihood as a function of f -----------------------------------
    def _obs_dist(self, f):
        return self.likelihood(f if self.offset is None else f + self.offset)

    def _loglik(self, value):
        """``(fn, consts)``: ``fn(f, *consts) -> (n,)`` with every traced value hoisted into ``consts``."""
        def fn(f):
            return jnp.reshape(self._obs_dist(f).log_prob(value), f.shape)

        conv, consts = jax.closure_convert(fn, self.loc)
        return conv, tuple(consts)

    def _candidates(self, value):
        """``(2, n)`` data-based starting values of ``f`` (row order): ``y`` and ``log(y + ½)``, less the offset.

        Right for an identity link (``y``) and for counts with a log link (``log(y + ½)``); a
        candidate that does not suit the likelihood scores worse than the prior mean and is not used.
        """
        y = jnp.asarray(value, self.loc.dtype)
        off = 0.0 if self.offset is None else self.offset
        c = jnp.stack([y - off, jnp.log(jnp.maximum(y, 0.0) + 0.5) - off])
        return jax.lax.stop_gradient(c)

    def _label(self) -> str:
        return f"laplace_marginal {self.site!r}"

    # -- distribution API ------------------------------------------------------
    def log_prob(self, value):
        """Laplace log marginal ``log p(y | θ)`` (scalar); gradients by the implicit function theorem."""
        fn, consts = self._loglik(value)
        return compiled_log_marginal(fn, self.covariance, self.loc, consts, (self.max_iter, self.tol, self._label()),
                                     self._candidates(value))

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        L = jnp.linalg.cholesky(self.covariance)
        z = jax.random.normal(k1, sample_shape + self.event_shape, self.loc.dtype)
        f = self.loc + z @ L.T
        return self._obs_dist(f).sample(k2)

    def mode(self, value) -> LaplaceMode:
        """The Laplace Gaussian at ``y = value``: mode, factors, ``W`` and Newton record (no gradient).

        Not guarded: ``mode(value).info.converged`` says whether the search converged.
        """
        fn, consts = self._loglik(value)
        L = jnp.linalg.cholesky(self.covariance)
        return jax.lax.stop_gradient(find_mode(fn, consts, self.loc, L, max_iter=self.max_iter, tol=self.tol,
                                               K=self.covariance, candidates=self._candidates(value)))

    def sample_latent(self, key, value, sample_shape=()):
        """Draws ``sample_shape + (n,)`` of ``f ~ N(f̂, (K⁻¹ + W)⁻¹)`` given ``y = value`` (offset excluded)."""
        mode = self.mode(value)
        eps = jax.random.normal(key, sample_shape + self.event_shape, self.loc.dtype)
        # Σ = L A⁻¹ Lᵀ with A = C Cᵀ, so L C⁻ᵀ ε has covariance Σ.
        white = solve_triangular(mode.C.T, jnp.reshape(eps, (-1, eps.shape[-1])).T, lower=False).T
        return mode.f + jnp.reshape(white @ mode.L.T, eps.shape)

    #: ``sample_latent(..., correction=k)`` works (the mode has factors ``L``, ``C``).
    supports_correction = True

    def corrected_latent(self, key, value, num_steps: int):
        """``(f, accept)``: a Laplace draw moved by ``num_steps`` NUTS transitions on ``p(f | θ, y)``."""
        fn, consts = self._loglik(value)
        return corrected_latent_draw(self.mode(value), fn, consts, key, num_steps=num_steps)

    def pointwise_log_prob(self, value):
        """Laplace leave-one-out predictive log densities ``log p(y_i | y_{-i}, θ)`` ``(n,)``.

        The Laplace Gaussian replaces each likelihood term by a Gaussian site
        (its second-order expansion at ``f̂``); removing site ``i`` from the
        marginal ``N(f̂_i, Σ_ii)`` leaves the cavity ``N(μ_i, v_i)`` with
        ``1/v_i = 1/Σ_ii - W_i`` and ``μ_i = f̂_i - v_i ∂_i log p(y_i | f̂_i)``, and
        ``p(y_i | y_{-i}, θ) ≈ ∫ p(y_i | f_i) N(f_i; μ_i, v_i) df_i`` by 32-point
        Gauss-Hermite quadrature (the "LA-LOO" of Vehtari et al. 2016, JMLR 17).
        These are the pointwise terms PSIS-LOO needs for a model whose
        observations are correlated given ``θ`` (Bürkner, Gabry & Vehtari
        2021); their sum is not ``log_prob``.
        """
        fn, consts = self._loglik(value)
        mode = self.mode(value)
        loo = la_loo(fn, consts, mode.f, jnp.diagonal(posterior_covariance(mode)), mode.W, mode.grad)
        return guard_mode(loo, mode.info, self._label(), self.tol)


def la_loo(fn, consts, f, dS, W, grad):
    """LA-LOO terms ``(n,)`` from the Laplace marginals ``N(f̂_i, Σ_ii)`` (see ``pointwise_log_prob``).

    Args:
        fn: ``(f (n,), *consts) -> (n,)`` pointwise log likelihood; ``f``, ``dS``, ``W``,
            ``grad``: ``(n,)`` mode, posterior variances, ``-∂²ℓ`` and ``∂ℓ`` at the mode.
    """
    prec = 1.0 / dS - W
    v = 1.0 / prec
    mu = f - v * grad
    x, w = np.polynomial.hermite.hermgauss(_GH_POINTS)
    nodes = mu[None, :] + jnp.sqrt(2.0 * v)[None, :] * jnp.asarray(x, mu.dtype)[:, None]
    lp = jax.vmap(lambda g: fn(g, *consts))(nodes)
    logw = jnp.asarray(np.log(w) - 0.5 * math.log(math.pi), mu.dtype)[:, None]
    return jax.scipy.special.logsumexp(lp + logw, axis=0)



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
