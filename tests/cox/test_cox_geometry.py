"""Windows and grids: exact areas, polygon clipping, binning, and bad input."""

import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.cox import (
    Interval,
    Polygon,
    Rectangle,
    SpaceTime,
    as_window,
    bin_events,
    make_grid,
)
from bayeskern.cox.grid import check_events


def test_as_window_forms():
    assert isinstance(as_window((0, 3)), Interval)
    assert isinstance(as_window(((0, 1), (2, 4))), Rectangle)
    assert isinstance(as_window([[0, 0], [1, 0], [0, 1]]), Polygon)
    with pytest.raises(ValueError, match="start < end"):
        as_window((3, 1))
    with pytest.raises(ValueError, match="window"):
        as_window([1, 2, 3])


def test_polygon_mask_areas_exact_for_rectangles():
    # A rectangle given as a polygon, not aligned with the grid: every cell's exposure must equal
    # the exact rectangle-cell overlap, and they must add up to the area.
    rect = Rectangle((0.13, 0.77), (0.21, 0.94))
    poly = Polygon([[0.13, 0.21], [0.77, 0.21], [0.77, 0.94], [0.13, 0.94]])
    g_rect = make_grid(((0.0, 1.0), (0.0, 1.0)), (9, 7))
    lo = np.stack(np.meshgrid(g_rect.edges[0][:-1], g_rect.edges[1][:-1], indexing="ij"), -1).reshape(-1, 2)
    hi = np.stack(np.meshgrid(g_rect.edges[0][1:], g_rect.edges[1][1:], indexing="ij"), -1).reshape(-1, 2)
    np.testing.assert_allclose(poly.box_measure(lo, hi), rect.box_measure(lo, hi), atol=1e-15)
    g = make_grid(poly, (9, 7))
    np.testing.assert_allclose(g.exposure.sum(), 0.64 * 0.73, rtol=1e-13)


def test_polygon_triangle_area_and_orientation():
    tri = Polygon([[0, 0], [0, 2], [2, 0]])  # clockwise input is reoriented
    assert tri.measure == pytest.approx(2.0)
    g = make_grid(tri, (13, 11))
    assert g.exposure.sum() == pytest.approx(2.0, rel=1e-12)
    # Cells entirely above the hypotenuse have zero exposure; those below are full.
    c = g.centres
    full = g.cell_volume
    below = (c[:, 0] + c[:, 1] + (2 / 13 + 2 / 11) / 2) < 2.0 - 1e-9
    np.testing.assert_allclose(g.exposure[below], full[below])
    assert np.all(tri.contains([[0.5, 0.5], [0.0, 1.0]])) and not tri.contains([[1.5, 1.5]])[0]


def test_space_time_exposure():
    w = SpaceTime(((0, 2), (0, 1)), (0, 5))
    g = make_grid(w, (4, 2, 5))
    assert g.exposure.shape == (40,) and g.exposure.sum() == pytest.approx(10.0)
    _, counts = bin_events([[0.5, 0.5, 1.0], [1.9, 0.1, 4.9]], w, (4, 2, 5))
    assert counts.sum() == 2


def test_binning_counts_and_exposure_mask():
    _, counts = bin_events([0.1, 0.2, 2.5, 3.0], (0.0, 3.0), 3)
    np.testing.assert_array_equal(counts, [2, 0, 2])  # the end point goes to the last cell
    g = make_grid((0.0, 3.0), 3, exposure=[1.0, 2.0, 0.5], mask=np.array([True, False, True]))
    np.testing.assert_allclose(g.exposure, [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(g.observed, [0, 2])


@pytest.mark.parametrize(
    "events, match",
    [([], "empty"), ([0.5, np.nan], "NaN"), ([0.5, 4.0], "outside the window"), ([[0.1, 0.2]], "shape")],
)
def test_bad_events(events, match):
    with pytest.raises(ValueError, match=match):
        check_events(events, (0.0, 3.0))


def test_negative_exposure_and_masked_events_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        make_grid((0.0, 1.0), 2, exposure=[1.0, -1.0])
    with pytest.raises(ValueError, match="zero exposure"):
        bin_events([0.9], (0.0, 1.0), 2, mask=np.array([True, False]))


def test_region_exposure_for_expected_counts():
    g = make_grid(((0, 1), (0, 1)), 10)
    sub = g.region_exposure(((0.0, 0.55), (0.0, 1.0)))
    assert sub.sum() == pytest.approx(0.55)
    tri = g.region_exposure([[0, 0], [1, 0], [0, 1]])
    assert tri.sum() == pytest.approx(0.5, abs=2e-3)
