"""Cartesian grids: all points of a grid, and detection of a grid in arbitrary inputs."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["grid_points", "find_grid", "locate_on_grid"]


def grid_points(coords: Sequence) -> np.ndarray:
    """All points ``(N, D)`` of the Cartesian grid of per-axis ``coords``, in C (grid) order."""
    mesh = np.meshgrid(*[np.asarray(c, dtype=float) for c in coords], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def find_grid(X) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Decide whether ``X`` ``(n, D)`` is exactly a full Cartesian grid, in any row order.

    The candidate axes are the sorted distinct values of each column
    (``m_d`` of them, compared exactly); ``X`` is a full grid when
    ``n = ∏ m_d`` and every combination occurs (once).

    Returns:
        ``(coords, cells)``: ``coords`` a tuple of ``D`` sorted ``(m_d,)``
        arrays; ``cells`` ``(n,)`` the flat (C-order) grid index of each row,
        a permutation of ``0..n-1`` (``X[argsort(cells)]`` is the grid in order).

    Raises:
        ValueError: naming why ``X`` is not a full grid.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n, D = X.shape
    coords, idx = [], []
    for d in range(D):
        u, inv = np.unique(X[:, d], return_inverse=True)
        coords.append(u)
        idx.append(inv.reshape(-1))
    shape = tuple(len(c) for c in coords)
    N = math.prod(shape)
    dims = " x ".join(str(m) for m in shape)
    axes = ", ".join(f"x_axis{d}" for d in range(D)) if D <= 3 else f"x_axis0, ..., x_axis{D - 1}"
    hint = (f"For a grid with missing cells pass the full axes explicitly, "
            f"GaussianProcess(..., structure='kronecker', grid=({axes}))")
    if N > n:
        present = len(np.unique(np.ravel_multi_index(tuple(idx), shape))) if N < 2**62 else n
        raise ValueError(
            f"X is not a Cartesian grid: {present} of the {N} combinations of its per-axis values "
            f"({dims}) are present. {hint}"
        )
    cells = np.ravel_multi_index(tuple(idx), shape)
    uniq, counts = np.unique(cells, return_counts=True)
    if len(uniq) < n:
        c0 = uniq[np.flatnonzero(counts > 1)[0]]
        rows = np.flatnonzero(cells == c0)[:2]
        raise ValueError(
            f"X is not a Cartesian grid: rows {rows[0]} and {rows[1]} are the same point {X[rows[0]].tolist()} "
            f"(a grid has each combination of per-axis values once)"
        )
    return tuple(coords), cells.astype(np.int64)


def locate_on_grid(X, coords: Sequence, *, rtol: float = 1e-9) -> np.ndarray:
    """Flat (C-order) grid index ``(n,)`` of each row of ``X`` ``(n, D)`` on the grid of ``coords``.

    A coordinate matches an axis value when within ``rtol`` times the
    axis's span (or ``rtol`` for a single-value axis).

    Raises:
        ValueError: "point i is not on the grid" (naming the axis), or when
        two rows fall on the same cell, or on a dimension mismatch.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[1] != len(coords):
        raise ValueError(f"grid has {len(coords)} axes but X has {X.shape[1]} input dimension(s)")
    shape = tuple(len(c) for c in coords)
    idx = []
    for d, c in enumerate(coords):
        c = np.asarray(c, dtype=float)
        span = float(c[-1] - c[0]) if len(c) > 1 else 1.0
        tol = rtol * (span if span > 0 else 1.0)
        j = np.clip(np.searchsorted(c, X[:, d]), 1, max(len(c) - 1, 1))
        if len(c) == 1:
            best = np.zeros(len(X), int)
        else:
            best = np.where(np.abs(X[:, d] - c[j - 1]) <= np.abs(X[:, d] - c[j]), j - 1, j)
        off = np.abs(X[:, d] - c[best]) > tol
        if np.any(off):
            i = int(np.flatnonzero(off)[0])
            raise ValueError(
                f"point {i} is not on the grid: X[{i}] = {X[i].tolist()} has {X[i, d]!r} on axis {d}, "
                f"which is not one of that axis's {len(c)} grid values (nearest {c[best[i]]!r})"
            )
        idx.append(best)
    cells = np.ravel_multi_index(tuple(idx), shape) if len(X) else np.zeros(0, int)
    uniq, first, counts = np.unique(cells, return_index=True, return_counts=True)
    if np.any(counts > 1):
        c0 = uniq[np.flatnonzero(counts > 1)[0]]
        rows = np.flatnonzero(cells == c0)[:2]
        raise ValueError(
            f"points {rows[0]} and {rows[1]} fall on the same grid cell {X[rows[0]].tolist()}; "
            f"the Kronecker back end needs at most one observation per cell"
        )
    return cells.astype(np.int64)
