"""Observation windows of a point process: intervals, rectangles, polygons and space-time products.

A window knows its dimension, its measure (length, area, area x duration),
its bounding box, whether points lie inside it, and -- what the grid
schemes need -- the exact measure of its intersection with an axis-aligned
box (a grid cell). Polygon-cell intersections are computed exactly by
clipping the polygon against the cell (Sutherland-Hodgman: exact for any
simple polygon clipped by a convex region), so cell exposures sum to the
polygon's area to round-off.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Interval", "Polygon", "Rectangle", "SpaceTime", "as_window"]


def _finite_pair(value, name: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (start, end) of numbers, got {value!r}") from None
    if not (np.isfinite(a) and np.isfinite(b)) or not a < b:
        raise ValueError(f"{name} must be finite with start < end, got {value!r}")
    return a, b


def _as_points(points, dim: int, name: str = "points") -> np.ndarray:
    """Concrete ``(n, dim)`` float array; NaNs rejected."""
    P = np.asarray(points, dtype=float)
    if dim == 1 and P.ndim == 1:
        P = P[:, None]
    if P.ndim != 2 or P.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim})" + (" or (n,)" if dim == 1 else "") + f", got {P.shape}")
    if not np.all(np.isfinite(P)):
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    return P


class _Box:
    """Axis-aligned box ``∏_d [lo_d, hi_d]`` (the shared parts of Interval / Rectangle)."""

    def __init__(self, bounds):
        self.bounds = tuple(bounds)

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @property
    def measure(self) -> float:
        """Length / area / volume of the window."""
        return float(np.prod([b - a for a, b in self.bounds]))

    def contains(self, points) -> np.ndarray:
        """``(n,)`` bool: closed-box membership of ``points`` ``(n, dim)``."""
        P = _as_points(points, self.dim)
        inside = np.ones(P.shape[0], bool)
        for d, (a, b) in enumerate(self.bounds):
            inside &= (P[:, d] >= a) & (P[:, d] <= b)
        return inside

    def box_measure(self, lo, hi) -> np.ndarray:
        """Measure of window ∩ boxes ``[lo, hi]`` (arrays ``(m, dim)``) -> ``(m,)``, exactly."""
        lo, hi = np.atleast_2d(lo), np.atleast_2d(hi)
        out = np.ones(lo.shape[0])
        for d, (a, b) in enumerate(self.bounds):
            out *= np.clip(np.minimum(hi[:, d], b) - np.maximum(lo[:, d], a), 0.0, None)
        return out


class Interval(_Box):
    """A time window ``[start, end]``."""

    def __init__(self, start: float, end: float):
        super().__init__([_finite_pair((start, end), "window")])

    def __repr__(self):
        return f"Interval({self.bounds[0][0]}, {self.bounds[0][1]})"


class Rectangle(_Box):
    """A 2-D window ``[x0, x1] x [y0, y1]``."""

    def __init__(self, x, y):
        super().__init__([_finite_pair(x, "window x-range"), _finite_pair(y, "window y-range")])

    def __repr__(self):
        return f"Rectangle({self.bounds[0]}, {self.bounds[1]})"


class Polygon:
    """A simple polygon window given by its vertices ``(k, 2)``, ``k >= 3`` (either orientation)."""

    dim = 2

    def __init__(self, vertices):
        V = np.asarray(vertices, dtype=float)
        if V.ndim != 2 or V.shape[1] != 2 or V.shape[0] < 3:
            raise ValueError(f"polygon vertices must have shape (k, 2) with k >= 3, got {V.shape}")
        if not np.all(np.isfinite(V)):
            raise ValueError("polygon vertices contain NaN or infinite coordinates")
        if np.allclose(V[0], V[-1]):
            V = V[:-1]
        if _signed_area(V) < 0:  # counter-clockwise: the clipping below keeps the left side of each edge
            V = V[::-1]
        if not _signed_area(V) > 0:
            raise ValueError("polygon has zero area (collinear or repeated vertices)")
        self.vertices = V
        self.bounds = ((V[:, 0].min(), V[:, 0].max()), (V[:, 1].min(), V[:, 1].max()))

    @property
    def measure(self) -> float:
        """Area (shoelace formula)."""
        return float(_signed_area(self.vertices))

    def contains(self, points) -> np.ndarray:
        """``(n,)`` bool: points inside the polygon (even-odd ray casting; boundary points count as inside
        when they lie on the bounding box, otherwise as the ray test says)."""
        P = _as_points(points, 2)
        x, y = P[:, 0:1], P[:, 1:2]
        V, W = self.vertices, np.roll(self.vertices, -1, axis=0)
        xi, yi, xj, yj = V[:, 0], V[:, 1], W[:, 0], W[:, 1]
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = xi + (y - yi) * (xj - xi) / (yj - yi)
        inside = np.sum(crosses & (x < xcross), axis=1) % 2 == 1
        # Points on an edge: distance to segment ~ 0.
        on_edge = np.zeros(P.shape[0], bool)
        for a, b in zip(V, W):
            ab = b - a
            t = np.clip(((P - a) @ ab) / (ab @ ab), 0.0, 1.0)
            on_edge |= np.linalg.norm(P - (a + t[:, None] * ab), axis=1) <= 1e-12 * max(1.0, np.abs(V).max())
        return inside | on_edge

    def box_measure(self, lo, hi) -> np.ndarray:
        """Exact area of polygon ∩ boxes ``[lo, hi]`` (``(m, 2)`` each) -> ``(m,)``."""
        lo, hi = np.atleast_2d(lo), np.atleast_2d(hi)
        out = np.zeros(lo.shape[0])
        (bx0, bx1), (by0, by1) = self.bounds
        for i in range(lo.shape[0]):
            if hi[i, 0] <= bx0 or lo[i, 0] >= bx1 or hi[i, 1] <= by0 or lo[i, 1] >= by1:
                continue
            clipped = _clip_to_box(self.vertices, lo[i], hi[i])
            out[i] = _signed_area(clipped) if len(clipped) >= 3 else 0.0
        return out

    def __repr__(self):
        return f"Polygon({len(self.vertices)} vertices, area={self.measure:.6g})"


class SpaceTime:
    """A space-time window: a 2-D window (rectangle or polygon) times a time interval; points are ``(x, y, t)``."""

    dim = 3

    def __init__(self, space, time):
        self.space = as_window(space)
        if self.space.dim != 2:
            raise ValueError(f"SpaceTime needs a 2-D spatial window, got {self.space!r}")
        self.time = time if isinstance(time, Interval) else Interval(*_finite_pair(time, "time window"))
        self.bounds = tuple(self.space.bounds) + tuple(self.time.bounds)

    @property
    def measure(self) -> float:
        return self.space.measure * self.time.measure

    def contains(self, points) -> np.ndarray:
        P = _as_points(points, 3)
        return self.space.contains(P[:, :2]) & self.time.contains(P[:, 2:])

    def box_measure(self, lo, hi) -> np.ndarray:
        lo, hi = np.atleast_2d(lo), np.atleast_2d(hi)
        return self.space.box_measure(lo[:, :2], hi[:, :2]) * self.time.box_measure(lo[:, 2:], hi[:, 2:])

    def __repr__(self):
        return f"SpaceTime({self.space!r}, {self.time!r})"


def as_window(window):
    """A window object from the user's spec.

    Accepts a window object; ``(start, end)`` (an interval); ``((x0, x1), (y0, y1))`` (a rectangle);
    an array of polygon vertices ``(k, 2)`` with ``k >= 3``.

    Raises:
        ValueError: the spec is none of these, or is degenerate.
    """
    if isinstance(window, (Interval, Rectangle, Polygon, SpaceTime)):
        return window
    if window is None:
        raise ValueError("window is required: (start, end), ((x0, x1), (y0, y1)) or polygon vertices (k, 2)")
    try:
        arr = np.asarray(window, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (start, end), ((x0, x1), (y0, y1)) or vertices (k, 2); got {window!r}") from None
    if arr.shape == (2,):
        return Interval(*arr)
    if arr.shape == (2, 2):
        return Rectangle(arr[0], arr[1])
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 3:
        return Polygon(arr)
    raise ValueError(f"window must be (start, end), ((x0, x1), (y0, y1)) or vertices (k, 2); got shape {arr.shape}")


def _signed_area(V: np.ndarray) -> float:
    x, y = V[:, 0], V[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _clip_to_box(V: np.ndarray, lo, hi) -> np.ndarray:
    """Sutherland-Hodgman: the polygon ``V`` clipped to the box ``[lo, hi]`` (vertices, possibly empty)."""
    poly = [tuple(p) for p in V]
    for axis, bound, keep_below in ((0, lo[0], False), (0, hi[0], True), (1, lo[1], False), (1, hi[1], True)):
        if not poly:
            break
        out = []
        for k in range(len(poly)):
            cur, prev = poly[k], poly[k - 1]
            cin = cur[axis] <= bound if keep_below else cur[axis] >= bound
            pin = prev[axis] <= bound if keep_below else prev[axis] >= bound
            if cin != pin:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if cin:
                out.append(cur)
        poly = out
    return np.asarray(poly, dtype=float).reshape(-1, 2)
