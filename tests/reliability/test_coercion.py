"""Issue 15, class 5: silent coercion. Counts are refused, not truncated; huge or tiny objective values
are standardised without overflow; exact repeated evaluations with different values are not averaged.

Count policy (``bayeskern._counts``): ``int``, NumPy integers and integral floats (``4.0``, ``1e3``) are
accepted; ``3.7`` is a ``ValueError``; ``True``, ``"3"``, ``None`` are ``TypeError``s.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayeskern  # noqa: F401
from bayeskern._counts import as_count
from bayeskern.cox import make_grid
from bayeskern.kernels import RBF
from bayeskern.optimize import GPSurrogate, Optimizer, maximize_acquisition
from bayeskern.optimize.optimizer import _standardise
from bayeskern.quadrature import (
    Uniform,
    bq_posterior,
    evidence,
    integrate,
    kernel_herding,
    monte_carlo,
    select_batch,
    sobol,
)

UNIT = Uniform([0.0], [1.0])
FAST = dict(num_restarts=4, raw_samples=64, steps=60, surrogate=GPSurrogate(noise=1e-6))


# -- counts -------------------------------------------------------------------------------------

def test_as_count_policy():
    assert as_count(4, "n") == 4 and as_count(np.int32(4), "n") == 4
    assert as_count(4.0, "n") == 4 and as_count(1e3, "n") == 1000 and as_count(np.float32(2), "n") == 2
    assert as_count(np.array(5), "n") == 5 and as_count(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match=r"n must be an integer, got 3.7; it is not truncated"):
        as_count(3.7, "n")
    with pytest.raises(ValueError, match="n must be a finite integer"):
        as_count(float("nan"), "n")
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        as_count(0, "n")
    for bad in (True, "3", None, [3], 3 + 0j):
        with pytest.raises(TypeError, match="n must be an integer"):
            as_count(bad, "n")


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_as_count_never_truncates(x):
    if x.is_integer() and x >= 1:
        assert as_count(x, "n") == int(x)
    else:
        with pytest.raises(ValueError, match="n must be"):
            as_count(x, "n")


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: integrate(lambda x: jnp.sin(x[0]), UNIT, n=3.7), "n"),
        (lambda: integrate(lambda x: jnp.sin(x[0]), UNIT, n=8, design="ivr", refit_every=2.5), "refit_every"),
        (lambda: integrate(lambda x: jnp.sin(x[0]), UNIT, n=8, design="ivr", initial=1.5), "initial"),
        (lambda: sobol(UNIT, 2.5), "num"),
        (lambda: monte_carlo(UNIT, 2.5), "num"),
        (lambda: kernel_herding(RBF(lengthscale=0.2), UNIT, 3.5, candidates=64), "num"),
        (lambda: select_batch(RBF(lengthscale=0.2), UNIT, jnp.zeros((1, 1)), 1.5), "batch_size"),
        (lambda: evidence(lambda: None, n=10.5), "n"),
        (lambda: Optimizer([[0.0, 1.0]], num_initial=2.5), "num_initial"),
        (lambda: Optimizer([[0.0, 1.0]], num_mc=64.5), "num_mc"),
        (lambda: Optimizer([[0.0, 1.0]], steps=10.5), "steps"),
        (lambda: Optimizer([[0.0, 1.0]]).ask(1.5), "q"),
        (lambda: maximize_acquisition(None, 1, None, raw_samples=16.5), "raw_samples"),
        (lambda: make_grid((0.0, 1.0), 9.5), r"shape \(cells per axis\)"),
        (lambda: make_grid(((0, 1), (0, 1)), (4, 2.5)), r"shape\[1\] \(cells on axis 1\)"),
    ],
)
def test_non_integral_counts_are_refused_not_truncated(call, name):
    with pytest.raises(ValueError, match=rf"{name} must be an integer, got \d+\.5|{name} must be an integer, got 3\.7"):
        call()


def test_non_numeric_counts_are_type_errors():
    with pytest.raises(TypeError, match="n must be an integer, got '3'"):
        integrate(lambda x: jnp.sin(x[0]), UNIT, n="3")
    with pytest.raises(TypeError, match="q must be an integer, got True"):
        Optimizer([[0.0, 1.0]]).ask(True)


def test_integral_counts_of_other_types_are_accepted():
    k = RBF(lengthscale=0.3)  # a fixed kernel: no hyperparameter fit needed here
    r = integrate(lambda x: jnp.sin(x[0]), UNIT, n=np.int64(6), kernel=k)
    r2 = integrate(lambda x: jnp.sin(x[0]), UNIT, n=6.0, kernel=k)
    assert r.X.shape == r2.X.shape == (6, 1)
    assert float(r.mean) == pytest.approx(float(r2.mean))
    assert make_grid((0.0, 1.0), np.int32(5)).shape == (5,)


# -- BO standardisation ----------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e200, 1e-200, -1e200])
def test_standardisation_of_extreme_values_matches_moderate_ones(scale):
    y = np.array([3.0, -1.0, 0.5, 2.0, 7.0])
    ref, _, _ = _standardise(y)
    out, loc, sd = _standardise(y * scale)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref * np.sign(scale), rtol=1e-12, atol=1e-12)
    assert np.std(out) == pytest.approx(1.0)


def test_optimizer_targets_with_huge_values_are_not_all_zero():
    X = np.array([[0.1], [0.3], [0.5], [0.7], [0.9]])
    y = np.array([1.0, -2.0, 0.5, 3.0, -1.5])
    ref, big = Optimizer([[0.0, 1.0]], **FAST), Optimizer([[0.0, 1.0]], **FAST)
    ref.tell(X, y)
    big.tell(X, 1e200 * y)
    _, y_ref, _, _ = ref._training_data()
    _, y_big, _, _ = big._training_data()
    assert np.ptp(y_big) > 1.0  # before: inf std -> every target 0
    np.testing.assert_allclose(y_big, y_ref, rtol=1e-12)


@pytest.mark.slow
def test_optimizer_with_1e200_scaled_objective_finds_the_same_optimum():
    def f(X):
        return np.sum((np.atleast_2d(X) - 0.3) ** 2, axis=1)

    found = []
    for scale in (1.0, 1e200):
        opt = Optimizer([[0.0, 1.0], [0.0, 1.0]], seed=2, **FAST)
        for _ in range(12):
            X = opt.ask()
            opt.tell(X, scale * f(X))
        found.append(opt.best()[0])
    for x in found:
        assert np.linalg.norm(x - 0.3) < 0.05


# -- exact repeats with different values -------------------------------------------------------

def test_bq_refuses_to_average_exact_repeats():
    X = np.array([0.1, 0.1, 0.5, 0.9])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    for noise in (None, 0.0):
        with pytest.raises(ValueError, match=r"duplicate points with different function values.*Pass noise="):
            integrate((X, y), UNIT, noise=noise)
        with pytest.raises(ValueError, match=r"x = \[0.1\] with values \[1.0, 2.0\]"):
            bq_posterior(RBF(lengthscale=0.3), UNIT, X, y, noise=noise)
    # Equal repeats are dropped with a warning; a positive noise keeps repeats as replicates.
    with pytest.warns(UserWarning, match="duplicate point.*dropped"):
        post = bq_posterior(RBF(lengthscale=0.3), UNIT, X, np.array([1.0, 1.0, 3.0, 4.0]))
    assert post.weights.shape == (3,)
    post = bq_posterior(RBF(lengthscale=0.3), UNIT, X, y, noise=0.1)
    assert np.isfinite(float(post.mean)) and post.weights.shape == (4,)


def test_bo_warns_when_a_repeat_conflicts_with_a_fixed_noise():
    opt = Optimizer([[0.0, 1.0]], **FAST)  # noise fixed at 1e-6
    opt.tell([[0.2], [0.6], [0.9]], [1.0, 2.0, 0.0])
    with pytest.warns(UserWarning, match=r"told with different values .*noise variance is fixed"):
        opt.tell([[0.2]], [1.7])
    learned = Optimizer([[0.0, 1.0]], num_restarts=4, raw_samples=64, steps=60)  # noise learned: legitimate
    learned.tell([[0.2], [0.6]], [1.0, 2.0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learned.tell([[0.2]], [1.7])
        opt.tell([[0.6]], [2.0])  # an equal repeat is no conflict
    assert math.isclose(opt.best()[1], 0.0)
