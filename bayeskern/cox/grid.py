"""Regular grids over a window: cell centres, exposures (cell measure inside the window), masks, counts.

The binned scheme treats the intensity as constant on each cell, so the
likelihood of the counts is exact for a piecewise-constant intensity.
Cells are ordered in C (row-major) order over the axes, last axis
fastest -- the order the Kronecker back end uses -- so a field over the
grid reshapes to ``grid.shape``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayeskern._counts import as_count
from bayeskern.cox.windows import Polygon, _as_points, as_window

__all__ = ["Grid", "bin_events", "check_events", "make_grid"]


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    """A regular grid over a window.

    Attributes:
        window: the observation window.
        edges: per axis the cell edges ``(m_d + 1,)``.
        exposure: ``(N,)`` measure of each cell inside the window times any
            user exposure (person-time, effort); 0 outside the window or where
            masked. ``N = ∏ m_d``.
    """

    window: object
    edges: tuple
    exposure: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def dim(self) -> int:
        return len(self.edges)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def axes(self) -> tuple:
        """Per-axis cell centres ``(m_d,)``."""
        return tuple(0.5 * (e[1:] + e[:-1]) for e in self.edges)

    @property
    def centres(self) -> np.ndarray:
        """Cell centres ``(N, dim)`` in C order."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    @property
    def cell_volume(self) -> np.ndarray:
        """Full cell measure ``(N,)`` (ignoring the window)."""
        widths = np.meshgrid(*[np.diff(e) for e in self.edges], indexing="ij")
        return np.prod(np.stack([w.ravel() for w in widths], axis=1), axis=1)

    @property
    def observed(self) -> np.ndarray:
        """Indices ``(n_obs,)`` of cells with positive exposure (the cells the likelihood uses)."""
        return np.flatnonzero(self.exposure > 0)

    def locate(self, points) -> np.ndarray:
        """Flat cell index ``(n,)`` of each point ``(n, dim)``; points on the upper edge go to the last cell.

        Raises:
            ValueError: a point lies outside the grid's bounding box.
        """
        P = _as_points(points, self.dim)
        idx = []
        for d, e in enumerate(self.edges):
            if np.any((P[:, d] < e[0]) | (P[:, d] > e[-1])):
                raise ValueError(f"points lie outside the grid along axis {d} (range [{e[0]}, {e[-1]}])")
            idx.append(np.clip(np.searchsorted(e, P[:, d], side="right") - 1, 0, len(e) - 2))
        return np.ravel_multi_index(tuple(idx), self.shape)

    def counts(self, events) -> np.ndarray:
        """Number of events per cell ``(N,)`` (integer)."""
        events = _as_points(events, self.dim, "events")
        if events.shape[0] == 0:
            return np.zeros(self.size, np.int64)
        return np.bincount(self.locate(events), minlength=self.size).astype(np.int64)

    def region_exposure(self, region) -> np.ndarray:
        """Exposure ``(N,)`` of each cell inside ``region`` (a window spec) as well as the window.

        The intensity is constant on a cell, so the expected count in ``region``
        is ``Σ_c λ_c · region_exposure_c`` (exact under the binned model).
        Cells only partly covered by the window are scaled by the fraction
        of their exposure that lies in the region.
        """
        region = as_window(region)
        if region.dim != self.dim:
            raise ValueError(f"region must be {self.dim}-dimensional like the window, got {region!r}")
        lo, hi = _cell_boxes(self.edges)
        full = self.window.box_measure(lo, hi)
        inter = _intersection_measure(self.window, region, lo, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(full > 0, inter / full, 0.0)
        return self.exposure * np.clip(frac, 0.0, 1.0)


def _cell_boxes(edges):
    lo = np.meshgrid(*[e[:-1] for e in edges], indexing="ij")
    hi = np.meshgrid(*[e[1:] for e in edges], indexing="ij")
    return np.stack([m.ravel() for m in lo], 1), np.stack([m.ravel() for m in hi], 1)


def _intersection_measure(window, region, lo, hi):
    """Measure of window ∩ region ∩ cell. Exact when one of the two is a box; else the region's measure
    on the cells the window covers fully (and a sub-cell midpoint estimate on the boundary cells)."""
    if not isinstance(region, Polygon) or not isinstance(window, Polygon):
        # Boxes intersect boxes: clip the cell to the box, then measure the other.
        box, other = (region, window) if not isinstance(region, Polygon) else (window, region)
        blo = np.array([b[0] for b in box.bounds])
        bhi = np.array([b[1] for b in box.bounds])
        return other.box_measure(np.maximum(lo, blo), np.maximum(np.minimum(hi, bhi), np.maximum(lo, blo)))
    # Polygon ∩ polygon: 8 x 8 sub-cells per cell with the window's exact area fraction.
    sub = 8
    out = np.zeros(lo.shape[0])
    for i in range(lo.shape[0]):
        xs = np.linspace(lo[i, 0], hi[i, 0], sub + 1)
        ys = np.linspace(lo[i, 1], hi[i, 1], sub + 1)
        slo, shi = _cell_boxes((xs, ys))
        centres = 0.5 * (slo + shi)
        out[i] = np.sum(window.box_measure(slo, shi) * region.contains(centres))
    return out


def check_events(events, window) -> np.ndarray:
    """Events as a concrete ``(n, dim)`` array, every one inside ``window``.

    Raises:
        ValueError: no events, NaN coordinates, wrong dimension, or events outside the window.
    """
    window = as_window(window)
    try:
        arr = np.asarray(events, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"events must be an array of numbers, got {type(events).__name__}") from None
    if arr.size == 0:
        raise ValueError("events is empty: a Cox-process fit needs at least one event")
    P = _as_points(arr, window.dim, "events")
    outside = ~window.contains(P)
    if np.any(outside):
        raise ValueError(
            f"{int(outside.sum())} event(s) lie outside the window {window!r}, e.g. {P[np.argmax(outside)].tolist()}"
        )
    return P


def make_grid(window, shape, *, exposure=None, mask=None) -> Grid:
    """A regular grid over ``window``'s bounding box.

    Args:
        window: window spec or object (see :func:`bayeskern.cox.windows.as_window`).
        shape: cells per axis (int for all axes, or one per axis).
        exposure: optional per-cell multiplier ``(N,)`` or ``shape`` (effort,
            population at risk); must be non-negative.
        mask: optional boolean ``(N,)`` or ``shape``: False cells are not
            observed (exposure 0).

    Returns:
        A :class:`Grid` whose exposure is the exact cell measure inside the window
        (times ``exposure``, zero where ``mask`` is False).
    """
    window = as_window(window)
    dims = window.dim
    if np.ndim(shape) == 0:
        shape = (as_count(shape, "shape (cells per axis)"),) * dims
    else:
        shape = tuple(as_count(s, f"shape[{i}] (cells on axis {i})") for i, s in enumerate(shape))
    if len(shape) != dims or any(s < 1 for s in shape):
        raise ValueError(f"shape must give {dims} positive cell counts, got {shape}")
    edges = tuple(np.linspace(a, b, m + 1) for (a, b), m in zip(window.bounds, shape, strict=True))
    lo, hi = _cell_boxes(edges)
    expo = window.box_measure(lo, hi)
    N = int(np.prod(shape))
    if exposure is not None:
        e = np.asarray(exposure, dtype=float).reshape(-1)
        if e.shape != (N,):
            raise ValueError(f"exposure must have {N} entries (one per cell, shape {shape}), got {np.shape(exposure)}")
        if not np.all(np.isfinite(e)) or np.any(e < 0):
            raise ValueError("exposure must be finite and non-negative in every cell")
        expo = expo * e
    if mask is not None:
        m = np.asarray(mask).reshape(-1)
        if m.shape != (N,) or m.dtype != bool:
            raise ValueError(f"mask must be a boolean array with {N} entries (shape {shape}), got {np.shape(mask)}")
        expo = np.where(m, expo, 0.0)
    if not np.any(expo > 0):
        raise ValueError("no cell has positive exposure: the window, mask and exposure leave nothing observed")
    return Grid(window, edges, expo)


def bin_events(events, window, shape, **kwargs) -> tuple[Grid, np.ndarray]:
    """``(grid, counts)``: a grid over ``window`` and the event counts per cell ``(N,)``."""
    P = check_events(events, window)
    grid = make_grid(window, shape, **kwargs)
    counts = grid.counts(P)
    lost = counts[grid.exposure <= 0].sum()
    if lost:
        raise ValueError(f"{int(lost)} event(s) fall in cells with zero exposure (masked or outside the window)")
    return grid, counts
