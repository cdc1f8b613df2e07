"""GP surrogate for Bayesian optimisation: NumPyro model, MAP / NUTS fits, batched prediction.

The surrogate lives in the unit cube with standardised outputs (the
``Optimizer`` does the scaling). Its NumPyro model samples, under a
user-given ``prefix``:

* ``{prefix}_lengthscale`` ``(d,)``: ARD lengthscales. Default prior
  ``"dimension_scaled"`` (Hvarfner, Hellsten & Nardi 2024):
  ``LogNormal(√2 + log(d)/2, √3)``, whose median grows like ``√d`` so the
  model's complexity does not explode with the dimension. Prior ``"saas"``
  (Eriksson & Jankowiak 2021): global shrinkage ``{prefix}_tau ~ HalfCauchy(0.1)``,
  inverse squared lengthscales ``{prefix}_rho ~ HalfCauchy(tau)`` ``(d,)``,
  ``lengthscale = rho^{-1/2}`` (a deterministic site), so most dimensions are
  switched off unless the data ask for them.
* ``{prefix}_variance`` (output variance), ``{prefix}_noise`` (noise
  variance, floored at ``noise_floor``; ``LogNormal(−4, 1)``) and ``{prefix}_mean`` (constant mean).
  With ``noise=`` a fixed noise variance replaces the noise site: for a
  deterministic objective a learned noise of ~0.02 (where the prior puts it)
  smooths away the small differences near the optimum that exploitation needs.

**Padding.** Data are padded to a multiple of ``pad_to`` rows so that jitted
fits and acquisitions compile once per bucket rather than once per
evaluation. Padded rows are made exactly inert: their covariance row is the
identity (no correlation with anything) and their target 0, so they add the
constant ``−½ log 2π`` to the log marginal likelihood and 0 to every
prediction. The observation site is a ``MultivariateNormal`` with the
Cholesky factor of that masked covariance; unpadded, it equals
``bayeskern.gp.GaussianProcess`` (tested).

**Structure.** The surrogate always uses a dense Cholesky (``structure="dense"``
in the vocabulary of :mod:`bayeskern.gp.structure`): BO data are small and
scattered (no grid, rarely 1-D with hundreds of points), so the ``"auto"`` rule
of :func:`bayeskern.gp.structure.choose_structure` would pick dense anyway, and
the padded, masked covariance needs the explicit factor.

Hyperparameter draws are a dict site -> ``(S, ...)`` array (``S = 1`` for
MAP); every prediction is vectorised over draws.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from bayeskern.errors import ConvergenceWarning
from bayeskern.infer.nuts import nuts
from bayeskern.kernels import RBF, Kernel, Matern12, Matern32, Matern52
from bayeskern.linalg import cholesky
from bayeskern.linalg.triangular import cho_solve, whiten
from bayeskern.optim import lbfgs_minimize
from bayeskern.priors import KernelSpecError, kernel_spec_kind

__all__ = ["KERNELS", "PRIORS", "GPCache", "GPSurrogate", "pad_data"]

PRIORS = ("dimension_scaled", "saas")
#: The kernel families the surrogate takes (stationary, one ARD lengthscale per dimension).
KERNELS = (Matern52, Matern32, Matern12, RBF)


def pad_data(X, y, pad_to: int):
    """Pad ``X`` ``(n, d)``, ``y`` ``(n,)`` to a multiple of ``pad_to`` rows -> ``(X, y, mask)``."""
    n, d = X.shape
    size = max(pad_to, -(-n // pad_to) * pad_to)
    Xp = np.full((size, d), 0.5)
    Xp[:n] = X
    yp = np.zeros(size)
    yp[:n] = y
    mask = np.zeros(size, bool)
    mask[:n] = True
    return jnp.asarray(Xp), jnp.asarray(yp), jnp.asarray(mask)


class GPCache(NamedTuple):
    """Factorised posterior for ``S`` hyperparameter draws (all arrays lead with ``S``).

    Attributes:
        lengthscale: ``(S, d)``; variance, noise, mean: ``(S,)``.
        X: padded inputs ``(N, d)``; mask ``(N,)``.
        L: Cholesky factors of the masked ``K + σ²I`` ``(S, N, N)``.
        alpha: ``(S, N)``.
    """

    lengthscale: jax.Array
    variance: jax.Array
    noise: jax.Array
    mean: jax.Array
    X: jax.Array
    mask: jax.Array
    L: jax.Array
    alpha: jax.Array


class GPSurrogate:
    """A GP surrogate (ARD stationary kernel) with MAP or NUTS hyperparameters.

    Args:
        kernel: the kernel family, a class from :data:`KERNELS`: ``Matern52`` (default),
            ``Matern32``, ``Matern12`` or ``RBF`` (``bk.kernels.*``). This is the class form of
            :data:`~bayeskern.priors.KernelSpec`; its hyperparameters are sampled under
            ``prefix`` with the surrogate's own BO priors (``prior``), not the data-scaled
            defaults, since the surrogate lives in the unit cube with standardised outputs.
            An instance (fixed hyperparameters) or a callable is refused: the surrogate's
            caches, MAP fit and pathwise draws are built on the family's ARD lengthscale
            and variance. Strings (``"matern52"``) are refused with the class to pass.
        prior: ``"dimension_scaled"`` (default) or ``"saas"``.
        prefix: site-name prefix of the NumPyro model.
        noise_floor: lower bound on the noise variance (standardised units).
        noise: fixed noise variance (standardised units, e.g. ``1e-6`` for a deterministic objective)
            instead of a sampled ``{prefix}_noise``; None (default) learns it.
    """

    def __init__(self, kernel: type[Kernel] = Matern52, prior: str = "dimension_scaled", prefix: str = "gp",
                 noise_floor: float = 1e-6, noise: float | None = None):
        names = ", ".join(f"bk.kernels.{c.__name__}" for c in KERNELS)
        if kernel_spec_kind(kernel, "kernel") != "class":
            raise KernelSpecError(f"GPSurrogate: kernel must be a kernel class ({names}), got "
                                  f"{type(kernel).__name__}: the surrogate samples the family's ARD "
                                  "lengthscales and variance with its BO priors (prior=), so an instance or "
                                  "a callable cannot be used")
        if kernel not in KERNELS:
            raise ValueError(f"GPSurrogate: kernel must be one of {names}, got {kernel.__name__}")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if not (isinstance(prefix, str) and prefix):
            raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
        if not noise_floor > 0:
            raise ValueError(f"noise_floor must be positive, got {noise_floor}")
        if noise is not None and not noise > 0:
            raise ValueError(f"noise must be a positive variance or None, got {noise}")
        # The family is kept by name: the surrogate is saved with the optimiser as plain data.
        self.kernel_name, self.prior, self.prefix, self.noise_floor = kernel.__name__, prior, prefix, float(noise_floor)
        self.noise = None if noise is None else float(noise)

    def __eq__(self, other):
        return isinstance(other, GPSurrogate) and self.config() == other.config()

    def __hash__(self):
        # Equal settings share jit caches (the surrogate is a static argument).
        return hash(tuple(sorted(self.config().items())))

    def config(self) -> dict:
        """The settings as JSON values (the kernel family by its class name, e.g. ``"Matern52"``)."""
        return {"kernel": self.kernel_name, "prior": self.prior, "prefix": self.prefix,
                "noise_floor": self.noise_floor, "noise": self.noise}

    @property
    def kernel_family(self) -> type[Kernel]:
        """The kernel class (one of :data:`KERNELS`)."""
        return next(c for c in KERNELS if c.__name__ == self.kernel_name)

    @classmethod
    def from_config(cls, config: dict) -> GPSurrogate:
        """The surrogate :meth:`config` describes (the kernel's class name restored to the class)."""
        cfg = dict(config)
        by_name = {c.__name__.lower(): c for c in KERNELS}
        name = str(cfg.get("kernel", "Matern52"))
        if name.lower() not in by_name:
            raise ValueError(f"GPSurrogate.from_config: unknown kernel {name!r}; "
                             f"known: {[c.__name__ for c in KERNELS]}")
        cfg["kernel"] = by_name[name.lower()]
        return cls(**cfg)

    def _site(self, name):
        return f"{self.prefix}_{name}"

    # -- the NumPyro model -------------------------------------------------
    def model(self, X, y=None, mask=None):
        """NumPyro model of ``y`` ``(N,)`` at unit-cube ``X`` ``(N, d)``; ``mask`` ``(N,)`` marks real rows."""
        N, d = X.shape
        mask = jnp.ones(N, bool) if mask is None else mask
        if self.prior == "dimension_scaled":
            loc = math.sqrt(2.0) + 0.5 * math.log(d)
            ls = numpyro.sample(self._site("lengthscale"), dist.LogNormal(loc, math.sqrt(3.0)).expand([d]).to_event(1))
        else:
            tau = numpyro.sample(self._site("tau"), dist.HalfCauchy(0.1))
            rho = numpyro.sample(self._site("rho"), dist.HalfCauchy(tau * jnp.ones(d)).to_event(1))
            ls = numpyro.deterministic(self._site("lengthscale"), 1.0 / jnp.sqrt(rho))
        var = numpyro.sample(self._site("variance"), dist.LogNormal(0.0, 1.0))
        if self.noise is None:
            noise = self.noise_floor + numpyro.sample(self._site("noise"), dist.LogNormal(-4.0, 1.0))
        else:
            noise = self.noise
        mean = numpyro.sample(self._site("mean"), dist.Normal(0.0, 1.0))
        K = self._masked_cov(ls, var, noise, X, mask)
        L = cholesky(K, name="BO surrogate covariance")
        loc = jnp.where(mask, mean, 0.0)
        numpyro.sample("y", dist.MultivariateNormal(loc, scale_tril=L), obs=y)

    def kernel(self, lengthscale, variance):
        return self.kernel_family(lengthscale=lengthscale, variance=variance)

    def _masked_cov(self, ls, var, noise, X, mask):
        m = mask.astype(X.dtype)
        K = self.kernel(ls, var)(X) + noise * jnp.eye(X.shape[0], dtype=X.dtype)
        return K * (m[:, None] * m[None, :]) + jnp.diag(1.0 - m)

    # -- hyperparameters ---------------------------------------------------
    def hypers(self, params: dict) -> tuple:
        """``(lengthscale (S, d), variance (S,), noise (S,), mean (S,))`` from constrained draws ``(S, ...)``."""
        if self._site("lengthscale") in params:
            ls = params[self._site("lengthscale")]
        else:
            ls = 1.0 / jnp.sqrt(params[self._site("rho")])
        var = params[self._site("variance")]
        noise = (self.noise_floor + params[self._site("noise")] if self.noise is None
                 else jnp.full(jnp.shape(var), self.noise))
        return jnp.asarray(ls), params[self._site("variance")], noise, params[self._site("mean")]

    def fit_map(self, X, y, mask, key, *, num_restarts: int = 4, max_iter: int = 200) -> dict:
        """MAP hyperparameters: L-BFGS on the NumPyro potential from ``num_restarts`` starts, the best kept.

        The first start is the prior median (per unconstrained coordinate, from 64 prior draws), the
        others are prior draws shrunk towards it or towards unit scales (alternately); they run one
        after another in one jitted program,
        L-BFGS with at most ``max_iter`` iterations each, with the library's gradient test
        (:mod:`bayeskern.optim`). The best converged start is kept; when none converged a
        :class:`~bayeskern.errors.ConvergenceWarning` says so and the best finite one is used
        (a surrogate with imperfect hyperparameters is still a valid model; the BO loop goes on).

        Returns:
            dict site -> ``(1, ...)`` constrained values.

        Raises:
            FloatingPointError: the potential is not finite at any start.
        """
        if isinstance(num_restarts, bool) or not isinstance(num_restarts, (int, np.integer)) or num_restarts < 1:
            raise ValueError(f"num_restarts must be an integer >= 1, got {num_restarts!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        params, value, grad_max, converged = _fit_map(self, X, y, mask, key, int(num_restarts), int(max_iter))
        if not np.isfinite(float(value)):
            raise FloatingPointError("the BO surrogate's log posterior is not finite at any start; check X and y")
        if not bool(converged):
            warnings.warn(
                f"GPSurrogate.fit_map: no L-BFGS start met the gradient test within max_iter={max_iter} "
                f"(best start: potential {float(value):.6g}, max |gradient| {float(grad_max):.3g}); the best "
                "hyperparameters found are used. Raise max_iter or num_restarts.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return params

    def fit_nuts(self, X, y, mask, key, *, num_warmup: int = 256, num_samples: int = 256, thinning: int = 16):
        """NUTS draws of the hyperparameters (one chain; thinned) -> dict site -> ``(S, ...)``."""
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        fit = nuts(self.model, X, y, mask, num_warmup=num_warmup, num_samples=num_samples, num_chains=1,
                   seed=seed, progress_bar=False)
        return {k: jnp.asarray(v[::thinning]) for k, v in fit.samples.items()}

    # -- posterior -----------------------------------------------------------
    def cache(self, params: dict, X, y, mask) -> GPCache:
        """Factorise the posterior for every draw in ``params`` (``(S, ...)`` arrays)."""
        ls, var, noise, mean = self.hypers(params)
        return _cache(self, ls, var, noise, mean, X, y, mask)

    def predict(self, cache: GPCache, Xq):
        """Marginal posterior of ``f`` at ``Xq`` ``(m, d)`` -> ``mu, var`` each ``(S, m)``."""
        def one(ls, var, mean, L, alpha):
            k = self.kernel(ls, var)
            Ks = k(cache.X, Xq) * cache.mask[:, None]
            V = whiten(L, Ks)
            return mean + Ks.T @ alpha, jnp.maximum(k.diag(Xq) - jnp.sum(V * V, axis=0), 1e-12 * var)
        return jax.vmap(one)(cache.lengthscale, cache.variance, cache.mean, cache.L, cache.alpha)

    def predict_joint(self, cache: GPCache, Xq):
        """Joint posterior of ``f`` at ``Xq`` ``(m, d)`` -> ``mu (S, m)``, ``cov (S, m, m)``."""
        def one(ls, var, mean, L, alpha):
            k = self.kernel(ls, var)
            Ks = k(cache.X, Xq) * cache.mask[:, None]
            V = whiten(L, Ks)
            return mean + Ks.T @ alpha, k(Xq) - V.T @ V
        return jax.vmap(one)(cache.lengthscale, cache.variance, cache.mean, cache.L, cache.alpha)


@functools.partial(jax.jit, static_argnums=(0,))
def _cache(sur, ls, var, noise, mean, X, y, mask):
    def one(ls, var, noise, mean):
        K = sur._masked_cov(ls, var, noise, X, mask)
        L = cholesky(K, name="BO surrogate covariance")
        return L, cho_solve(L, jnp.where(mask, y - mean, 0.0))
    L, alpha = jax.vmap(one)(ls, var, noise, mean)
    return GPCache(ls, var, noise, mean, X, mask, L, alpha)


def _prior_draws(sur, X, y, mask, key, num):
    def draw(k):
        tr = handlers.trace(handlers.seed(sur.model, k)).get_trace(X, y, mask)
        return {name: site["value"] for name, site in tr.items()
                if site["type"] == "sample" and not site["is_observed"]}
    return jax.vmap(draw)(jax.random.split(key, num))


@functools.partial(jax.jit, static_argnums=(0, 5, 6))
def _fit_map(sur, X, y, mask, key, num_restarts, max_iter):
    args = (X, y, mask)
    draws = _prior_draws(sur, X, y, mask, key, 64)
    u = jax.vmap(lambda p: unconstrain_fn(sur.model, args, {}, p))(draws)
    flat = jax.vmap(lambda v: ravel_pytree(v)[0])(u)  # (64, D)
    unravel = ravel_pytree(jax.tree.map(lambda a: a[0], u))[1]
    # Start 0 is the prior median (per unconstrained coordinate). The heavy-tailed priors can start far
    # out (lengthscale 1e3, noise ~ 1), so the other starts are prior draws shrunk: odd ones 0.3x towards 0
    # (unit lengthscales and variance: short-lengthscale modes the median misses, measured on Hartmann-6 at
    # n = 100), even ones 0.5x towards the median.
    centre = jnp.median(flat, axis=0)
    draws = flat[:num_restarts]
    odd = (jnp.arange(num_restarts) % 2 == 1)[:, None]
    flat0 = jnp.where(odd, 0.3 * draws, centre + 0.5 * (draws - centre)).at[0].set(centre)

    def loss(flat):
        return potential_energy(sur.model, args, {}, unravel(flat))

    # One start after another (lax.map), not vmapped: a vmapped while loop runs every lane until the slowest
    # start converges (measured 2x the total work of the starts at n = 100).
    res = jax.lax.map(lambda x0: lbfgs_minimize(loss, x0, max_iter), flat0)
    finite = jnp.isfinite(res.value)
    # the best converged start; where none converged, the best finite one
    rank = jnp.where(res.converged & finite, res.value, jnp.inf)
    best = jnp.where(jnp.any(res.converged & finite), jnp.argmin(rank),
                     jnp.argmin(jnp.where(finite, res.value, jnp.inf)))
    params = constrain_fn(sur.model, args, {}, unravel(res.x[best]), return_deterministic=True)
    params.pop("y", None)
    return jax.tree.map(lambda a: a[None], params), res.value[best], res.grad_max[best], res.converged[best]
