"""Observation windows of a point process: intervals, rectangles, polygons and space-time products.

A window knows its dimension, its measure (length, area, area x duration),
its bounding box, whether points lie inside it, and -- what the grid
schemes need -- the exact measure of its intersection with an axis-aligned
box (a grid cell). Polygon-cell intersections are computed exactly by
clipping the polygon against the cell (Sutherland-Hodgman: exact for any
simple polygon clipped by a convex region), so cell exposures sum to the
polygon's area to round-off.

Input checks (all raise ``ValueError`` naming the window): intervals and
rectangles need finite numbers with start < end on every axis; a polygon
needs at least 3 distinct finite vertices, not all collinear, forming a
*simple* polygon -- no two edges may cross, touch or overlap other than
consecutive edges at their shared vertex. The test is exact (orientation
signs with a floating-point filter and an exact rational fallback), so
vertex-touching and collinear-overlap cases are decided correctly.
Normalised without an error: a closing vertex equal to the first one and
repeated consecutive vertices are dropped; clockwise vertices are reversed
to counter-clockwise.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["Interval", "Polygon", "Rectangle", "SpaceTime", "as_window"]


def _finite_pair(value, name: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or any(isinstance(v, (str, bytes)) for v in np.ravel(np.asarray(value, object))):
        raise ValueError(f"{name} must be a pair (start, end) of numbers, got {value!r} (strings are not converted)")
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
    """A simple polygon window given by its vertices ``(k, 2)``, ``k >= 3`` (either orientation).

    Raises:
        ValueError: fewer than 3 distinct vertices, non-finite coordinates, all vertices collinear, or
            edges that cross, touch or overlap (a self-intersecting boundary: its shoelace "area",
            cell exposures and inside tests would contradict each other).
    """

    dim = 2

    def __init__(self, vertices):
        self.vertices = _check_polygon(vertices)
        V = self.vertices
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
        for a, b in zip(V, W, strict=True):
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


_HOW = ("list the vertices in order along the boundary (either direction); a region whose boundary "
        "crosses or touches itself (a figure-eight, two parts joined at a point, a hole) is not one simple "
        "polygon: split it into simple polygons and use one window per part")


def _check_polygon(vertices) -> np.ndarray:
    """Validated polygon vertices ``(k, 2)``, counter-clockwise, without repeats (see the module docstring)."""
    try:
        V = np.asarray(vertices, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"polygon window vertices must be a (k, 2) array of numbers, got {vertices!r}") from None
    if V.ndim != 2 or V.shape[1] != 2 or V.shape[0] < 3:
        raise ValueError(f"polygon window vertices must have shape (k, 2) with k >= 3, got {V.shape}")
    if not np.all(np.isfinite(V)):
        bad = np.flatnonzero(~np.all(np.isfinite(V), axis=1)).tolist()
        raise ValueError(f"polygon window vertices {bad} contain NaN or infinite coordinates; give finite vertices")
    # Drop repeated consecutive vertices (cyclically, so a closing copy of the first vertex goes too).
    keep = np.any(V != np.roll(V, -1, axis=0), axis=1)
    if not keep.any():
        keep[0] = True
    V = V[keep]
    if V.shape[0] < 3:
        raise ValueError(f"polygon window needs at least 3 distinct vertices, got {V.shape[0]}: {V.tolist()}")
    if np.all(_orient(V[0], V[1], V) == 0):
        raise ValueError(f"polygon window vertices are all collinear (zero area): {V.tolist()}; "
                         "give the corners of a region with positive area")
    crossing = _self_intersection(V)
    if crossing is not None:
        i, j = crossing
        n = V.shape[0]
        raise ValueError(
            f"polygon window is not simple: edge {i} {V[i].tolist()}->{V[(i + 1) % n].tolist()} "
            f"meets edge {j} {V[j].tolist()}->{V[(j + 1) % n].tolist()}; " + _HOW
        )
    if _signed_area(V) < 0:  # counter-clockwise: the clipping keeps the left side of each edge
        V = V[::-1].copy()
    if not _signed_area(V) > 0:  # a simple, non-collinear polygon has positive area; this is round-off
        raise ValueError(f"polygon window has zero area to round-off: {V.tolist()}")
    return V


_ORIENT_ERR = 3.3306690738754716e-16 + 1e-30  # Shewchuk's ccwerrboundA, (3 + 16 eps) eps, rounded up


def _orient(a, b, C) -> np.ndarray:
    """Exact sign (-1, 0, 1) of the orientation ``det[b - a, c - a]`` for each row ``c`` of ``C``.

    ``a``, ``b`` may be ``(2,)`` or ``(m, 2)`` (broadcast against ``C``). A floating-point
    filter (Shewchuk 1997) settles most signs; the rest are recomputed in exact rationals.
    """
    a, b, C = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float), np.asarray(C, float))
    bx, by = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    cx, cy = C[..., 0] - a[..., 0], C[..., 1] - a[..., 1]
    left, right = bx * cy, by * cx
    det = left - right
    sign = np.sign(det).astype(int)
    unsure = np.abs(det) <= _ORIENT_ERR * (np.abs(left) + np.abs(right))
    # Both products exactly zero (a float difference is 0 only for equal operands): the sign is 0,
    # no rational arithmetic needed (the common axis-aligned case).
    unsure &= ~(((bx == 0) | (cy == 0)) & ((by == 0) | (cx == 0)))
    for idx in zip(*np.nonzero(unsure), strict=True):
        ax, ay, bx, by, cx, cy = (Fraction(float(v)) for v in (*a[idx], *b[idx], *C[idx]))
        exact = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        sign[idx] = (exact > 0) - (exact < 0)
    return sign


def _self_intersection(V: np.ndarray) -> tuple[int, int] | None:
    """``(i, j)`` for the first pair of edges ``i < j`` of the closed polygon ``V`` that meet where they
    should not (non-adjacent edges meeting at all; adjacent edges overlapping beyond their shared
    vertex), else None. O(n^2) vectorised over edge pairs; exact."""
    n = V.shape[0]
    A, B = V, np.roll(V, -1, axis=0)  # edge i runs A[i] -> B[i]
    i, j = np.triu_indices(n, k=1)
    a, b, c, d = A[i], B[i], A[j], B[j]
    o1, o2 = _orient(a, b, c), _orient(a, b, d)
    o3, o4 = _orient(c, d, a), _orient(c, d, b)

    def on_seg(p, q, r):  # r collinear with p-q: is it within the closed segment's box? (exact comparisons)
        return np.all((np.minimum(p, q) <= r) & (r <= np.maximum(p, q)), axis=1)

    meet = ((o1 * o2 < 0) & (o3 * o4 < 0)) | ((o1 == 0) & on_seg(a, b, c)) | ((o2 == 0) & on_seg(a, b, d)) \
        | ((o3 == 0) & on_seg(c, d, a)) | ((o4 == 0) & on_seg(c, d, b))
    adjacent = (j == i + 1) | ((i == 0) & (j == n - 1))
    # Adjacent edges always share a vertex; they are bad only when collinear and folding back
    # (the edge after the shared vertex turns 180 degrees), i.e. they overlap along a segment.
    nxt = j == i + 1
    shared = np.where(nxt[:, None], b, a)  # edge i ends where edge j starts, or (wrap-around) j ends at A[0]
    p = np.where(nxt[:, None], a, b)  # the other end of edge i
    q = np.where(nxt[:, None], d, c)  # the other end of edge j
    fold = (_orient(p, shared, q) == 0) & (np.sum((p - shared) * (q - shared), axis=1) > 0)
    bad = np.where(adjacent, fold, meet)
    hits = np.flatnonzero(bad)
    return (int(i[hits[0]]), int(j[hits[0]])) if hits.size else None


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
