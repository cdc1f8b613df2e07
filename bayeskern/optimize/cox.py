"""Cox-process Bayesian optimisation: search a region for where events concentrate.

An evaluation opens a *window* (a box of fixed half-width around a chosen
centre) and observes every event of an unknown intensity ``λ(x)`` inside it.
The surrogate is a minimal binned log-Gaussian Cox process (Møller et al.
1998) defined here, because ``bayeskern.cox`` had no usable model when this
was written: the box is cut into ``G`` bins per axis, the latent
log-intensity on the bin centres is ``f ~ GP(m, k)`` (Matérn-5/2), and the
data are, per bin ``g``, the event count ``C_g`` and the exposure ``E_g``
(bin volume times the number of windows that covered it):
``C_g ~ Poisson(E_g exp(f_g))`` — exact for a piecewise-constant intensity.

Inference: Laplace's method (Newton, Rasmussen & Williams 2006 Alg. 3.1/3.2)
for ``f | C``; the kernel lengthscale and variance by maximising the Laplace
marginal likelihood over a small grid (vectorised); the mean is the log of
the pooled rate. Acquisitions (all on the grid, vectorised) with
``f ~ N(μ, σ²)`` per bin and ``λ* = max_g exp(μ_g)`` the best
posterior-median intensity:

* ``"ucb"``: ``μ + √β σ`` (an upper quantile of ``log λ``);
* ``"pi"``: ``P(λ > λ*) = Φ((μ − log λ*)/σ)``;
* ``"ei"``: ``E[(λ − λ*)+] = e^{μ+σ²/2} Φ((μ + σ² − log λ*)/σ) − λ* Φ((μ − log λ*)/σ)`` (log-normal);
* ``"count"``: expected number of events in the window, ``Σ_g vol_g e^{μ_g+σ²_g/2}``;
* ``"changepoint"``: expected squared jump of ``log λ`` between neighbouring
  bins, ``E[(f_{g+1} − f_g)²] = (μ_{g+1} − μ_g)² + Var(f_{g+1} − f_g)``,
  summed over axes: it seeks where the intensity changes fastest.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from bayeskern.kernels import Matern52
from bayeskern.linalg import cholesky
from bayeskern.linalg.triangular import cho_solve

__all__ = ["COX_ACQUISITIONS", "CoxSearch", "laplace_poisson"]

COX_ACQUISITIONS = ("ucb", "pi", "ei", "count", "changepoint")


def laplace_poisson(K, m, counts, exposure, num_newton: int = 30):
    """Laplace approximation of ``f | C`` for ``C_g ~ Poisson(E_g e^{f_g})``, ``f ~ N(m, K)``.

    Args:
        K: prior covariance ``(G, G)``; m: prior mean ``(G,)`` or scalar.
        counts, exposure: ``(G,)`` (zero exposure = unobserved bin).

    Returns:
        ``(f_hat (G,), cov (G, G), log_marginal)``: mode, Laplace posterior covariance
        ``(K⁻¹ + W)⁻¹`` and the Laplace approximation of ``log p(C)`` (up to the constant ``−Σ log C_g!``).
    """
    G = K.shape[0]
    m = jnp.broadcast_to(m, (G,))

    def newton(carry, _):
        f, _ = carry
        w = exposure * jnp.exp(f)
        sw = jnp.sqrt(w)
        B = jnp.eye(G) + sw[:, None] * K * sw[None, :]
        L = cholesky(B, name="Laplace B")
        b = w * (f - m) + (counts - w)
        a = b - sw * cho_solve(L, sw * (K @ b))
        return (m + K @ a, a), None

    (f, alpha), _ = jax.lax.scan(newton, (m, jnp.zeros(G)), None, length=num_newton)
    w = exposure * jnp.exp(f)
    sw = jnp.sqrt(w)
    L = cholesky(jnp.eye(G) + sw[:, None] * K * sw[None, :], name="Laplace B")
    a = cho_solve(L, sw[:, None] * K)  # B⁻¹ W½ K
    cov = K - (sw[:, None] * K).T @ a
    loglik = jnp.sum(counts * (jnp.log(jnp.where(exposure > 0, exposure, 1.0)) + f) - w)
    log_marg = -0.5 * alpha @ (f - m) + loglik - jnp.sum(jnp.log(jnp.diagonal(L)))
    return f, cov, log_marg


class CoxSearch:
    """Ask/tell search for the region of highest event intensity, one window per evaluation.

    Args:
        bounds: ``(d, 2)`` box (``d`` = 1 or 2 keeps the grid small).
        half_width: window half-width per axis, scalar or ``(d,)`` (original units).
        acquisition: one of ``COX_ACQUISITIONS``.
        grid: bins per axis.
        beta: UCB weight.
        seed: integer seed (the first window is random).
    """

    LENGTHSCALES = (0.03, 0.06, 0.12, 0.25)
    VARIANCES = (1.0, 4.0)

    def __init__(self, bounds, half_width, *, acquisition: str = "ucb", grid: int = 40, beta: float = 4.0,
                 seed: int = 0):
        b = np.asarray(bounds, float)
        if b.ndim != 2 or b.shape[1] != 2 or not np.all(b[:, 0] < b[:, 1]) or not np.all(np.isfinite(b)):
            raise ValueError(f"bounds must be a finite (d, 2) array with lower < upper, got {b.tolist()}")
        if acquisition not in COX_ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {COX_ACQUISITIONS}, got {acquisition!r}")
        d = b.shape[0]
        hw = np.broadcast_to(np.asarray(half_width, float), (d,)).copy()
        if not np.all(hw > 0) or np.any(2 * hw > b[:, 1] - b[:, 0]):
            raise ValueError("half_width must be positive and the window no wider than the box")
        if int(grid) < 4 or int(grid) ** d > 4096:
            raise ValueError(f"grid must be >= 4 with grid**d <= 4096 bins, got grid={grid}, d={d}")
        self.bounds, self.d, self.half_width, self.acquisition = b, d, hw, acquisition
        self.grid, self.beta, self.seed = int(grid), float(beta), int(seed)
        edges = [np.linspace(lo, hi, self.grid + 1) for lo, hi in b]
        self.edges = edges
        centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
        self.centres = np.array(list(itertools.product(*centres)))  # (G, d), C order
        self.bin_volume = float(np.prod([(hi - lo) / self.grid for lo, hi in b]))
        self.counts = np.zeros(len(self.centres))
        self.exposure = np.zeros(len(self.centres))
        self.windows = []
        self.rng = np.random.default_rng(self.seed)
        self.posterior = None

    # -- windows ------------------------------------------------------------------
    def window(self, centre):
        """The window ``(d, 2)`` around ``centre`` ``(d,)``, shifted to lie inside the box."""
        c = np.clip(np.asarray(centre, float), self.bounds[:, 0] + self.half_width,
                    self.bounds[:, 1] - self.half_width)
        return np.stack([c - self.half_width, c + self.half_width], axis=1)

    def _coverage(self, win):
        """Fraction ``(G,)`` of each bin inside window ``win`` ``(d, 2)``."""
        frac = np.ones(len(self.centres))
        for ax, (lo, hi) in enumerate(win):
            e = self.edges[ax]
            overlap = np.clip(np.minimum(e[1:], hi) - np.maximum(e[:-1], lo), 0, None) / (e[1:] - e[:-1])
            idx = np.unravel_index(np.arange(len(self.centres)), (self.grid,) * self.d)[ax]
            frac *= overlap[idx]
        return frac

    # -- ask / tell ----------------------------------------------------------------
    def ask(self):
        """The next window ``(d, 2)`` to observe."""
        if not self.windows:
            return self.window(self.rng.uniform(self.bounds[:, 0], self.bounds[:, 1]))
        post = self.fit()
        score = np.asarray(self.scores(post))
        return self.window(self.centres[int(np.argmax(score))])

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
        idx = [np.clip(np.searchsorted(self.edges[a], ev[:, a], side="right") - 1, 0, self.grid - 1)
               for a in range(self.d)]
        flat = np.ravel_multi_index(idx, (self.grid,) * self.d) if len(ev) else np.zeros(0, int)
        self.counts += np.bincount(flat, minlength=len(self.centres))
        self.exposure += self.bin_volume * self._coverage(win)
        self.windows.append(win)

    # -- model ------------------------------------------------------------------------
    def fit(self):
        """Laplace posterior at the marginal-likelihood-best (lengthscale, variance) on the grid."""
        span = self.bounds[:, 1] - self.bounds[:, 0]
        Xu = jnp.asarray((self.centres - self.bounds[:, 0]) / span)
        rate = (self.counts.sum() + 0.5) / (self.exposure.sum() + 1e-12)
        m = math.log(rate)
        hyp = np.array(list(itertools.product(self.LENGTHSCALES, self.VARIANCES)))
        f, cov, lm = _fit_all(Xu, jnp.asarray(hyp), m, jnp.asarray(self.counts), jnp.asarray(self.exposure))
        best = int(jnp.argmax(jnp.where(jnp.isfinite(lm), lm, -jnp.inf)))
        self.posterior = dict(mean=f[best], cov=cov[best], lengthscale=hyp[best, 0], variance=hyp[best, 1],
                              prior_mean=m)
        return self.posterior

    def intensity(self, post=None):
        """Posterior mean intensity on the bin centres ``(G,)``, ``E[e^f] = e^{μ + σ²/2}``."""
        post = post or self.posterior
        return jnp.exp(post["mean"] + 0.5 * jnp.diagonal(post["cov"]))

    def scores(self, post):
        """Acquisition of a window centred on each bin ``(G,)``."""
        mu, cov = post["mean"], post["cov"]
        sd = jnp.sqrt(jnp.maximum(jnp.diagonal(cov), 1e-12))
        lam_star = jnp.exp(jnp.max(mu))  # best posterior median intensity (see best())
        kind = self.acquisition
        if kind == "ucb":
            return mu + math.sqrt(self.beta) * sd
        if kind == "pi":
            return ndtr((mu - jnp.log(lam_star)) / sd)
        if kind == "ei":
            ls = jnp.log(lam_star)
            return jnp.exp(mu + 0.5 * sd**2) * ndtr((mu + sd**2 - ls) / sd) - lam_star * ndtr((mu - ls) / sd)
        if kind == "count":
            cover = np.stack([self._coverage(self.window(c)) for c in self.centres])  # (G, G)
            return jnp.asarray(cover) @ (self.bin_volume * self.intensity(post))
        return _changepoint(mu, cov, self.grid, self.d)

    def best(self):
        """Centre ``(d,)`` of the bin with the highest posterior median intensity ``e^μ``.

        (The posterior mean ``e^{μ+σ²/2}`` is inflated in unexplored bins by their variance.)
        """
        post = self.fit()
        return self.centres[int(jnp.argmax(post["mean"]))]


def _changepoint(mu, cov, grid, d):
    G = mu.shape[0]
    shape = (grid,) * d
    idx = np.arange(G).reshape(shape)
    score = jnp.zeros(G)
    var = jnp.diagonal(cov)
    for ax in range(d):
        a = np.take(idx, np.arange(grid - 1), axis=ax).ravel()
        b = np.take(idx, np.arange(1, grid), axis=ax).ravel()
        jump = (mu[b] - mu[a]) ** 2 + var[a] + var[b] - 2 * cov[a, b]
        # a bin scores the jumps to both of its neighbours along this axis
        score = score.at[a].add(jump).at[b].add(jump)
    return score


@jax.jit
def _fit_all(Xu, hyp, m, counts, exposure):
    def one(h):
        K = Matern52(lengthscale=h[0], variance=h[1])(Xu) + 1e-8 * jnp.eye(Xu.shape[0])
        return laplace_poisson(K, m, counts, exposure)
    return jax.lax.map(one, hyp)
