"""Acquisition-function objects: callable pytrees ``acq(Z)`` over batches ``Z`` ``(B, q, d)``.

Each object holds a fitted surrogate's factorised posterior (``GPCache``,
``S`` hyperparameter draws) and its settings. Arrays are pytree leaves and
settings are static, so the jitted multi-start ascent compiles once per
setting and data bucket, not once per BO iteration.

Fully Bayesian averaging: the value is the average over the ``S`` draws of
the per-draw acquisition (``log EI``: the log of the average EI, by
``logsumexp``). Draws are processed ``chunk`` at a time with
``jax.lax.map(..., batch_size=chunk)``, so memory is ``O(chunk · B · N)``
whatever ``S`` is.

Kinds (maximisation of the standardised objective, ``best`` the incumbent):

* ``Analytic``: ``"ei"``, ``"log_ei"``, ``"pi"``, ``"log_pi"``, ``"ucb"`` (``q = 1``);
* ``MonteCarlo``: ``"qei"``, ``"qpi"``, ``"qucb"`` (Wilson et al. 2017), by
  reparameterised joint draws ``f = μ + L z`` with fixed base samples ``z``
  (common random numbers, so the MC estimate is a smooth deterministic
  function of ``Z``); ``qpi`` replaces the indicator by a sigmoid of
  temperature ``tau`` for gradients;
* ``NoisyEI``: ``"qnei"``, improvement of the batch over the best *latent*
  value at the observed inputs, drawn jointly (Letham et al. 2019), so noisy
  incumbents are not trusted;
* ``Thompson``: one pathwise posterior sample function per slot
  (``bayeskern.features.pathwise``), separable;
* ``MaxValueEntropy``: MES (Wang & Jegelka 2017) with ``y*`` samples from
  maxima of pathwise posterior samples on a candidate set.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr, logsumexp

from bayeskern.linalg import cholesky
from bayeskern.optimize import acquisitions as af

__all__ = ["ANALYTIC", "MC", "Analytic", "MaxValueEntropy", "MonteCarlo", "NoisyEI", "Thompson"]

ANALYTIC = ("ei", "log_ei", "pi", "log_pi", "ucb")
MC = ("qei", "qpi", "qucb")


class _Acq:
    """Pytree base: ``_data`` names array leaves, ``_static`` names hashable settings."""

    _data: tuple = ()
    _static: tuple = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        jax.tree_util.register_pytree_node_class(cls)

    def tree_flatten(self):
        return tuple(getattr(self, f) for f in self._data), tuple(getattr(self, f) for f in self._static)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        obj = object.__new__(cls)
        for f, v in zip(cls._data, leaves, strict=True):
            setattr(obj, f, v)
        for f, v in zip(cls._static, aux, strict=True):
            setattr(obj, f, v)
        return obj

    separable = False

    def _over_draws(self, per_draw, Z):
        """``mean_s per_draw(cache_s, Z)`` over draws, ``chunk`` draws at a time -> ``(S, ...)`` stacked."""
        X, mask = self.cache.X, self.cache.mask  # shared by all draws
        drawn = self.cache._replace(X=None, mask=None)
        return jax.lax.map(lambda c: per_draw(c._replace(X=X, mask=mask), Z), drawn, batch_size=self.chunk)


_PER_DRAW = ("lengthscale", "variance", "noise", "mean", "L", "alpha")


def _one(cache_s):
    """One draw's cache with a leading draw axis of size 1 on the per-draw fields."""
    return cache_s._replace(**{f: getattr(cache_s, f)[None] for f in _PER_DRAW})


class Analytic(_Acq):
    """Closed-form EI / log EI / PI / log PI / UCB on the marginal posterior (``q = 1``)."""

    _data = ("cache", "best", "beta")
    _static = ("surrogate", "kind", "chunk")

    def __init__(self, surrogate, cache, best, kind="log_ei", beta=2.0, chunk=16):
        if kind not in ANALYTIC:
            raise ValueError(f"kind must be one of {ANALYTIC}, got {kind!r}")
        self.surrogate, self.cache, self.kind, self.chunk = surrogate, cache, kind, int(chunk)
        self.best, self.beta = jnp.asarray(best, float), jnp.asarray(beta, float)

    def __call__(self, Z):
        if Z.shape[1] != 1:
            raise ValueError(f"analytic acquisition {self.kind!r} needs q = 1, got q = {Z.shape[1]}")
        X = Z[:, 0, :]

        def per_draw(c, X):
            mu, var = self.surrogate.predict(_one(c), X)
            mu, sd = mu[0], jnp.sqrt(var[0])
            if self.kind == "ei":
                return af.expected_improvement(mu, sd, self.best)
            if self.kind == "log_ei":
                return af.log_expected_improvement(mu, sd, self.best)
            if self.kind == "pi":
                return af.probability_of_improvement(mu, sd, self.best)
            if self.kind == "log_pi":
                return af.log_probability_of_improvement(mu, sd, self.best)
            return af.upper_confidence_bound(mu, sd, self.beta)

        vals = self._over_draws(per_draw, X)  # (S, B)
        if self.kind in ("log_ei", "log_pi"):
            return logsumexp(vals, axis=0) - math.log(vals.shape[0])
        return jnp.mean(vals, axis=0)


def _joint_draws(surrogate, c, X, base):
    """Reparameterised joint draws ``(B, N, m)`` of ``f`` at ``X`` ``(B, m, d)`` for one draw's cache."""
    def one(Xb):
        mu, cov = surrogate.predict_joint(_one(c), Xb)
        L = cholesky(cov[0], name="joint posterior covariance")
        return mu[0][None, :] + base @ L.T
    return jax.vmap(one)(X)


class MonteCarlo(_Acq):
    """Batch ``qEI``, ``qPI``, ``qUCB`` by Monte Carlo with fixed base samples ``base`` ``(N, q)``."""

    _data = ("cache", "best", "beta", "base", "tau")
    _static = ("surrogate", "kind", "chunk")

    def __init__(self, surrogate, cache, best, base, kind="qei", beta=2.0, tau=1e-3, chunk=16):
        if kind not in MC:
            raise ValueError(f"kind must be one of {MC}, got {kind!r}")
        self.surrogate, self.cache, self.kind, self.chunk = surrogate, cache, kind, int(chunk)
        self.best, self.beta, self.tau = jnp.asarray(best, float), jnp.asarray(beta, float), jnp.asarray(tau, float)
        self.base = jnp.asarray(base)

    def __call__(self, Z):
        if Z.shape[1] != self.base.shape[1]:
            raise ValueError(f"base samples are for q = {self.base.shape[1]}, got a batch of q = {Z.shape[1]}")

        def per_draw(c, Z):
            f = _joint_draws(self.surrogate, c, Z, self.base)  # (B, N, q)
            if self.kind == "qei":
                return jnp.mean(jax.nn.relu(jnp.max(f, -1) - self.best), -1)
            if self.kind == "qpi":
                return jnp.mean(jax.nn.sigmoid((jnp.max(f, -1) - self.best) / self.tau), -1)
            # Exact means (not the MC mean) so that |f − μ| = |L z| exactly.
            mu = jax.vmap(lambda Xb: self.surrogate.predict(_one(c), Xb)[0][0])(Z)[:, None, :]
            return jnp.mean(jnp.max(mu + math.sqrt(math.pi / 2) * jnp.sqrt(self.beta) * jnp.abs(f - mu), -1), -1)

        return jnp.mean(self._over_draws(per_draw, Z), axis=0)


class NoisyEI(_Acq):
    """``qNEI``: ``E[max(max_j f(Z_j) − max_i f(X_i), 0)]`` with ``X_i`` the observed inputs, drawn jointly.

    ``base`` ``(N, n_pad + q)`` are the fixed normal base samples; padded rows are excluded by the mask.
    """

    _data = ("cache", "base")
    _static = ("surrogate", "chunk")

    def __init__(self, surrogate, cache, base, chunk=16):
        self.surrogate, self.cache, self.base, self.chunk = surrogate, cache, jnp.asarray(base), int(chunk)

    def __call__(self, Z):
        n = self.cache.X.shape[0]
        if Z.shape[1] + n != self.base.shape[1]:
            raise ValueError(f"base samples are for q = {self.base.shape[1] - n}, got q = {Z.shape[1]}")
        Xb = jnp.concatenate([jnp.broadcast_to(self.cache.X, (Z.shape[0], n, Z.shape[2])), Z], axis=1)

        def per_draw(c, Xb):
            f = _joint_draws(self.surrogate, c, Xb, self.base)  # (B, N, n + q)
            base_best = jnp.max(jnp.where(self.cache.mask, f[..., :n], -jnp.inf), -1)
            return jnp.mean(jax.nn.relu(jnp.max(f[..., n:], -1) - base_best), -1)

        return jnp.mean(self._over_draws(per_draw, Xb), axis=0)


class Thompson(_Acq):
    """Thompson sampling: slot ``j`` maximises its own pathwise posterior sample ``f_j`` (separable).

    ``paths`` is a ``PathwiseSamples`` whose leaves are stacked over the ``q`` slots
    (one sample function each, possibly from different hyperparameter draws).
    """

    _data = ("paths",)
    _static = ()
    separable = True

    def __init__(self, paths):
        self.paths = paths

    def __call__(self, Z):
        vals = jax.vmap(lambda p, X: p(X)[0], in_axes=(0, 1))(self.paths, Z)  # (q, B)
        return vals.T


class MaxValueEntropy(_Acq):
    """MES (Wang & Jegelka 2017, eq. 6): ``mean_k [γ φ(γ) / (2 Φ(γ)) − log Φ(γ)]``, ``γ = (y*_k − μ)/σ``.

    ``ystar`` ``(K,)`` are samples of the maximum of ``f`` (standardised units).
    """

    _data = ("cache", "ystar")
    _static = ("surrogate", "chunk")

    def __init__(self, surrogate, cache, ystar, chunk=16):
        self.surrogate, self.cache, self.ystar, self.chunk = surrogate, cache, jnp.asarray(ystar), int(chunk)

    def __call__(self, Z):
        if Z.shape[1] != 1:
            raise ValueError(f"max-value entropy search needs q = 1, got q = {Z.shape[1]}")

        def per_draw(c, X):
            mu, var = self.surrogate.predict(_one(c), X)
            g = (self.ystar[:, None] - mu[0][None, :]) / jnp.sqrt(var[0])[None, :]  # (K, B)
            log_cdf = log_ndtr(g)
            # γ φ(γ)/Φ(γ) through logs: finite for γ → −∞ where Φ underflows.
            ratio = g * jnp.exp(-0.5 * g * g - 0.5 * math.log(2 * math.pi) - log_cdf)
            return jnp.mean(0.5 * ratio - log_cdf, axis=0)

        return jnp.mean(self._over_draws(per_draw, Z[:, 0, :]), axis=0)
