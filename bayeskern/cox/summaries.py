"""Posterior summaries of a Cox-process fit: pair correlation and posterior-predictive patterns.

* Pair correlation. For ``λ = g(μ + f)``, ``f ~ GP(0, k)`` stationary,
  ``ρ(r) = E[λ(x) λ(x + r)] / (E λ)²``. For the log link this is
  ``exp(k(r))`` (Møller et al. 1998); for the other links it is computed by
  2-D Gauss-Hermite quadrature over ``(f(x), f(x + r))``.
* Posterior-predictive point patterns by thinning (Lewis & Shedler 1979):
  a homogeneous Poisson process at the draw's maximum intensity on the
  window's bounding box, each point kept with probability ``λ(x)/λ_max``
  (and only inside the window).
"""

from __future__ import annotations

import numpy as np

from bayeskern.cox.links import get_link
from bayeskern.kernels import Kernel

__all__ = ["pair_correlation", "simulate_patterns", "thin"]


def _kernel_draws(fit, kernel_builder):
    """One kernel per posterior draw."""
    S = fit.samples
    n = fit.num_chains * fit.num_draws
    if kernel_builder is not None:
        return [kernel_builder({k: v[i] for k, v in S.items()}) for i in range(n)]
    spec = fit.extras.get("_kernel_spec")

    if isinstance(spec, Kernel):
        return [spec] * n
    cls = spec if isinstance(spec, type) else None
    if cls is None:
        raise ValueError("pair_correlation needs kernel_builder=(draw dict -> Kernel) for this kernel spec")
    prefix = fit.name
    kernels = []
    for i in range(n):
        kw = {p: S[f"{prefix}_{p}"][i] for p in cls._params if f"{prefix}_{p}" in S}
        kernels.append(cls(**kw))
    return kernels


def pair_correlation(fit, r, *, kernel_builder=None, axis: int = 0, gh_points: int = 30,
                     quadrature: bool = False) -> np.ndarray:
    """Draws ``(draws, m)`` of the pair correlation ``ρ(r)`` at lags ``r`` ``(m,)`` along coordinate ``axis``.

    From the spatial field's kernel alone. With covariates (the linear term or
    a ``covariate_kernel`` GP term of the covariate values) this is the
    inhomogeneous pair correlation of Baddeley, Møller & Waagepetersen (2000):
    the covariate terms belong to the first-order intensity, and the
    second-order structure left is that of the stationary spatial field.

    Args:
        fit: a :class:`~bayeskern.cox.fit.CoxFit`.
        r: lags ``(m,)`` (non-negative).
        kernel_builder: ``draw dict -> Kernel`` for kernels the fit cannot rebuild by itself.
        axis: the coordinate the lag runs along (matters for ARD kernels).
        gh_points: Gauss-Hermite points per dimension for non-log links.
        quadrature: use Gauss-Hermite even for the log link (a check on the closed form).
    """
    r = np.atleast_1d(np.asarray(r, float))
    if np.any(~np.isfinite(r)) or np.any(r < 0):
        raise ValueError("r must be finite and non-negative")
    d = fit.grid.dim
    X0 = np.zeros((1, d))
    Xr = np.zeros((len(r), d))
    Xr[:, axis] = r
    kernels = _kernel_draws(fit, kernel_builder)
    out = np.empty((len(kernels), len(r)))
    if fit.link == "log" and not quadrature:
        for i, k in enumerate(kernels):
            out[i] = np.exp(np.asarray(k(X0, Xr))[0])
        return out

    x, w = np.polynomial.hermite_e.hermegauss(gh_points)
    w = w / w.sum()
    mu = np.asarray(fit.samples[f"{fit.name}_mean"])
    for i, k in enumerate(kernels):
        params = {}
        if fit.link == "sigmoid":
            params["max_rate"] = float(fit.samples.get(f"{fit.name}_max_rate", [1.0] * len(kernels))[i])
        g = get_link(fit.link, **params).intensity
        v = float(np.asarray(k(X0, X0))[0, 0])
        c = np.asarray(k(X0, Xr))[0] / v
        a = np.sqrt(v) * x
        m1 = float(np.sum(w * np.asarray(g(mu[i] + a))))
        for j, cj in enumerate(c):
            cj = np.clip(cj, -1.0, 1.0)
            # f(x+r) = c f(x) + sqrt(1-c^2) e, with e independent.
            b = cj * a[:, None] + np.sqrt(max(1.0 - cj * cj, 0.0)) * np.sqrt(v) * x[None, :]
            m2 = np.sum(w[:, None] * w[None, :] * np.asarray(g(mu[i] + a))[:, None] * np.asarray(g(mu[i] + b)))
            out[i, j] = m2 / m1**2
    return out


def thin(cell_intensity, grid, rng) -> np.ndarray:
    """One Poisson pattern ``(n, dim)`` from a piecewise-constant intensity ``(N,)`` on ``grid`` by thinning."""
    lam = np.nan_to_num(np.asarray(cell_intensity, float))
    lmax = float(lam.max())
    lo = np.array([e[0] for e in grid.edges])
    hi = np.array([e[-1] for e in grid.edges])
    n = rng.poisson(lmax * np.prod(hi - lo)) if lmax > 0 else 0
    P = lo + (hi - lo) * rng.random((n, grid.dim))
    if n == 0:
        return P
    cells = grid.locate(P)
    # Inside a partly covered cell only the window part has intensity.
    keep = grid.window.contains(P) & (grid.exposure[cells] > 0) & (rng.random(n) * lmax < lam[cells])
    return P[keep]


def simulate_patterns(fit, num: int = 1, *, seed: int = 0) -> list:
    """``num`` posterior-predictive patterns (list of ``(n_k, dim)`` arrays), each from a random posterior draw."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    rng = np.random.default_rng(seed)
    lam = fit.cell_intensity
    idx = rng.integers(0, lam.shape[0], size=num)
    return [thin(lam[i], fit.grid, rng) for i in idx]
