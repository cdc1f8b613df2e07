"""The ask/tell loop: finds a quadratic's optimum, exact restart from saved state, bounds and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.optimize import BOState, GPSurrogate, Optimizer

# Every default test uses d = 2, at most 16 points (one padding bucket) and these settings, so the jitted
# MAP fit and acquisition ascent compile once per acquisition kind for the whole file.
# The objectives are deterministic, hence the fixed tiny noise (see GPSurrogate(noise=...)).
FAST = dict(num_restarts=4, raw_samples=64, steps=60, surrogate=GPSurrogate(noise=1e-6))
BOUNDS = [[-2.0, 2.0], [-3.0, 1.0]]


def quad(X):
    X = np.atleast_2d(X)
    return np.sum((X - np.array([0.37, -1.2])[: X.shape[1]]) ** 2, axis=1)


def test_finds_minimum_of_quadratic_in_few_steps():
    opt = Optimizer(BOUNDS, seed=1, **FAST)
    for _ in range(14):  # 6 Sobol points, then 8 model-based steps
        X = opt.ask(1)
        assert X.shape == (1, 2) and np.all((X >= [-2, -3]) & (X <= [2, 1]))
        opt.tell(X, quad(X))
    x, y = opt.best()
    assert np.linalg.norm(x - [0.37, -1.2]) < 0.05 and y < 2e-3


def test_save_load_continues_exactly(tmp_path):
    opt = Optimizer(BOUNDS, seed=3, **FAST)
    for _ in range(7):
        X = opt.ask(1)
        opt.tell(X, quad(X))
    opt.tell(np.array([[0.0, -1.0]]), np.array([np.nan]))  # a failed evaluation is saved too
    path = opt.save(tmp_path / "bo.npz")
    restored = Optimizer.load(path)
    assert restored.config() == opt.config()
    assert isinstance(restored.state, BOState) and bool(restored.state.failed[-1])
    a, b_ = opt.ask(1), restored.ask(1)
    np.testing.assert_array_equal(a, b_)
    assert a.shape == (1, 2) and np.all((a >= [-2, -3]) & (a <= [2, 1]))
    # the state is a pytree: it flattens, maps and rebuilds
    leaves = jax.tree.leaves(opt.state)
    assert len(leaves) == 4 and jax.tree.map(jnp.shape, opt.state).X == opt.state.X.shape


def test_failed_evaluations_are_recorded_and_ignored_or_imputed():
    for policy in ("ignore", "worst"):
        opt = Optimizer(BOUNDS, seed=0, failure_policy=policy, num_initial=3, **FAST)
        opt.tell([[0.1, 0.0], [0.5, -1.0], [0.9, -2.0], [0.7, 0.5]], [1.0, np.nan, 2.0, np.inf])
        X, y, _, _ = opt._training_data()
        assert len(y) == (2 if policy == "ignore" else 4) and np.all(np.isfinite(y))
        assert opt.state.failed.tolist() == [False, True, False, True]
        assert opt.best()[1] == 1.0
        x = opt.ask(1)
        assert np.isfinite(x).all()


def test_bad_input_raises():
    with pytest.raises(ValueError, match="bounds"):
        Optimizer([[1.0, 0.0]])
    with pytest.raises(ValueError, match="bounds"):
        Optimizer([0.0, 1.0])
    with pytest.raises(ValueError, match="acquisition"):
        Optimizer([[0.0, 1.0]], acquisition="xyz")
    with pytest.raises(ValueError, match="inference"):
        Optimizer([[0.0, 1.0]], inference="vi")
    opt = Optimizer([[0.0, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="outside bounds"):
        opt.tell([[0.5, 2.5]], [1.0])
    with pytest.raises(ValueError, match="shape"):
        opt.tell([[0.5, 0.5, 0.5]], [1.0])
    with pytest.raises(ValueError, match="one value per row"):
        opt.tell([[0.5, 0.5]], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        opt.tell([[np.nan, 0.5]], [1.0])
    with pytest.raises(ValueError, match="q must be"):
        opt.ask(0)
    with pytest.raises(ValueError, match="no successful"):
        opt.best()


@pytest.mark.parametrize("acq", [pytest.param("thompson", marks=pytest.mark.slow),
                                 pytest.param("mes", marks=pytest.mark.slow),
                                 pytest.param("qnei", marks=pytest.mark.slow), "qei"])
def test_other_acquisitions_propose_inside_bounds(acq):
    opt = Optimizer(BOUNDS, seed=0, acquisition=acq, num_mc=32, num_initial=5, **FAST)
    X0 = np.array([[0.0, 0.0], [1.0, -1.0], [-1.0, -2.0], [1.5, 0.5], [0.3, -1.5]])
    opt.tell(X0, quad(X0))
    q = 1 if acq == "mes" else 2
    X = opt.ask(q)
    assert X.shape == (q, 2) and np.all((X >= [-2, -3]) & (X <= [2, 1]))
    assert np.all(np.isfinite(np.asarray(opt.last["value"])))
    if acq == "mes":
        assert float(opt.last["value"]) > 0.0  # information gain is positive away from the data


def test_batch_mc_acquisitions_match_analytic_ei_for_q1():
    """qEI and qNEI with q = 1 (many base samples) against closed-form EI on the same fitted posterior."""
    from bayeskern.optimize import Analytic, MonteCarlo, NoisyEI

    opt = Optimizer(BOUNDS, seed=0, **FAST)
    X0 = np.array([[0.0, 0.0], [1.0, -1.0], [-1.0, -2.0], [1.5, 0.5], [0.3, -1.5], [0.5, -1.0]])
    opt.tell(X0, quad(X0))
    Xu, yu, _, _ = opt._training_data()
    params, _, padded = opt._fit(Xu, yu, jax.random.PRNGKey(0))
    Xp = padded[0]
    # noise 1e-6 (FAST's surrogate): NEI's incumbent is then the best y, so qNEI = EI here
    cache = opt.surrogate.cache(params, *padded)
    Z = jax.random.uniform(jax.random.PRNGKey(5), (6, 1, 2))
    base = jax.random.normal(jax.random.PRNGKey(1), (8000, Xp.shape[0] + 1))
    call = jax.jit(lambda acq, Z: acq(Z))
    ei = call(Analytic(opt.surrogate, cache, yu.max(), "ei", chunk=1), Z)
    qei = call(MonteCarlo(opt.surrogate, cache, yu.max(), base[:, :1], "qei", chunk=1), Z)
    nei = call(NoisyEI(opt.surrogate, cache, base, chunk=1), Z)
    np.testing.assert_allclose(qei, ei, rtol=0.08, atol=3e-3)
    np.testing.assert_allclose(nei, ei, rtol=0.08, atol=3e-3)
    g = jax.grad(lambda z: MonteCarlo(opt.surrogate, cache, yu.max(), base[:64, :1], "qei", chunk=1)(z).sum())(Z)
    assert np.all(np.isfinite(g))
