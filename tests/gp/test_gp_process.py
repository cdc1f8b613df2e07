"""``GaussianProcess`` as a NumPyro distribution: log_prob, shapes, sampling, handlers."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_density
from scipy.stats import multivariate_normal

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Matern32

N = 12
X = np.linspace(0.0, 4.0, N)
Y = np.sin(1.5 * X) + 0.2 * np.random.default_rng(0).normal(size=N)
NOISE_VEC = np.linspace(0.05, 0.4, N)


def _mvn(loc, C):
    return dist.MultivariateNormal(jnp.asarray(loc), covariance_matrix=jnp.asarray(C))


def _gram(k, Xa=X):
    return np.asarray(k(Xa))


@pytest.mark.parametrize(
    "noise, mean, loc",
    [
        (0.1, None, np.zeros(N)),
        (NOISE_VEC, None, np.zeros(N)),
        (0.1, 0.7, np.full(N, 0.7)),
        (0.1, lambda x: 0.5 * x - 1.0, 0.5 * X - 1.0),
        (NOISE_VEC, np.cos(X), np.cos(X)),
    ],
    ids=["scalar_noise", "heteroscedastic", "constant_mean", "callable_mean", "array_mean"],
)
def test_log_prob_matches_numpyro_mvn(noise, mean, loc):
    k = RBF(lengthscale=0.9, variance=1.4)
    gp = GaussianProcess(k, X, noise=noise, mean=mean)
    C = _gram(k) + np.diag(np.broadcast_to(noise, (N,)))
    np.testing.assert_allclose(np.asarray(gp.covariance_matrix), C, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(gp.mean), loc, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(gp.variance), np.diag(C), rtol=1e-14)
    np.testing.assert_allclose(float(gp.log_prob(Y)), float(_mvn(loc, C).log_prob(Y)), rtol=1e-8)
    np.testing.assert_allclose(float(gp.log_prob(Y)), multivariate_normal(loc, C).logpdf(Y), rtol=1e-8)


def test_log_prob_noise_free_well_conditioned():
    k = Matern32(lengthscale=0.3)  # points 0.36 apart: Gram well conditioned
    gp = GaussianProcess(k, X)
    C = _gram(k)
    assert np.linalg.cond(C) < 1e3
    np.testing.assert_allclose(float(gp.log_prob(Y)), multivariate_normal(np.zeros(N), C).logpdf(Y), rtol=1e-8)


def test_shapes_and_batched_log_prob():
    gp = GaussianProcess(RBF(), X, noise=0.1)
    assert gp.event_shape == (N,)
    assert gp.batch_shape == ()
    key = jax.random.PRNGKey(0)
    assert gp.sample(key).shape == (N,)
    assert gp.sample(key, (3,)).shape == (3, N)
    Yb = np.stack([Y, -Y, 2 * Y])
    out = np.asarray(gp.log_prob(Yb))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [float(gp.log_prob(v)) for v in Yb], rtol=1e-12)


def test_sample_moments():
    gp = GaussianProcess(RBF(lengthscale=0.8, variance=2.0), X, noise=0.2, mean=lambda x: 1.0 - x)
    draws = np.asarray(gp.sample(jax.random.PRNGKey(1), (20000,)))
    assert draws.shape == (20000, N)
    C = np.asarray(gp.covariance_matrix)
    sd = np.sqrt(np.diag(C))
    m_se = sd / np.sqrt(20000)
    np.testing.assert_array_less(np.abs(draws.mean(0) - (1.0 - X)), 5 * m_se)
    emp = np.cov(draws, rowvar=False)
    cov_se = np.sqrt((np.outer(sd, sd) ** 2 + C**2) / 20000)
    np.testing.assert_array_less(np.abs(emp - C), 5 * cov_se)


def test_under_plate_expands():
    gp = GaussianProcess(RBF(lengthscale=0.9), X, noise=0.1)

    def model():
        with numpyro.plate("p", 3):
            numpyro.sample("y", gp)

    tr = handlers.trace(handlers.seed(model, 0)).get_trace()
    site = tr["y"]
    assert site["value"].shape == (3, N)
    assert site["fn"].batch_shape == (3,)
    assert site["fn"].event_shape == (N,)
    lp = np.asarray(site["fn"].log_prob(site["value"]))
    assert lp.shape == (3,)
    np.testing.assert_allclose(lp, [float(gp.log_prob(v)) for v in np.asarray(site["value"])], rtol=1e-12)
    # rows are distinct draws
    assert not np.allclose(site["value"][0], site["value"][1])


def test_vmap_over_lengthscales_equals_loop():
    lengthscales = jnp.array([0.3, 0.7, 1.2, 2.5])

    def lp(ls):
        return GaussianProcess(RBF(lengthscale=ls), X, noise=0.1).log_prob(Y)

    batched = np.asarray(jax.jit(jax.vmap(lp))(lengthscales))
    loop = [multivariate_normal(np.zeros(N), _gram(RBF(lengthscale=float(l))) + 0.1 * np.eye(N)).logpdf(Y)
            for l in lengthscales]
    np.testing.assert_allclose(batched, loop, rtol=1e-8)


def test_jit_through_distribution_pytree():
    @jax.jit
    def make(ls):
        return GaussianProcess(RBF(lengthscale=ls), X, noise=0.1, mean=0.3)

    gp = make(0.7)
    assert isinstance(gp, GaussianProcess)
    ref = GaussianProcess(RBF(lengthscale=0.7), X, noise=0.1, mean=0.3)
    np.testing.assert_allclose(float(gp.log_prob(Y)), float(ref.log_prob(Y)), rtol=1e-12)


def _model(X, y=None):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    numpyro.sample("y", GaussianProcess(RBF(lengthscale=ls), X, noise=0.1), obs=y)


def test_prior_predictive_shapes():
    pred = Predictive(_model, num_samples=30)(jax.random.PRNGKey(2), X)
    assert pred["ls"].shape == (30,)
    assert pred["y"].shape == (30, N)
    assert np.all(np.isfinite(np.asarray(pred["y"])))
    # draws differ between prior samples
    assert np.unique(np.asarray(pred["ls"])).size == 30


def test_condition_and_substitute_handlers_give_manual_log_density():
    conditioned = handlers.condition(_model, data={"y": Y})
    tr = handlers.trace(handlers.seed(conditioned, 4)).get_trace(X)
    assert tr["y"]["is_observed"]
    np.testing.assert_allclose(np.asarray(tr["y"]["value"]), Y)
    ls = float(tr["ls"]["value"])
    manual = float(GaussianProcess(RBF(lengthscale=ls), X, noise=0.1).log_prob(Y))
    np.testing.assert_allclose(float(tr["y"]["fn"].log_prob(tr["y"]["value"])), manual, rtol=1e-12)

    joint, _ = log_density(_model, (X,), {"y": Y}, {"ls": 0.6})
    manual_joint = float(dist.LogNormal(0.0, 0.5).log_prob(0.6)) + multivariate_normal(
        np.zeros(N), _gram(RBF(lengthscale=0.6)) + 0.1 * np.eye(N)
    ).logpdf(Y)
    np.testing.assert_allclose(float(joint), manual_joint, rtol=1e-8)

    sub = handlers.trace(handlers.seed(handlers.substitute(_model, data={"ls": 0.6}), 5)).get_trace(X)
    assert float(sub["ls"]["value"]) == 0.6
    assert sub["y"]["value"].shape == (N,)
