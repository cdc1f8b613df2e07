"""integrate(), designs, WSABI-L, evidence and the NumPyro BQ model."""

import numpy as np
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF
from bayeskern.quadrature import (
    Gaussian,
    Uniform,
    acquisition,
    bq_model,
    bq_posterior,
    evidence,
    integral_posterior,
    integrate,
    kernel_herding,
    model_defaults,
    select_batch,
    wsabi_l,
)


def test_integrate_gaussian_integrand_fixed_kernel_beats_monte_carlo():
    meas = Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 1.0]])
    f = lambda x: jnp.exp(-0.5 * jnp.sum(x**2))  # noqa: E731
    # E exp(-|x|²/2) under N(0, S) = |I + S|^{-1/2}
    truth = np.linalg.det(np.eye(2) + np.array([[1.0, 0.3], [0.3, 1.0]])) ** -0.5
    r = integrate(f, meas, 32, kernel=RBF(lengthscale=1.0))
    assert abs(float(r.mean) - truth) < 1e-3 and r.X.shape == (32, 2) and r.draws.shape == (1000,)
    mc = np.asarray(r.fX).mean()
    assert abs(float(r.mean) - truth) < 0.1 * abs(mc - truth)
    lo, hi = r.interval(0.99)
    assert lo < truth < hi


def test_integrate_precomputed_map_and_bad_arguments():
    meas = Uniform(0.0, 1.0)
    X = np.linspace(0.02, 0.98, 12)[:, None]
    r = integrate((X, np.exp(X[:, 0])), meas)
    assert float(r.mean) == pytest.approx(np.e - 1, rel=1e-4) and float(r.sd) < 1e-3
    with pytest.raises(ValueError, match="design"):
        integrate(lambda x: x[0], meas, 4, design="grid")
    with pytest.raises(ValueError, match="n must"):
        integrate(lambda x: x[0], meas)
    with pytest.raises(ValueError, match="scalar"):
        integrate(lambda x: jnp.stack([x[0], x[0]]), meas, 3, kernel=RBF())


@pytest.mark.slow
def test_acquisitions_prefer_unexplored_regions_and_batch_is_greedy():
    meas = Uniform([0.0, 0.0], [1.0, 1.0])
    k = RBF(lengthscale=0.2)
    X = jnp.array([[0.1, 0.1], [0.15, 0.2]])
    for kind in ("ivr", "us", "mi"):
        a = acquisition(kind, k, meas, X)
        assert float(a(jnp.array([0.7, 0.7]))) > float(a(jnp.array([0.12, 0.15])))
    B = select_batch(k, meas, X, 3, starts=8, steps=30)
    post_before = bq_posterior(k, meas, X, jnp.zeros(2))
    post_after = bq_posterior(k, meas, jnp.concatenate([X, B]), jnp.zeros(5))
    assert B.shape == (3, 2) and float(post_after.variance) < 0.5 * float(post_before.variance)
    assert float(jnp.min(jnp.linalg.norm(B[:, None] - B[None], axis=-1) + jnp.eye(3))) > 0.05
    H = kernel_herding(k, meas, 8, candidates=256)
    assert H.shape == (8, 2) and len(np.unique(np.asarray(H), axis=0)) == 8


def test_wsabi_l_on_a_gaussian_bump():
    meas = Gaussian([0.0], [[1.0]])
    X = jnp.linspace(-2.5, 2.5, 15)[:, None]
    fX = jnp.exp(-0.5 * (X[:, 0] - 0.3) ** 2 / 0.25)
    truth = np.sqrt(0.25 / 1.25) * np.exp(-0.5 * 0.09 / 1.25)
    post = wsabi_l(X, fX, meas)
    assert abs(float(post.mean) - truth) < 0.02 and float(post.sd) > 0
    with pytest.raises(ValueError, match="non-negative"):
        wsabi_l(X, fX - 0.5, meas)


def linreg(t, y=None):
    w = numpyro.sample("w", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
    numpyro.sample("y", dist.Normal(w[0] + w[1] * t, 0.5), obs=y)


def exact_log_evidence(t, y):
    Phi = np.stack([np.ones_like(t), t], 1)
    C = 0.25 * np.eye(len(t)) + Phi @ Phi.T
    _, logdet = np.linalg.slogdet(C)
    return -0.5 * (y @ np.linalg.solve(C, y) + logdet + len(t) * np.log(2 * np.pi))


@pytest.mark.slow
def test_evidence_of_conjugate_linear_regression():
    t = np.linspace(-1, 1, 6)
    y = 0.4 + 0.8 * t + np.array([0.1, -0.2, 0.05, 0.3, -0.1, 0.0])
    res = evidence(linreg, t, y=y, n=30, method="bq")
    assert res.log_evidence == pytest.approx(exact_log_evidence(t, y), abs=0.05)
    with pytest.raises(ValueError, match="Normal"):
        evidence(lambda: numpyro.sample("s", dist.Gamma(2.0, 1.0)), n=4)


@pytest.mark.slow
def test_bq_model_sites_and_map_fit_agree_with_closed_form():
    from bayeskern.infer import svi

    meas = Uniform(0.0, 1.0)
    X = np.linspace(0.05, 0.95, 8)[:, None]
    y = np.sin(3 * X[:, 0])
    fit = svi(bq_model, X, y, measure=meas, guide="map", steps=300, **model_defaults(X, y))
    post = integral_posterior(fit)
    assert {"f_lengthscale", "f_variance", "integral_mean", "integral_var"} <= set(fit.samples)
    truth = (1 - np.cos(3.0)) / 3
    assert abs(float(post.mean) - truth) < 3e-3
    with pytest.raises(ValueError, match="no site"):
        integral_posterior(fit, name="other")
