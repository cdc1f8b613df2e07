"""Issue 15, class 7: ask/tell with asynchronous workers. Pending points are tracked: asks in a row give
distinct points (initial design and model phase), tells come back in any order, external evaluations
are accepted. A property-based layer checks the optimiser's bounds and input checks."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayeskern  # noqa: F401
from bayeskern.optimize import GPSurrogate, Optimizer
from bayeskern.optimize.test_functions import branin

FAST = dict(num_restarts=4, raw_samples=64, steps=60, surrogate=GPSurrogate(noise=1e-6))
BRANIN = [[-5.0, 10.0], [0.0, 15.0]]
BRANIN_MINIMA = np.array([[-np.pi, 12.275], [np.pi, 2.275], [9.42478, 2.475]])


def min_pairwise(P):
    d = np.linalg.norm(P[:, None] - P[None], axis=-1)
    return d[np.triu_indices(len(P), 1)].min()


def test_asks_in_a_row_in_the_initial_design_are_distinct_and_continue_the_sequence():
    opt = Optimizer(BRANIN, seed=0, num_initial=10, **FAST)
    asked = np.concatenate([opt.ask() for _ in range(5)])
    assert asked.shape == (5, 2) and min_pairwise(asked) > 0.1
    assert opt.pending.shape == (5, 2)
    # The same 5 points as one batch ask of 5: the Sobol design skips past pending points.
    batch = Optimizer(BRANIN, seed=0, num_initial=10, **FAST).ask(5)
    np.testing.assert_allclose(asked, batch)
    # Tells in any order resolve them; an external point is recorded without touching pending.
    for i in (3, 0):
        opt.tell(asked[i : i + 1], branin(asked[i : i + 1]))
    opt.tell([[0.0, 0.0]], branin([[0.0, 0.0]]))
    assert opt.pending.shape == (3, 2)
    np.testing.assert_allclose(opt.pending, asked[[1, 2, 4]])
    nxt = opt.ask()
    assert np.min(np.linalg.norm(np.concatenate([asked, [[0.0, 0.0]]]) - nxt, axis=1)) > 1e-6
    opt.tell(asked[[4, 1, 2]], branin(asked[[4, 1, 2]]))
    assert opt.pending.shape == (1, 2) and opt.state.X.shape == (6, 2)


def test_asks_in_a_row_after_the_initial_design_are_distinct():
    opt = Optimizer(BRANIN, seed=1, num_initial=6, **FAST)
    X0 = opt.ask(6)
    opt.tell(X0, branin(X0))
    asked = np.concatenate([opt.ask() for _ in range(5)])
    assert asked.shape == (5, 2)
    assert min_pairwise(asked) > 1e-3  # kriging believer: no point proposed twice
    assert np.all((asked >= [-5, 0]) & (asked <= [10, 15]))
    opt.tell(asked[::-1], branin(asked[::-1]))
    assert opt.pending.shape == (0, 2) and opt.state.X.shape == (11, 2)


def test_pending_points_survive_save_and_load_and_can_be_cancelled(tmp_path):
    opt = Optimizer(BRANIN, seed=0, **FAST)
    a = opt.ask(2)
    restored = Optimizer.load(opt.save(tmp_path / "bo.npz"))
    np.testing.assert_array_equal(restored.pending, a)
    np.testing.assert_array_equal(restored.ask(), opt.ask())
    with pytest.raises(ValueError, match=r"cancel_pending: X rows \[\[0.5, 0.5\]\] are not pending"):
        opt.cancel_pending([[0.5, 0.5]])
    assert opt.pending.shape == (3, 2)
    opt.cancel_pending(a[:1])
    assert opt.pending.shape == (2, 2)
    opt.cancel_pending()
    assert opt.pending.shape == (0, 2)


@pytest.mark.slow
def test_asynchronous_loop_finds_branin_minimum_region():
    opt = Optimizer(BRANIN, seed=0, **FAST)
    # Two workers: always one evaluation in flight while the next point is asked.
    inflight = opt.ask()
    for _ in range(23):
        nxt = opt.ask()
        opt.tell(inflight, branin(inflight))
        inflight = nxt
    opt.tell(inflight, branin(inflight))
    x, y = opt.best()
    # 24 evaluations: in one of the three minima's basins (random search's best is typically ~1-3).
    assert y < 0.397887 + 0.15
    assert np.min(np.linalg.norm(BRANIN_MINIMA - x, axis=1)) < 0.6


# -- property-based: bounds and inputs -----------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=4))
def test_bounds_are_accepted_iff_finite_with_lower_below_upper(rows):
    b = np.array(rows)
    if np.all(b[:, 0] < b[:, 1]):
        opt = Optimizer(b)
        X = opt.ask(3)
        assert X.shape == (3, len(rows))
        assert np.all((X >= b[:, 0]) & (X <= b[:, 1]))
    else:
        with pytest.raises(ValueError, match="bounds must be finite with lower < upper"):
            Optimizer(b)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.5, 1.5), st.floats(-0.5, 1.5)), min_size=1, max_size=5))
def test_tell_refuses_exactly_the_rows_outside_bounds(rows):
    opt = Optimizer([[0.0, 1.0], [0.0, 1.0]])
    X = np.array(rows)
    # tell tolerates 1e-9 of the box width outside (round-off) and clips those rows into the box.
    outside = np.any((X < -1e-9) | (X > 1 + 1e-9), axis=1)
    if outside.any():
        with pytest.raises(ValueError, match=re.escape(f"X rows {np.flatnonzero(outside).tolist()} lie outside bounds")):
            opt.tell(X, np.zeros(len(X)))
        assert opt.state.X.shape == (0, 2)
    else:
        opt.tell(X, np.zeros(len(X)))
        stored = np.asarray(opt.state.X)
        assert stored.shape == (len(X), 2) and np.all((stored >= 0) & (stored <= 1))


@pytest.mark.parametrize("bad", [[[0.0, np.inf]], [[np.nan, 1.0]], [[1.0, 1.0]], [[0.0, 1.0, 2.0]], [0.0, 1.0]])
def test_bad_bounds_name_the_argument(bad):
    with pytest.raises(ValueError, match="bounds must"):
        Optimizer(bad)
