"""Issue 15, class 3: invalid window geometry is refused with a message naming the window and the fix.

Every window type: intervals, rectangles, polygons (and polygons inside space-time windows).
A property-based layer checks random simple (star-shaped) polygons are accepted with the shoelace
area, and that vertex orders of points in convex position other than the boundary order are refused.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayeskern  # noqa: F401
from bayeskern.cox import Interval, Polygon, Rectangle, SpaceTime, as_window, make_grid

NOT_SIMPLE = r"polygon window is not simple.*order along the boundary.*split it into simple polygons"


def shoelace(V):
    V = np.asarray(V, float)
    x, y = V[:, 0], V[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


# -- polygons: self-intersection ---------------------------------------------------------------

@pytest.mark.parametrize(
    "vertices",
    [
        [(0, 0), (1, 1), (1, 0), (0, 1)],  # symmetric bow-tie (signed area 0: was reported "collinear")
        [(0, 0), (2, 0), (2, 2), (1, -1), (0, 2)],  # edge crossing the bottom edge
        [(0, 0), (2, 0), (0, 2), (2, 2)],  # Z shape
        [(0, 0), (3, 0), (3, 3), (1, 3), (1, -1), (2, -1), (2, 2), (0, 2)],  # two crossings
    ],
)
def test_self_intersecting_polygon_is_refused(vertices):
    with pytest.raises(ValueError, match=NOT_SIMPLE):
        Polygon(vertices)
    with pytest.raises(ValueError, match=NOT_SIMPLE):  # through the window spec too
        as_window(vertices)


def test_asymmetric_bow_tie_is_not_given_its_signed_area():
    # A bow-tie with unequal lobes has a non-zero signed area (before: accepted, area = lobe difference).
    V = [(0, 0), (3, 2), (3, 0), (0, 1)]
    assert shoelace(V) > 0
    with pytest.raises(ValueError, match="edge 0 .* meets edge 2"):
        Polygon(V)


@pytest.mark.parametrize(
    "vertices, why",
    [
        ([(0, 0), (2, 0), (2, 2), (1, 0), (0, 2)], "vertex touching a non-adjacent edge"),
        ([(0, 0), (2, 0), (1, 0), (1, 1)], "an edge folding back along the previous one"),
        ([(0, 0), (4, 0), (4, 2), (3, 0), (1, 0), (0, 2)], "collinear overlap of non-adjacent edges"),
        ([(0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (1, 2), (1, 1), (0, 1)], "two squares joined at a vertex"),
    ],
)
def test_touching_and_overlapping_edges_are_refused_exactly(vertices, why):
    with pytest.raises(ValueError, match=NOT_SIMPLE):
        Polygon(vertices)


def test_touching_is_decided_exactly_on_a_slanted_edge():
    # A spike whose tip lies exactly on the slanted bottom edge (0, 0)->(2, 0.75) is refused; the
    # same spike one ulp higher is a simple polygon and is accepted: no tolerance either way.
    def spike(tip_y):
        return [(0.0, 0.0), (2.0, 0.75), (2.0, 2.75), (1.0, tip_y), (0.0, 2.0)]

    with pytest.raises(ValueError, match=NOT_SIMPLE):
        Polygon(spike(0.375))
    p = Polygon(spike(np.nextafter(0.375, 1.0)))
    assert p.measure == pytest.approx(shoelace(spike(0.375)))


# -- polygons: degenerate input ------------------------------------------------------------------

@pytest.mark.parametrize(
    "vertices, match",
    [
        ([(0, 0), (1, 1)], r"shape \(k, 2\) with k >= 3"),
        ([(0, 0), (1, 0), (2, 0), (3, 0)], "all collinear"),
        ([(0, 0), (1, 1), (2, 2)], "all collinear"),
        ([(0, 0), (0, 0), (1, 0)], "at least 3 distinct vertices"),
        ([(0, 0), (1, 0), (0, 0)], "at least 3 distinct vertices"),
        ([(0, 0), (1, np.nan), (0, 1)], r"vertices \[1\] contain NaN"),
        ([(0, 0), (1, 0), (0, np.inf)], r"vertices \[2\] contain NaN or infinite"),
        ([("a", 0), (1, 0), (0, 1)], "must be a .k, 2. array of numbers"),
    ],
)
def test_degenerate_polygon_is_refused(vertices, match):
    with pytest.raises(ValueError, match="polygon window") as info:
        Polygon(vertices)
    assert info.match(match)


def test_normalisations_are_not_errors():
    ccw = [(0, 0), (2, 0), (2, 1), (0, 1)]
    for V in (ccw, ccw[::-1], ccw + [ccw[0]], [ccw[0], ccw[0], *ccw[1:], ccw[1]][:-1]):
        p = Polygon(V)
        assert p.measure == pytest.approx(2.0)
        assert p.vertices.shape == (4, 2)
        assert shoelace(p.vertices) == pytest.approx(2.0)
        x, y = p.vertices[:, 0], p.vertices[:, 1]
        assert np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) > 0  # stored counter-clockwise
    # A straight-through (collinear) vertex on an edge is allowed and changes nothing.
    assert Polygon([(0, 0), (1, 0), (2, 0), (2, 1), (0, 1)]).measure == pytest.approx(2.0)


def test_space_time_checks_its_polygon():
    with pytest.raises(ValueError, match=NOT_SIMPLE):
        SpaceTime([(0, 0), (1, 1), (1, 0), (0, 1)], (0, 1))
    with pytest.raises(ValueError, match="start < end"):
        SpaceTime(((0, 1), (0, 1)), (2, 1))


# -- intervals and rectangles ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Interval(1.0, 1.0), "window must be finite with start < end"),
        (lambda: Interval(2.0, 1.0), "window must be finite with start < end"),
        (lambda: Interval(0.0, np.inf), "window must be finite"),
        (lambda: Interval("0", "1"), "strings are not converted"),
        (lambda: Rectangle((0, 1), (1, 1)), "window y-range must be finite with start < end"),
        (lambda: Rectangle((1, 0), (0, 1)), "window x-range must be finite with start < end"),
        (lambda: Rectangle((0, np.nan), (0, 1)), "window x-range must be finite"),
        (lambda: as_window(((0, 1), (0, 0))), "window y-range"),
        (lambda: as_window(None), "window is required"),
        (lambda: as_window([[0, 1, 2], [3, 4, 5]]), "window must be"),
    ],
)
def test_degenerate_boxes_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- property-based layer --------------------------------------------------------------------------

def _star(angles, radii, centre=(0.3, -0.2)):
    a = np.sort(np.asarray(angles))
    r = np.asarray(radii)
    return np.stack([centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)], axis=1)


def _gaps(a):
    a = np.sort(a)
    return np.append(np.diff(a), 2 * math.pi - np.ptp(a))


def _angles(min_size, max_size):
    # Distinct angles at least 1e-3 apart (so float rounding of sin/cos cannot reorder anything).
    return st.lists(st.floats(0.0, 2 * math.pi, exclude_max=True), min_size=min_size,
                    max_size=max_size).filter(lambda a: _gaps(a).min() > 1e-3)


angle_sets = _angles(3, 12).filter(lambda a: _gaps(a).max() < math.pi - 1e-3)


@settings(max_examples=60, deadline=None)
@given(angle_sets, st.data())
def test_random_star_polygons_are_accepted_with_the_shoelace_area(angles, data):
    # Vertices in angular order around a centre, all gaps < pi: a simple polygon containing the centre.
    radii = data.draw(st.lists(st.floats(0.2, 3.0), min_size=len(angles), max_size=len(angles)))
    V = _star(angles, radii)
    area = shoelace(V)
    for order in (V, V[::-1], np.roll(V, 2, axis=0)):
        p = Polygon(order)
        assert p.measure == pytest.approx(area, rel=1e-12)
    g = make_grid(p, (7, 6))
    assert g.exposure.sum() == pytest.approx(area, rel=1e-9)
    assert p.contains([[0.3, -0.2]])[0]


@settings(max_examples=60, deadline=None)
@given(_angles(4, 9), st.randoms(use_true_random=False))
def test_vertex_orders_of_convex_points_other_than_the_boundary_are_refused(angles, rnd):
    # Points on a circle are in convex position: the only simple polygons through all of them are
    # the angular order (any rotation, either direction). Every other order crosses itself.
    V = _star(angles, np.ones(len(angles)))
    k = len(V)
    perm = list(range(k))
    rnd.shuffle(perm)
    start = perm.index(0)
    cyc = perm[start:] + perm[:start]
    boundary = cyc == list(range(k)) or cyc == [0] + list(range(k - 1, 0, -1))
    if boundary:
        assert Polygon(V[perm]).measure == pytest.approx(shoelace(V), rel=1e-12)
    else:
        with pytest.raises(ValueError, match=NOT_SIMPLE):
            Polygon(V[perm])
