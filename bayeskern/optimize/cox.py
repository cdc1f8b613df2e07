"""Cox-process Bayesian optimisation: search a box for where events concentrate, one window at a time.

An evaluation opens a *window* (a box of fixed half-width around a chosen
centre) and observes every event of an unknown intensity ``λ(x)`` inside it.
The surrogate is the Gaussian Cox process of
:mod:`bayeskern.optimize.cox_surrogate` (grid, binned likelihood and links
from :mod:`bayeskern.cox`; Laplace posteriors averaged over kernel
hyperparameters).

Acquisitions score candidate windows (centres on a regular grid of valid
positions). With ``f̄_w`` the average of the latent field over window ``w``
-- Gaussian under each Laplace component, mean ``c_wᵀ μ / |w|``, variance
``‖V c_w‖² / |w|²`` with ``c_w`` the cell-window overlaps -- and
``λ̄_w = g(f̄_w)`` the window's (for the log link: geometric-mean)
intensity:

* ``"ucb"``: ``E f̄_w + √β sd f̄_w``, an upper quantile of ``λ̄_w``;
* ``"pi"``: ``P(λ̄_w > λ*) = Φ((E f̄_w − g⁻¹(λ*)) / sd f̄_w)``;
* ``"ei"``: ``E[(λ̄_w − λ*)+]``; log link: ``e^{μ+σ²/2} Φ((μ + σ² − log λ*)/σ) − λ* Φ((μ − log λ*)/σ)``
  (log-normal), other links by Gauss-Hermite quadrature;
* ``"count"``: expected number of events in the window ``Σ_c c_wc E[g(f_c)]``
  (``e^{μ_c + σ_c²/2}`` for the log link);
* ``"changepoint"``: mean over the window of the expected squared jump of
  ``f`` between neighbouring cells, ``E[(f_b − f_a)²] = (μ_b − μ_a)² +
  Var(f_b − f_a)``: it seeks where the intensity changes fastest.

``λ*`` is the largest window intensity under the posterior mean of ``f̄``.
Every acquisition is averaged over the hyperparameter components with their
posterior weights (fully Bayesian over the kernel hyperparameters).
Scoring whole windows (not the centre cell) makes the search prefer windows
that do not overlap what it has already seen.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from bayeskern._counts import as_count
from bayeskern.optimize.cox_surrogate import CoxPosterior, CoxSurrogate

__all__ = ["COX_ACQUISITIONS", "CoxSearch", "window_scores"]

COX_ACQUISITIONS = ("ucb", "pi", "ei", "count", "changepoint")
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(40)  # ∫ h(x) φ(x) dx ≈ Σ w h(x) / √(2π)
_GH_W = _GH_W / math.sqrt(2 * math.pi)


def _gauss_expect(fn, mu, sd):
    """``E[fn(X)]`` for ``X ~ N(mu, sd²)`` elementwise, by 40-point Gauss-Hermite."""
    x = mu[..., None] + sd[..., None] * jnp.asarray(_GH_X)
    return jnp.sum(jnp.asarray(_GH_W) * fn(x), axis=-1)


class CoxSearch:
    """Ask/tell search for the region of highest event intensity, one window per evaluation.

    Args:
        bounds: ``(d, 2)`` box (``d`` = 1 or 2).
        half_width: window half-width per axis, scalar or ``(d,)`` (original units).
        acquisition: one of ``COX_ACQUISITIONS``.
        beta: UCB weight (default 16, i.e. 4 posterior sds: the window average has a smaller sd than a
            cell, and a narrow peak in an unexplored part of the box is invisible to the model until a
            window covers it, so the search has to lean towards exploring).
        num_candidates: candidate window centres per axis (default: the grid size, at most 16 in 2-D).
        seed: integer seed (the first window is random).
        surrogate: a :class:`CoxSurrogate` over ``bounds`` (default: dense field, 40 cells in 1-D;
            HSGP field with 10 x 10 basis functions on 24 x 24 cells in 2-D).
    """

    def __init__(self, bounds, half_width, *, acquisition: str = "ucb", beta: float = 16.0,
                 num_candidates: int | None = None, seed: int = 0, surrogate: CoxSurrogate | None = None, **kw):
        b = np.asarray(bounds, float)
        if b.ndim != 2 or b.shape[1] != 2 or not np.all(b[:, 0] < b[:, 1]) or not np.all(np.isfinite(b)):
            raise ValueError(f"bounds must be a finite (d, 2) array with lower < upper, got {b.tolist()}")
        if acquisition not in COX_ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {COX_ACQUISITIONS}, got {acquisition!r}")
        d = b.shape[0]
        hw = np.broadcast_to(np.asarray(half_width, float), (d,)).copy()
        if not np.all(hw > 0) or np.any(2 * hw > b[:, 1] - b[:, 0]):
            raise ValueError("half_width must be positive and the window no wider than the box")
        if not beta > 0:
            raise ValueError(f"beta must be positive, got {beta}")
        if surrogate is None:
            # The window is sized to the regions sought, so the prior expects structure at its width.
            scale = float(np.mean(2 * hw / (b[:, 1] - b[:, 0])))
            kw = ({"grid": 40, "structure": "dense"} if d == 1 else {"grid": 24, "structure": "hsgp", "num_basis": 10}) | \
                {"prior_lengthscale": scale} | kw
            surrogate = CoxSurrogate(b, **kw)
        elif kw:
            raise ValueError(f"surrogate settings {sorted(kw)} are only used without a surrogate")
        if not np.allclose(surrogate.bounds, b):
            raise ValueError("surrogate bounds must equal bounds")
        self.bounds, self.d, self.half_width, self.acquisition = b, d, hw, acquisition
        self.beta, self.seed, self.surrogate = float(beta), int(seed), surrogate
        nc = num_candidates or (surrogate.shape[0] if d == 1 else min(surrogate.shape[0], 16))
        axes = [np.linspace(lo + h, hi - h, as_count(nc, "num_candidates")) for (lo, hi), h in zip(b, hw, strict=True)]
        self.candidates = np.array(list(itertools.product(*axes)))  # (W, d) window centres
        # Cell-window overlaps (W, G): exact box intersections from bayeskern.cox.grid.
        self.cover = np.stack([surrogate.window_exposure(self.window(c)) for c in self.candidates])
        G = surrogate.grid.size
        self.counts = np.zeros(G)
        self.exposure = np.zeros(G)
        self.windows = []
        self.rng = np.random.default_rng(self.seed)
        self.posterior: CoxPosterior | None = None

    # -- windows ------------------------------------------------------------------
    def window(self, centre):
        """The window ``(d, 2)`` around ``centre`` ``(d,)``, shifted to lie inside the box."""
        c = np.clip(np.asarray(centre, float).reshape(self.d), self.bounds[:, 0] + self.half_width,
                    self.bounds[:, 1] - self.half_width)
        return np.stack([c - self.half_width, c + self.half_width], axis=1)

    # -- ask / tell ----------------------------------------------------------------
    def ask(self):
        """The next window ``(d, 2)`` to observe."""
        if not self.windows:
            return self.window(self.rng.uniform(self.bounds[:, 0], self.bounds[:, 1]))
        score = np.asarray(self.scores(self.fit()))
        return self.window(self.candidates[int(np.argmax(score))])

    def tell(self, window, events):
        """Record a window ``(d, 2)`` and the events ``(k, d)`` observed in it."""
        win = np.asarray(window, float)
        if win.shape != (self.d, 2) or not np.all(win[:, 0] < win[:, 1]):
            raise ValueError(f"window must have shape ({self.d}, 2) with lower < upper, got {win.tolist()}")
        if np.any(win[:, 0] < self.bounds[:, 0] - 1e-12) or np.any(win[:, 1] > self.bounds[:, 1] + 1e-12):
            raise ValueError("window must lie inside bounds")
        ev = np.asarray(events, float).reshape(-1, self.d)
        if not np.all(np.isfinite(ev)):
            raise ValueError("events must be finite")
        if np.any((ev < win[:, 0]) | (ev > win[:, 1])):
            raise ValueError("events must lie inside the window they were observed in")
        self.counts += self.surrogate.counts(ev)
        self.exposure += self.surrogate.window_exposure(win)
        self.windows.append(win)

    # -- model ------------------------------------------------------------------------
    def fit(self) -> CoxPosterior:
        """Laplace posteriors (all hyperparameter components) given every window told so far."""
        self.posterior = self.surrogate.posterior(self.counts, self.exposure)
        return self.posterior

    def scores(self, post: CoxPosterior | None = None):
        """Acquisition ``(W,)`` of every candidate window (``self.candidates``)."""
        post = self.posterior if post is None else post
        return window_scores(post, jnp.asarray(self.cover), self.acquisition, self.beta, self.surrogate.link,
                             self.surrogate.shape)

    def intensity(self, post: CoxPosterior | None = None):
        """Posterior mean intensity per cell ``(G,)`` (mixture over hyperparameter components)."""
        post = self.posterior if post is None else post
        sd = jnp.sqrt(post.var)
        per = (jnp.exp(post.mean + 0.5 * post.var) if self.surrogate.link_name == "log"
               else _gauss_expect(self.surrogate.link.intensity, post.mean, sd))
        return jnp.exp(post.log_weight) @ per

    def best(self):
        """Centre ``(d,)`` of the cell with the highest posterior-mean log intensity ``E f`` (mixture).

        (The posterior mean intensity is inflated in unexplored cells by their variance.)
        """
        post = self.fit()
        return self.surrogate.centres[int(jnp.argmax(jnp.exp(post.log_weight) @ post.mean))]


def window_scores(post: CoxPosterior, cover, kind: str, beta: float, link, shape):
    """Acquisition ``(W,)`` of windows with cell overlaps ``cover`` ``(W, G)`` (see the module docstring)."""
    w = jnp.exp(post.log_weight)  # (H,)
    size = jnp.sum(cover, axis=1)  # (W,) window measures
    if kind in ("ucb", "pi", "ei"):
        mu = post.mean @ cover.T / size  # (H, W)
        sd = jnp.sqrt(jnp.maximum(jnp.sum((post.V @ cover.T) ** 2, axis=1), 1e-18)) / size
        t = jnp.max(w @ mu)  # g⁻¹(λ*): the best window under the posterior mean of f̄
        if kind == "ucb":
            per = mu + math.sqrt(beta) * sd
        elif kind == "pi":
            per = ndtr((mu - t) / sd)
        elif link.name == "log":
            per = jnp.exp(mu + 0.5 * sd**2) * ndtr((mu + sd**2 - t) / sd) - jnp.exp(t) * ndtr((mu - t) / sd)
        else:
            lam_star = link.intensity(t)
            per = _gauss_expect(lambda x: jax.nn.relu(link.intensity(x) - lam_star), mu, sd)
        return w @ per
    var = post.var
    if kind == "count":
        per = (jnp.exp(post.mean + 0.5 * var) if link.name == "log"
               else _gauss_expect(link.intensity, post.mean, jnp.sqrt(var)))
        return w @ (per @ cover.T)
    return w @ (_changepoint(post, shape) @ cover.T) / size


def _changepoint(post: CoxPosterior, shape):
    """Per cell ``(H, G)``: summed expected squared jumps of ``f`` to its grid neighbours."""
    G = int(np.prod(shape))
    idx = np.arange(G).reshape(shape)
    score = jnp.zeros(post.mean.shape)
    for ax in range(len(shape)):
        a = np.take(idx, np.arange(shape[ax] - 1), axis=ax).ravel()
        b = np.take(idx, np.arange(1, shape[ax]), axis=ax).ravel()
        diff_v = post.V[:, :, b] - post.V[:, :, a]  # Var(f_b − f_a) = ‖V_b − V_a‖²
        jump = (post.mean[:, b] - post.mean[:, a]) ** 2 + jnp.sum(diff_v**2, axis=1)
        score = score.at[:, a].add(jump).at[:, b].add(jump)
    return score
