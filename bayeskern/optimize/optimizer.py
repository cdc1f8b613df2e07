"""``Optimizer``: an ask/tell Bayesian-optimisation loop whose state is a pytree.

    opt = Optimizer(bounds, seed=0, minimize=True)
    for _ in range(30):
        X = opt.ask(1)                 # (q, d) in the original units
        opt.tell(X, f(X))              # y (q,)
    opt.best()                         # (x, y)

Inside, inputs are mapped to the unit cube and outputs standardised (and
negated when minimising) before the surrogate is fitted, so priors and
acquisitions see unit scales. The first ``num_initial`` points come from a
scrambled Sobol design.

**State.** ``opt.state`` is a :class:`BOState` pytree (inputs, outputs,
failure flags, PRNG key); ``ask`` is a deterministic function of the state
and the settings, so ``Optimizer.load(opt.save(path))`` continues exactly
(same proposals) as the optimiser that was saved.

**Failed evaluations.** ``tell`` accepts NaN or infinite ``y``: the point is
recorded with ``failed=True`` and kept in the state (and in ``save``), but
not used to fit the surrogate — unless ``failure_policy="worst"``, where it is
imputed with the worst finite value seen so far (which steers the search
away from regions that fail). Points outside ``bounds`` are rejected with a
``ValueError``.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

from bayeskern.features.pathwise import pathwise_posterior
from bayeskern.optimize.acqf import ANALYTIC, MC, Analytic, MaxValueEntropy, MonteCarlo, NoisyEI, Thompson
from bayeskern.optimize.maximize import maximize_acquisition, raw_candidates
from bayeskern.optimize.surrogate import GPSurrogate, pad_data

__all__ = ["ACQUISITIONS", "BOState", "Optimizer"]

ACQUISITIONS = ANALYTIC + MC + ("qnei", "thompson", "mes")
INFERENCE = ("map", "nuts")
FAILURE_POLICIES = ("ignore", "worst")


class BOState(NamedTuple):
    """Loop state (a pytree). ``X`` ``(n, d)`` original units, ``y`` ``(n,)`` as told, ``failed`` ``(n,)``."""

    X: jax.Array
    y: jax.Array
    failed: jax.Array
    key: jax.Array


class Optimizer:
    """Ask/tell Bayesian optimiser over a box.

    Args:
        bounds: ``(d, 2)`` lower and upper bounds, lower < upper, finite.
        seed: integer seed (initial design, fits, acquisition optimisation).
        minimize: minimise (True) or maximise (False) the objective.
        acquisition: one of ``ACQUISITIONS``: ``"log_ei"`` (default), ``"ei"``, ``"pi"``,
            ``"log_pi"``, ``"ucb"``, ``"qei"``, ``"qpi"``, ``"qucb"``, ``"qnei"``,
            ``"thompson"``, ``"mes"``. Analytic kinds with ``q > 1`` switch to their
            Monte-Carlo batch version (``ei``/``log_ei`` -> ``qei``, ``pi``/``log_pi`` -> ``qpi``,
            ``ucb`` -> ``qucb``).
        inference: ``"map"`` or ``"nuts"`` (fully Bayesian: the acquisition is averaged over draws).
        surrogate: a ``GPSurrogate`` (default Matérn-5/2 ARD, dimension-scaled prior;
            ``GPSurrogate(prior="saas")`` for high dimensions).
        num_initial: Sobol design size before the model is used (default ``2 (d + 1)``).
        beta: UCB exploration weight.
        num_mc: Monte-Carlo base samples for the batch acquisitions.
        num_restarts, raw_samples, steps: acquisition optimisation settings.
        nuts_warmup, nuts_samples, nuts_thinning: NUTS settings (``S = nuts_samples / nuts_thinning`` draws).
        chunk: hyperparameter draws evaluated at once inside acquisitions.
        pad_to: data padding bucket (compile once per bucket).
        failure_policy: ``"ignore"`` or ``"worst"`` (see module docstring).
        state: resume from a ``BOState``.
    """

    def __init__(self, bounds, *, seed: int = 0, minimize: bool = True, acquisition: str = "log_ei",
                 inference: str = "map", surrogate: GPSurrogate | None = None, num_initial: int | None = None,
                 beta: float = 2.0, num_mc: int = 128, num_restarts: int = 10, raw_samples: int = 512,
                 steps: int = 100, nuts_warmup: int = 256, nuts_samples: int = 256, nuts_thinning: int = 16,
                 chunk: int = 16, pad_to: int = 16, failure_policy: str = "ignore", state: BOState | None = None):
        b = np.asarray(bounds, dtype=float)
        if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
            raise ValueError(f"bounds must have shape (d, 2), got {b.shape}")
        if not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
            raise ValueError("bounds must be finite with lower < upper in every row")
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {acquisition!r}")
        if inference not in INFERENCE:
            raise ValueError(f"inference must be one of {INFERENCE}, got {inference!r}")
        if failure_policy not in FAILURE_POLICIES:
            raise ValueError(f"failure_policy must be one of {FAILURE_POLICIES}, got {failure_policy!r}")
        if not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        for name, v in dict(num_mc=num_mc, num_restarts=num_restarts, raw_samples=raw_samples, chunk=chunk,
                            pad_to=pad_to, nuts_samples=nuts_samples, nuts_thinning=nuts_thinning).items():
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        if surrogate is not None and not isinstance(surrogate, GPSurrogate):
            raise ValueError(f"surrogate must be a GPSurrogate, got {type(surrogate).__name__}")
        self.bounds = b
        self.d = b.shape[0]
        self.seed, self.minimize, self.acquisition, self.inference = int(seed), bool(minimize), acquisition, inference
        self.surrogate = surrogate or GPSurrogate()
        self.num_initial = 2 * (self.d + 1) if num_initial is None else int(num_initial)
        if self.num_initial < 1:
            raise ValueError(f"num_initial must be >= 1, got {num_initial}")
        self.settings = dict(beta=float(beta), num_mc=int(num_mc), num_restarts=int(num_restarts),
                             raw_samples=int(raw_samples), steps=int(steps), nuts_warmup=int(nuts_warmup),
                             nuts_samples=int(nuts_samples), nuts_thinning=int(nuts_thinning), chunk=int(chunk),
                             pad_to=int(pad_to))
        self.failure_policy = failure_policy
        if state is None:
            state = BOState(jnp.zeros((0, self.d)), jnp.zeros((0,)), jnp.zeros((0,), bool),
                            jax.random.PRNGKey(self.seed))
        self.state = state
        self.last = None  # diagnostics of the last model-based ask (params, cache, scaling)

    # -- scaling -----------------------------------------------------------------
    def to_unit(self, X):
        """Original units ``(n, d)`` -> unit cube."""
        return (jnp.asarray(X) - self.bounds[:, 0]) / (self.bounds[:, 1] - self.bounds[:, 0])

    def from_unit(self, U):
        """Unit cube ``(n, d)`` -> original units."""
        return self.bounds[:, 0] + jnp.asarray(U) * (self.bounds[:, 1] - self.bounds[:, 0])

    def _training_data(self):
        """Unit-cube ``X`` and standardised, maximisation-oriented ``y`` of the points the model uses."""
        X, y, failed = (np.asarray(a) for a in self.state[:3])
        y = -y if self.minimize else y.copy()
        if self.failure_policy == "worst" and failed.any() and (~failed).any():
            y[failed] = y[~failed].min()
            failed = np.zeros_like(failed)
        X, y = X[~failed], y[~failed]
        loc, scale = (y.mean(), y.std()) if y.size else (0.0, 1.0)
        scale = scale if scale > 0 else 1.0
        return np.asarray(self.to_unit(X)), (y - loc) / scale, loc, scale

    # -- ask / tell ---------------------------------------------------------------
    def ask(self, q: int = 1):
        """Propose ``q`` points ``(q, d)`` in the original units."""
        if not isinstance(q, (int, np.integer)) or q < 1:
            raise ValueError(f"q must be a positive integer, got {q!r}")
        key, k_fit, k_acq = jax.random.split(self.state.key, 3)
        self.state = self.state._replace(key=key)
        Xu, yu, loc, scale = self._training_data()
        if Xu.shape[0] < self.num_initial:
            n = self.state.X.shape[0]
            sob = qmc.Sobol(self.d, scramble=True, seed=self.seed)
            if n:
                sob.fast_forward(n)
            return np.asarray(self.from_unit(sob.random(q)))
        U = self._propose(Xu, yu, q, k_fit, k_acq)
        return np.asarray(self.from_unit(U))

    def fit(self, key=None):
        """Fit the surrogate to the current data -> ``(params, cache, (X, y, mask))`` (unit/standardised)."""
        Xu, yu, loc, scale = self._training_data()
        key = jax.random.PRNGKey(self.seed) if key is None else key
        return self._fit(Xu, yu, key) + ((loc, scale),)

    def _fit(self, Xu, yu, key):
        s = self.settings
        X, y, mask = pad_data(Xu, yu, s["pad_to"])
        if self.inference == "map":
            params = self.surrogate.fit_map(X, y, mask, key)
        else:
            params = self.surrogate.fit_nuts(X, y, mask, key, num_warmup=s["nuts_warmup"],
                                             num_samples=s["nuts_samples"], thinning=s["nuts_thinning"])
        return params, self.surrogate.cache(params, X, y, mask), (X, y, mask)

    def _propose(self, Xu, yu, q, k_fit, k_acq):
        s = self.settings
        params, cache, (X, y, mask) = self._fit(Xu, yu, k_fit)
        k_base, k_opt, k_path = jax.random.split(k_acq, 3)
        best = float(yu.max())
        kind = self.acquisition
        if q > 1 and kind in ANALYTIC:
            kind = {"ei": "qei", "log_ei": "qei", "pi": "qpi", "log_pi": "qpi", "ucb": "qucb"}[kind]
        if q > 1 and kind == "mes":
            raise ValueError("acquisition 'mes' proposes one point at a time (q = 1)")
        S = cache.variance.shape[0]
        chunk = min(s["chunk"], S)
        local = self._local_candidates(Xu, yu, jax.random.fold_in(k_acq, 11))
        if kind in ANALYTIC:
            acq = Analytic(self.surrogate, cache, best, kind, s["beta"], chunk)
        elif kind in MC:
            base = jax.random.normal(k_base, (s["num_mc"], q))
            acq = MonteCarlo(self.surrogate, cache, best, base, kind, s["beta"], chunk=chunk)
        elif kind == "qnei":
            acq = NoisyEI(self.surrogate, cache, jax.random.normal(k_base, (s["num_mc"], X.shape[0] + q)), chunk)
        elif kind == "thompson":
            acq = Thompson(self._paths(params, Xu, yu, q, k_path))
        else:
            acq = MaxValueEntropy(self.surrogate, cache, self._max_values(params, Xu, yu, k_path), chunk)
        Z, value = maximize_acquisition(acq, self.d, k_opt, q=q, num_restarts=s["num_restarts"],
                                        raw_samples=s["raw_samples"], steps=s["steps"],
                                        separable=acq.separable, extra_candidates=local)
        self.last = dict(params=params, cache=cache, acquisition=acq, value=value)
        return np.asarray(Z)

    def _local_candidates(self, Xu, yu, key, num_best: int = 3, num_local: int = 64, scale: float = 0.05):
        """Raw starts near the best points: the ``num_best`` best ``(k, d)`` and ``num_local`` Gaussian
        perturbations (sd ``scale`` of the unit cube, clipped) of them. Sobol starts alone rarely land
        in the incumbent's basin in 6-D; these let the ascent refine it."""
        top = Xu[np.argsort(-yu)[:num_best]]
        pick = jax.random.randint(key, (num_local,), 0, top.shape[0])
        noise = scale * jax.random.normal(jax.random.fold_in(key, 1), (num_local, self.d))
        return jnp.concatenate([jnp.asarray(top), jnp.clip(jnp.asarray(top)[pick] + noise, 0.0, 1.0)])

    def _paths(self, params, Xu, yu, num, key, num_features=512):
        """``num`` pathwise posterior sample functions stacked over a leading axis (one per draw picked)."""
        ls, var, noise, mean = self.surrogate.hypers(params)
        S = var.shape[0]
        keys = jax.random.split(key, num + 1)
        draws = np.asarray(jax.random.randint(keys[0], (num,), 0, S))
        paths = [pathwise_posterior(self.surrogate.kernel(ls[i], var[i]), Xu, yu, noise=noise[i], key=keys[j + 1],
                                    num_samples=1, num_features=num_features, mean=mean[i])
                 for j, i in enumerate(draws)]
        return jax.tree.map(lambda *a: jnp.stack(a), *paths)

    def _max_values(self, params, Xu, yu, key, num=16, num_candidates=1024):
        """``(num,)`` samples of ``max f`` from pathwise samples on Sobol candidates plus the data."""
        k_path, k_cand = jax.random.split(key)
        paths = self._paths(params, Xu, yu, num, k_path)
        C = jnp.concatenate([raw_candidates(k_cand, num_candidates, self.d), jnp.asarray(Xu)])
        vals = jax.vmap(lambda p: p(C)[0])(paths)
        # A sample maximum below the incumbent is impossible for noiseless data; floor it slightly above.
        return jnp.maximum(vals.max(axis=1), yu.max() + 1e-6)

    def tell(self, X, y):
        """Record evaluations ``X`` ``(q, d)`` (original units) and ``y`` ``(q,)`` (NaN/inf = failed)."""
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if X.ndim == 1 and self.d == 1:
            X = X[:, None]
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must have shape (q, {self.d}), got {X.shape}")
        y = y.reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have one value per row of X ({X.shape[0]}), got shape {y.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X must be finite")
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        tol = 1e-9 * (hi - lo)
        outside = np.any((X < lo - tol) | (X > hi + tol), axis=1)
        if outside.any():
            raise ValueError(f"X rows {np.flatnonzero(outside).tolist()} lie outside bounds {self.bounds.tolist()}")
        X = np.clip(X, lo, hi)
        failed = ~np.isfinite(y)
        st = self.state
        self.state = st._replace(X=jnp.concatenate([st.X, jnp.asarray(X)]),
                                 y=jnp.concatenate([st.y, jnp.asarray(y)]),
                                 failed=jnp.concatenate([st.failed, jnp.asarray(failed)]))

    # -- results -----------------------------------------------------------------
    def best(self):
        """``(x (d,), y)``: the best successful evaluation so far."""
        X, y, failed = (np.asarray(a) for a in self.state[:3])
        if (~failed).sum() == 0:
            raise ValueError("no successful evaluation has been told yet")
        yy = np.where(failed, np.inf if self.minimize else -np.inf, y)
        i = int(np.argmin(yy) if self.minimize else np.argmax(yy))
        return X[i], float(y[i])

    # -- persistence -----------------------------------------------------------
    def config(self) -> dict:
        return dict(bounds=self.bounds.tolist(), seed=self.seed, minimize=self.minimize,
                    acquisition=self.acquisition, inference=self.inference, surrogate=self.surrogate.config(),
                    num_initial=self.num_initial, failure_policy=self.failure_policy, **self.settings)

    def save(self, path):
        """Write settings and state to ``path`` (``.npz``); returns the path."""
        st = self.state
        np.savez(path, X=np.asarray(st.X), y=np.asarray(st.y), failed=np.asarray(st.failed),
                 key=np.asarray(jax.random.key_data(st.key) if jnp.issubdtype(st.key.dtype, jax.dtypes.prng_key)
                                else st.key), config=np.asarray(json.dumps(self.config())))
        return path

    @classmethod
    def load(cls, path) -> Optimizer:
        """Rebuild an optimiser saved by :meth:`save`; it continues exactly where the saved one stopped."""
        with np.load(path, allow_pickle=False) as f:
            cfg = json.loads(str(f["config"]))
            state = BOState(jnp.asarray(f["X"]), jnp.asarray(f["y"]), jnp.asarray(f["failed"]),
                            jnp.asarray(f["key"]))
        cfg["surrogate"] = GPSurrogate(**cfg["surrogate"])
        return cls(cfg.pop("bounds"), state=state, **cfg)
