"""Cox-process likelihoods given the intensity: binned counts and exact locations with quadrature.

Conditional on the intensity ``λ``, a Poisson process on a window ``W`` has
log likelihood ``Σ_i log λ(x_i) − ∫_W λ(x) dx``. Two interchangeable ways
to evaluate it:

* **binned** (:func:`binned_log_likelihood`, :func:`cox_counts`): ``λ`` is
  constant on grid cells, the counts ``y_c`` are independent Poisson with
  mean ``λ_c a_c`` (``a_c`` the cell's exposure). This equals the exact
  point-process likelihood of the piecewise-constant intensity up to the
  data-only constant ``Σ_c (y_c log a_c − log y_c!)``
  (:func:`binning_constant`), so it gives the same posterior; each cell
  is one observation for LOO.
* **exact locations** (:func:`point_process_log_likelihood`,
  :func:`cox_points`): ``log λ`` at the events, and the integral by a
  quadrature rule ``Σ_j w_j λ(u_j)`` on nodes from :func:`quadrature_nodes`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy.special import gammaln

from bayeskern.cox.grid import _cell_boxes
from bayeskern.cox.windows import Polygon, SpaceTime, as_window

__all__ = [
    "binned_log_likelihood",
    "binning_constant",
    "cox_counts",
    "cox_points",
    "point_process_log_likelihood",
    "quadrature_nodes",
]


def binned_log_likelihood(log_intensity, counts, exposure):
    """Poisson log likelihood of cell counts: ``Σ_c y_c log(λ_c a_c) − λ_c a_c − log y_c!``.

    Args:
        log_intensity: ``(..., N)`` log intensity per unit measure in each cell.
        counts: ``(N,)`` non-negative integer counts.
        exposure: ``(N,)`` positive cell exposures (pass only observed cells).

    Returns:
        ``(...)`` log likelihood.
    """
    counts = jnp.asarray(counts)
    log_rate = log_intensity + jnp.log(exposure)
    return jnp.sum(counts * log_rate - jnp.exp(log_rate) - jax.scipy.special.gammaln(counts + 1.0), axis=-1)


def binning_constant(counts, exposure) -> float:
    """``Σ_c (y_c log a_c − log y_c!)``: binned minus exact point-process log likelihood (constant intensity per cell)."""
    counts = np.asarray(counts, float)
    exposure = np.asarray(exposure, float)
    return float(np.sum(counts * np.log(exposure) - gammaln(counts + 1.0)))


def point_process_log_likelihood(log_intensity_events, intensity_nodes, weights):
    """``Σ_i log λ(x_i) − Σ_j w_j λ(u_j)``: exact-location likelihood with a quadrature integral.

    Args:
        log_intensity_events: ``(..., n)`` log intensity at the events.
        intensity_nodes: ``(..., J)`` intensity at the quadrature nodes.
        weights: ``(J,)`` quadrature weights (summing to the window's measure).
    """
    return jnp.sum(log_intensity_events, axis=-1) - jnp.sum(weights * intensity_nodes, axis=-1)


def _gauss_legendre(a, b, m):
    x, w = np.polynomial.legendre.leggauss(m)
    return 0.5 * (b - a) * x + 0.5 * (b + a), 0.5 * (b - a) * w


def quadrature_nodes(window, num: int | tuple = 32, *, panels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``(J, dim)`` and weights ``(J,)`` for ``∫_W λ``.

    Intervals and rectangles: tensor-product composite Gauss-Legendre with
    ``panels`` equal panels of ``num`` points per axis (exact for
    polynomials of degree ``2 num − 1`` on each panel). Polygons: the
    centres of a ``num x num`` grid over the bounding box, weighted by the
    exact area of each cell inside the polygon (the midpoint rule, second
    order). Space-time: the spatial rule times Gauss-Legendre in time.
    """
    window = as_window(window)
    if isinstance(window, SpaceTime):
        sn, sw = quadrature_nodes(window.space, num, panels=panels)
        tn, tw = quadrature_nodes(window.time, num, panels=panels)
        nodes = np.concatenate([np.repeat(sn, len(tn), 0), np.tile(tn, (len(sn), 1))], axis=1)
        return nodes, np.repeat(sw, len(tw)) * np.tile(tw, len(sw))
    nums = (int(num),) * window.dim if np.ndim(num) == 0 else tuple(int(n) for n in num)
    if any(n < 1 for n in nums) or panels < 1:
        raise ValueError(f"num and panels must be positive, got {num}, {panels}")
    if isinstance(window, Polygon):
        edges = tuple(np.linspace(a, b, m + 1) for (a, b), m in zip(window.bounds, nums, strict=True))
        lo, hi = _cell_boxes(edges)
        w = window.box_measure(lo, hi)
        keep = w > 0
        return (0.5 * (lo + hi))[keep], w[keep]
    per_axis = []
    for (a, b), m in zip(window.bounds, nums, strict=True):
        cuts = np.linspace(a, b, panels + 1)
        xs, ws = zip(*(_gauss_legendre(cuts[k], cuts[k + 1], m) for k in range(panels)), strict=True)
        per_axis.append((np.concatenate(xs), np.concatenate(ws)))
    mesh = np.meshgrid(*[x for x, _ in per_axis], indexing="ij")
    wmesh = np.meshgrid(*[w for _, w in per_axis], indexing="ij")
    nodes = np.stack([m.ravel() for m in mesh], 1)
    return nodes, np.prod(np.stack([w.ravel() for w in wmesh], 1), axis=1)


def cox_counts(name: str, intensity, grid, counts, *, log_intensity=None):
    """Observe binned counts: a ``Poisson(λ_c a_c)`` sample site ``name`` over the observed cells.

    Args:
        name: the observation site's name.
        intensity: ``(N,)`` intensity per unit measure in every grid cell.
        grid: the :class:`~bayeskern.cox.grid.Grid`.
        counts: ``(N,)`` counts, or None to sample counts (prior/posterior predictive).
        log_intensity: ``(N,)`` ``log λ`` if available (more accurate for the log link).

    Returns:
        The observed (or sampled) counts over the observed cells ``(n_obs,)``.
    """
    obs_idx = grid.observed
    expo = jnp.asarray(grid.exposure[obs_idx])
    if log_intensity is not None:
        rate = jnp.exp(log_intensity[obs_idx] + jnp.log(expo))
    else:
        rate = intensity[obs_idx] * expo
    y = None if counts is None else jnp.asarray(counts)[obs_idx]
    return numpyro.sample(name, dist.Poisson(rate), obs=y)


def cox_points(name: str, log_intensity_events, intensity_nodes, weights):
    """Exact-location likelihood as a ``numpyro.factor`` named ``name`` (quadrature for the integral)."""
    numpyro.factor(name, point_process_log_likelihood(log_intensity_events, intensity_nodes, jnp.asarray(weights)))
