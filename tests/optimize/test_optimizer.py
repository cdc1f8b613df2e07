"""The ask/tell loop: finds a quadratic's optimum, exact restart from saved state, bounds and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.optimize import BOState, Optimizer

FAST = dict(num_restarts=4, raw_samples=64, steps=60)


def quad(X):
    X = np.atleast_2d(X)
    return np.sum((X - np.array([0.37, -1.2])[: X.shape[1]]) ** 2, axis=1)


def test_finds_minimum_of_quadratic_in_few_steps():
    opt = Optimizer([[-2.0, 2.0]], seed=1, **FAST)
    for _ in range(9):
        X = opt.ask(1)
        assert X.shape == (1, 1) and np.all((X >= -2) & (X <= 2))
        opt.tell(X, quad(X))
    x, y = opt.best()
    assert abs(x[0] - 0.37) < 0.03 and y < 1e-3


def test_save_load_continues_exactly(tmp_path):
    b = [[-1.0, 1.0], [-2.0, 0.0]]
    opt = Optimizer(b, seed=3, acquisition="ucb", **FAST)
    for _ in range(5):
        X = opt.ask(1)
        opt.tell(X, quad(X))
    opt.tell(np.array([[0.0, -1.0]]), np.array([np.nan]))  # a failed evaluation is saved too
    path = opt.save(tmp_path / "bo.npz")
    restored = Optimizer.load(path)
    assert restored.config() == opt.config()
    assert isinstance(restored.state, BOState) and bool(restored.state.failed[-1])
    a, b_ = opt.ask(2), restored.ask(2)
    np.testing.assert_array_equal(a, b_)
    assert a.shape == (2, 2) and np.all((a >= [-1, -2]) & (a <= [1, 0]))
    # the state is a pytree: it flattens, maps and rebuilds
    leaves = jax.tree.leaves(opt.state)
    assert len(leaves) == 4 and jax.tree.map(jnp.shape, opt.state).X == opt.state.X.shape


def test_failed_evaluations_are_recorded_and_ignored_or_imputed():
    for policy in ("ignore", "worst"):
        opt = Optimizer([[0.0, 1.0]], seed=0, failure_policy=policy, num_initial=3, **FAST)
        opt.tell([[0.1], [0.5], [0.9], [0.7]], [1.0, np.nan, 2.0, np.inf])
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


@pytest.mark.parametrize("acq", ["thompson", pytest.param("mes", marks=pytest.mark.slow),
                                 pytest.param("qnei", marks=pytest.mark.slow), "qei"])
def test_other_acquisitions_propose_inside_bounds(acq):
    opt = Optimizer([[-2.0, 2.0], [-3.0, 1.0]], seed=0, acquisition=acq, num_mc=32, **FAST)
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

    opt = Optimizer([[-2.0, 2.0], [-3.0, 1.0]], seed=0, **FAST)
    X0 = np.array([[0.0, 0.0], [1.0, -1.0], [-1.0, -2.0], [1.5, 0.5], [0.3, -1.5], [0.5, -1.0]])
    opt.tell(X0, quad(X0))
    Xu, yu, _, _ = opt._training_data()
    params, cache, (Xp, _, _) = opt._fit(Xu, yu, jax.random.PRNGKey(0))
    params = dict(params, gp_noise=jnp.full((1,), 1e-7))  # noise-free: NEI's incumbent is then the best y
    cache = opt.surrogate.cache(params, *opt._fit(Xu, yu, jax.random.PRNGKey(0))[2])
    Z = jax.random.uniform(jax.random.PRNGKey(5), (6, 1, 2))
    base = jax.random.normal(jax.random.PRNGKey(1), (20000, Xp.shape[0] + 1))
    ei = Analytic(opt.surrogate, cache, yu.max(), "ei", chunk=1)(Z)
    qei = MonteCarlo(opt.surrogate, cache, yu.max(), base[:, :1], "qei", chunk=1)(Z)
    nei = NoisyEI(opt.surrogate, cache, base, chunk=1)(Z)
    np.testing.assert_allclose(qei, ei, rtol=0.05, atol=2e-3)
    np.testing.assert_allclose(nei, ei, rtol=0.05, atol=2e-3)
    g = jax.grad(lambda z: MonteCarlo(opt.surrogate, cache, yu.max(), base[:64, :1], "qei", chunk=1)(z).sum())(Z)
    assert np.all(np.isfinite(g))
