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

**Pending points (asynchronous workers).** Every point ``ask`` returns is
*pending* until a ``tell`` reports it (in any order, alone or with others;
a told row matches a pending point within ``1e-9`` of the box width per
coordinate). Later asks never return a pending point again: in the initial
design they continue the Sobol sequence past the pending points; after it,
the surrogate is conditioned on the pending points fantasised at its
posterior mean ("kriging believer", Ginsbourger et al. 2010) -- the
hyperparameters are fitted to real evaluations only -- so the acquisition
looks elsewhere. ``tell`` also accepts points that were never asked
(evaluations made outside the loop); they are recorded like any other.
``cancel_pending`` drops pending points whose evaluation will never come.
Pending points are saved and restored by ``save``/``load``. The model takes
over from the design once ``num_initial`` points are told or pending and at
least 2 successful evaluations are told.

**Scaling.** Outputs are standardised after dividing by ``max |y|``, so
values of any finite magnitude (``1e200``, ``1e-200``) give the same
standardised targets as moderate ones (plain ``mean``/``std`` overflow or
underflow there).

**Repeated points.** With a fixed surrogate noise (``GPSurrogate(noise=...)``)
a point told again with a clearly different value is warned about: the model
averages such values as if they were nearly exact.

**Counts** (``q``, ``num_initial``, ``num_mc``, ...) must be integers (NumPy
integers and integral floats accepted); ``2.5`` is refused, not truncated.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

from bayeskern._counts import as_count
from bayeskern._display import html_table
from bayeskern.features.pathwise import pathwise_posterior
from bayeskern.optimize.acqf import (
    ANALYTIC,
    MC,
    Analytic,
    MaxValueEntropy,
    MonteCarlo,
    NoisyEI,
    Thompson,
)
from bayeskern.optimize.maximize import maximize_acquisition, raw_candidates
from bayeskern.optimize.surrogate import GPSurrogate, pad_data
from bayeskern.results import Result

__all__ = ["ACQUISITIONS", "BOState", "Optimizer"]

ACQUISITIONS = ANALYTIC + MC + ("qnei", "thompson", "mes")
INFERENCE = ("map", "nuts")
FAILURE_POLICIES = ("ignore", "worst")


def _standardise(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``((y - loc) / scale, loc, scale)`` computed without overflow or underflow.

    ``y.mean()`` / ``y.std()`` overflow for ``|y| ~ 1e200`` (the squares are infinite: all targets
    became 0) and underflow for ``|y| ~ 1e-200`` (std 0: the targets stayed ~1e-200, a flat model).
    Dividing by ``max |y|`` first keeps every intermediate in ``[-1, 1]``; the standardised targets
    are those of the exact arithmetic. ``scale`` (reported, not used for the targets) may be inf.
    """
    if y.size == 0:
        return y, 0.0, 1.0
    m = float(np.max(np.abs(y)))
    if m == 0.0:
        return y.copy(), 0.0, 1.0
    y1 = y / m
    loc1, sd1 = float(y1.mean()), float(y1.std())
    sd1 = sd1 if sd1 > 0 else 1.0
    out = (y1 - loc1) / sd1
    if not np.all(np.isfinite(out)):  # not reachable for finite y; a guard against a silent wrong model
        raise ValueError(f"the objective values y could not be standardised (max |y| = {m:g}); rescale y")
    with np.errstate(over="ignore"):
        return out, loc1 * m, sd1 * m


class BOState(NamedTuple):
    """Loop state (a pytree). ``X`` ``(n, d)`` original units, ``y`` ``(n,)`` as told, ``failed`` ``(n,)``."""

    X: jax.Array
    y: jax.Array
    failed: jax.Array
    key: jax.Array


class Optimizer(Result):
    """Ask/tell Bayesian optimiser over a box.

    A :class:`~bayeskern.results.Result`: ``summary()`` (one row per told
    evaluation), ``plot()`` (best value so far), ``save``/``load`` (it
    continues exactly where the saved one stopped).

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
        counts = dict(num_mc=num_mc, num_restarts=num_restarts, raw_samples=raw_samples, chunk=chunk, pad_to=pad_to,
                      nuts_samples=nuts_samples, nuts_thinning=nuts_thinning)
        counts = {name: as_count(v, name) for name, v in counts.items()}
        counts.update(steps=as_count(steps, "steps", minimum=0), nuts_warmup=as_count(nuts_warmup, "nuts_warmup", minimum=0))
        if surrogate is not None and not isinstance(surrogate, GPSurrogate):
            raise ValueError(f"surrogate must be a GPSurrogate, got {type(surrogate).__name__}")
        self.bounds = b
        self.d = b.shape[0]
        self.seed, self.minimize, self.acquisition, self.inference = int(seed), bool(minimize), acquisition, inference
        self.surrogate = surrogate or GPSurrogate()
        self.num_initial = 2 * (self.d + 1) if num_initial is None else as_count(num_initial, "num_initial")
        self.settings = dict(beta=float(beta), **{k: counts[k] for k in (
            "num_mc", "num_restarts", "raw_samples", "steps", "nuts_warmup", "nuts_samples", "nuts_thinning", "chunk",
            "pad_to")})
        self.failure_policy = failure_policy
        if state is None:
            state = BOState(jnp.zeros((0, self.d)), jnp.zeros((0,)), jnp.zeros((0,), bool),
                            jax.random.PRNGKey(self.seed))
        self.state = state
        self.pending = np.zeros((0, self.d))  # asked, not yet told (original units)
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
        yu, loc, scale = _standardise(y)
        return np.asarray(self.to_unit(X)), yu, loc, scale

    # -- ask / tell ---------------------------------------------------------------
    def ask(self, q: int = 1):
        """Propose ``q`` points ``(q, d)`` in the original units."""
        q = as_count(q, "q")
        key, k_fit, k_acq = jax.random.split(self.state.key, 3)
        self.state = self.state._replace(key=key)
        Xu, yu, loc, scale = self._training_data()
        n_pending = self.pending.shape[0]
        if Xu.shape[0] + n_pending < self.num_initial or Xu.shape[0] < 2:
            # Initial design: the Sobol sequence continues past every told and pending point.
            n = self.state.X.shape[0] + n_pending
            sob = qmc.Sobol(self.d, scramble=True, seed=self.seed)
            if n:
                sob.fast_forward(n)
            X = np.asarray(self.from_unit(sob.random(q)))
        else:
            U = self._propose(Xu, yu, q, k_fit, k_acq, np.asarray(self.to_unit(self.pending)))
            X = np.asarray(self.from_unit(U))
        self.pending = np.concatenate([self.pending, X])
        return X

    def cancel_pending(self, X=None) -> None:
        """Forget pending points ``X`` ``(m, d)`` (all of them when None) whose evaluations will not be told."""
        if X is None:
            self.pending = np.zeros((0, self.d))
            return
        X = self._as_rows(X)
        before = self.pending
        found = self._match_pending(X)
        if not np.all(found >= 0):
            self.pending = before
            missing = X[found < 0].tolist()
            raise ValueError(f"cancel_pending: X rows {missing} are not pending points; nothing was cancelled")

    def _as_rows(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None] if self.d == 1 else X[None, :]
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must have shape (q, {self.d}), got {X.shape}")
        return X

    def _match_pending(self, X) -> np.ndarray:
        """For each row of ``X``, the index of the pending point it matches (-1 if none); matched ones removed."""
        tol = 1e-9 * (self.bounds[:, 1] - self.bounds[:, 0])
        out = np.full(X.shape[0], -1)
        keep = np.ones(self.pending.shape[0], bool)
        for r, x in enumerate(X):
            hit = np.flatnonzero(keep & np.all(np.abs(self.pending - x) <= tol, axis=1))
            if hit.size:
                out[r] = hit[0]
                keep[hit[0]] = False
        self.pending = self.pending[keep]
        return out

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

    def _propose(self, Xu, yu, q, k_fit, k_acq, pending=None):
        s = self.settings
        params, cache, (X, y, mask) = self._fit(Xu, yu, k_fit)
        if pending is not None and pending.shape[0]:
            # Kriging believer: pending points join the data at the posterior mean (averaged over draws),
            # with the hyperparameters fitted to the real evaluations only.
            fantasy = np.asarray(jnp.mean(self.surrogate.predict(cache, jnp.asarray(pending))[0], axis=0))
            Xu_all, yu_all = np.concatenate([Xu, pending]), np.concatenate([yu, fantasy])
            X, y, mask = pad_data(Xu_all, yu_all, s["pad_to"])
            cache = self.surrogate.cache(params, X, y, mask)
        else:
            Xu_all, yu_all = Xu, yu
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
            acq = Thompson(self._paths(params, Xu_all, yu_all, q, k_path))
        else:
            acq = MaxValueEntropy(self.surrogate, cache, self._max_values(params, Xu_all, yu_all, k_path), chunk)
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
        """Record evaluations ``X`` ``(q, d)`` (original units) and ``y`` ``(q,)`` (NaN/inf = failed).

        Rows matching pending points (see the module docstring) resolve them, in any order; rows
        that were never asked are accepted too (external evaluations) and recorded the same way.
        """
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
        if self.surrogate.noise is not None:
            self._warn_conflicting_repeats(X, y, failed)
        self._match_pending(X)
        st = self.state
        self.state = st._replace(X=jnp.concatenate([st.X, jnp.asarray(X)]),
                                 y=jnp.concatenate([st.y, jnp.asarray(y)]),
                                 failed=jnp.concatenate([st.failed, jnp.asarray(failed)]))

    def _warn_conflicting_repeats(self, X, y, failed):
        """Warn when a point is told again with a clearly different value while the surrogate's noise is fixed."""
        Xa = np.concatenate([np.asarray(self.state.X), X])
        ya = np.concatenate([np.asarray(self.state.y), y])
        ok = np.concatenate([~np.asarray(self.state.failed), ~failed])
        Xa, ya = Xa[ok], ya[ok]
        n_old = int(ok[: self.state.X.shape[0]].sum())
        if Xa.shape[0] < 2:
            return
        _, inv = np.unique(Xa, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        _, _, scale = _standardise(-ya if self.minimize else ya)
        tol = 10.0 * np.sqrt(self.surrogate.noise) * scale
        for g in set(inv[n_old:].tolist()):
            vals = ya[inv == g]
            if vals.size > 1 and np.ptp(vals) > tol:
                warnings.warn(
                    f"Optimizer.tell: the point {Xa[inv == g][0].tolist()} was told with different values "
                    f"{vals.tolist()}, but the surrogate's noise variance is fixed at {self.surrogate.noise:g} "
                    "(standardised units), so the model will average them as if nearly exact. For a noisy "
                    "objective learn the noise (GPSurrogate(noise=None)) or fix a larger noise variance",
                    UserWarning,
                    stacklevel=3,
                )
                return

    # -- results -----------------------------------------------------------------
    def best(self):
        """``(x (d,), y)``: the best successful evaluation so far."""
        X, y, failed = (np.asarray(a) for a in self.state[:3])
        if (~failed).sum() == 0:
            raise ValueError("no successful evaluation has been told yet")
        yy = np.where(failed, np.inf if self.minimize else -np.inf, y)
        i = int(np.argmin(yy) if self.minimize else np.argmax(yy))
        return X[i], float(y[i])

    # -- display -------------------------------------------------------------------
    def _summary(self) -> list[tuple[str, str]]:
        X, y, failed = (np.asarray(a) for a in self.state[:3])
        rows = [("bounds", f"{self.d}-D box"), ("objective", "minimise" if self.minimize else "maximise"),
                ("acquisition", self.acquisition), ("inference", self.inference),
                ("told", f"{X.shape[0]} ({int(failed.sum())} failed)"), ("pending", str(self.pending.shape[0]))]
        if (~failed).any():
            x, yb = self.best()
            where = f" at {np.array2string(x, precision=4)}" if self.d <= 4 else ""
            rows.append(("best", f"{yb:.6g}{where}"))
        return rows

    def __repr__(self) -> str:
        return "Optimizer(" + ", ".join(f"{k}={v}" for k, v in self._summary()) + ")"

    def _repr_html_(self) -> str:
        return html_table("Optimizer", dict(self._summary()))

    # -- result protocol ---------------------------------------------------------
    def summary(self):
        """One row per told evaluation: inputs ``x0 .. x{d-1}``, ``y``, ``failed`` and ``best`` (best
        successful ``y`` up to and including that row)."""
        import pandas as pd

        X, y, failed = (np.asarray(a) for a in self.state[:3])
        table = pd.DataFrame(X.reshape(-1, self.d), columns=[f"x{j}" for j in range(self.d)])
        table["y"] = y
        table["failed"] = failed.astype(bool)
        table["best"] = self._best_so_far(y, failed)
        return table

    def _best_so_far(self, y: np.ndarray, failed: np.ndarray) -> np.ndarray:
        worst = np.inf if self.minimize else -np.inf
        yy = np.where(failed.astype(bool), worst, y.astype(float))
        best = np.minimum.accumulate(yy) if self.minimize else np.maximum.accumulate(yy)
        return np.where(np.isinf(best), np.nan, best)

    def plot(self, ax=None, **kwargs):
        """Each evaluation's ``y`` (failed ones marked) and the best value so far; returns the ``Axes``.

        ``kwargs`` go to ``Axes.plot`` for the best-so-far line.
        """
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(5, 3))[1] if ax is None else ax
        X, y, failed = (np.asarray(a) for a in self.state[:3])
        failed = failed.astype(bool)
        i = np.arange(1, y.size + 1)
        ax.plot(i[~failed], y[~failed], "o", ms=3, color="C0", alpha=0.6, label="evaluation")
        if failed.any():
            ax.plot(i[failed], np.full(int(failed.sum()), np.nanmax(y[~failed]) if (~failed).any() else 0.0),
                    "x", color="C3", label="failed")
        ax.step(i, self._best_so_far(y, failed), where="post", **{"color": "k", "lw": 1.2, **kwargs},
                label="best so far")
        ax.set_xlabel("evaluation")
        ax.set_ylabel("objective")
        ax.legend(frameon=False)
        return ax

    # -- persistence -----------------------------------------------------------
    def config(self) -> dict:
        return dict(bounds=self.bounds.tolist(), seed=self.seed, minimize=self.minimize,
                    acquisition=self.acquisition, inference=self.inference, surrogate=self.surrogate.config(),
                    num_initial=self.num_initial, failure_policy=self.failure_policy, **self.settings)

    def save(self, path) -> str:
        """Write settings and state to ``path`` (``.npz``); returns the path."""
        st = self.state
        meta = json.dumps({"format": 1, "class": f"{type(self).__module__}:{type(self).__qualname__}"})
        path = os.fspath(path)
        with open(path, "wb") as fh:  # a file handle keeps NumPy from appending ".npz" to the name
            np.savez(fh, __bayeskern__=np.asarray(meta), X=np.asarray(st.X), y=np.asarray(st.y), failed=np.asarray(st.failed),
                 key=np.asarray(jax.random.key_data(st.key) if jnp.issubdtype(st.key.dtype, jax.dtypes.prng_key)
                                else st.key), config=np.asarray(json.dumps(self.config())),
                     pending=self.pending)
        return path

    @classmethod
    def load(cls, path) -> Optimizer:
        """Rebuild an optimiser saved by :meth:`save`; it continues exactly where the saved one stopped."""
        import zipfile

        if not os.path.isfile(path):
            raise FileNotFoundError(f"Optimizer.load: no file at {os.fspath(path)!r} (expected Optimizer.save's .npz)")
        if not zipfile.is_zipfile(path):
            raise ValueError(f"Optimizer.load: {os.fspath(path)!r} is not an optimiser saved by Optimizer.save "
                             "(expected a .npz archive; a fit from Fit.save is read by Fit.load)")
        with np.load(path, allow_pickle=False) as f:
            missing = sorted({"config", "X", "y", "failed", "key"} - set(f.files))
            if "__bayeskern__" in f.files and "Optimizer" not in str(f["__bayeskern__"]):
                raise ValueError(f"Optimizer.load: {os.fspath(path)!r} holds another kind of result; "
                                 "read it with bayeskern.load")
            if missing:
                raise ValueError(f"Optimizer.load: {os.fspath(path)!r} is a .npz archive but not an optimiser "
                                 f"saved by Optimizer.save (missing {missing})")
            cfg = json.loads(str(f["config"]))
            state = BOState(jnp.asarray(f["X"]), jnp.asarray(f["y"]), jnp.asarray(f["failed"]),
                            jnp.asarray(f["key"]))
            pending = np.asarray(f["pending"]) if "pending" in f.files else None
        cfg["surrogate"] = GPSurrogate.from_config(cfg["surrogate"])
        opt = cls(cfg.pop("bounds"), state=state, **cfg)
        if pending is not None:
            opt.pending = pending.reshape(-1, opt.d)
        return opt
