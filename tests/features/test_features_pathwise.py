"""Pathwise conditioning (Wilson et al. 2020): sample functions whose moments are the exact posterior's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.features import PathwiseSamples, pathwise_posterior
from bayeskern.kernels import RBF, Matern52

N = 10
X = np.linspace(0.0, 4.0, N)
Y = np.sin(1.5 * X) + 0.2 * np.random.default_rng(0).normal(size=N)
XS = np.array([-0.5, 0.9, 2.1, 3.3, 4.6, 6.0])
NOISE = 0.05


def _exact(k, X, y, XS, noise, mean=0.0):
    Ky = np.asarray(k(X)) + noise * np.eye(len(X))
    Ks = np.asarray(k(X, XS))
    mu = mean + Ks.T @ np.linalg.solve(Ky, y - mean)
    cov = np.asarray(k(XS)) - Ks.T @ np.linalg.solve(Ky, Ks)
    return mu, cov


@pytest.mark.slow
def test_sample_moments_match_exact_posterior():
    k = Matern52(lengthscale=0.9, variance=1.3)
    S = 3000
    samples = pathwise_posterior(k, X, Y, noise=NOISE, key=jax.random.PRNGKey(0), num_samples=S,
                                 num_features=1500, mean=0.2)
    F = np.asarray(samples(XS))
    assert F.shape == (S, len(XS))
    mu, cov = _exact(k, X, Y, XS, NOISE, mean=0.2)
    sd = np.sqrt(np.diag(cov))
    # mean: Monte Carlo error only (the update is exact)
    assert np.all(np.abs(F.mean(0) - mu) < 4.5 * sd / np.sqrt(S) + 1e-3)
    # covariance: Monte Carlo plus the RFF error of the prior (M = 1500)
    np.testing.assert_allclose(np.cov(F.T), cov, atol=0.06 * 1.3)


@pytest.mark.slow
def test_functions_are_consistent_and_jittable():
    k = RBF(lengthscale=0.7)
    samples = pathwise_posterior(k, X, Y, noise=NOISE, key=jax.random.PRNGKey(1), num_samples=3, num_features=256)
    a = np.asarray(samples(XS))
    b = np.asarray(samples(XS[::-1]))[:, ::-1]
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)  # one function per draw, any order of inputs
    np.testing.assert_allclose(np.asarray(jax.jit(lambda s, x: s(x))(samples, XS)), a, rtol=1e-10, atol=1e-12)
    # near-noise-free: the draws pass (almost) through the data
    tight = pathwise_posterior(k, X, Y, noise=1e-8, key=jax.random.PRNGKey(2), num_samples=2, num_features=128)
    np.testing.assert_allclose(np.asarray(tight(X)), np.broadcast_to(Y, (2, N)), atol=1e-3)
    # gradients in x (what Thompson sampling optimises)
    g = jax.grad(lambda x: samples(x[None])[0, 0])(jnp.array(1.3))
    assert np.isfinite(float(g))


@pytest.mark.slow
def test_2d_callable_mean_and_per_point_noise():
    rng = np.random.default_rng(1)
    X2 = rng.uniform(-1, 1, size=(12, 2))
    y2 = np.cos(X2[:, 0]) + X2[:, 1]
    XS2 = rng.uniform(-1.5, 1.5, size=(4, 2))
    noise = np.linspace(0.01, 0.1, 12)
    k = RBF(lengthscale=np.array([0.6, 0.9]))
    mean = lambda Z: 0.5 * jnp.asarray(Z)[:, 0]
    S = 2000
    F = np.asarray(pathwise_posterior(k, X2, y2, noise=noise, key=jax.random.PRNGKey(3), num_samples=S,
                                      num_features=1000, mean=mean)(XS2))
    Ky = np.asarray(k(X2)) + np.diag(noise)
    Ks = np.asarray(k(X2, XS2))
    mu = 0.5 * XS2[:, 0] + Ks.T @ np.linalg.solve(Ky, y2 - 0.5 * X2[:, 0])
    cov = np.asarray(k(XS2)) - Ks.T @ np.linalg.solve(Ky, Ks)
    assert np.all(np.abs(F.mean(0) - mu) < 4.5 * np.sqrt(np.diag(cov) / S) + 1e-3)
    np.testing.assert_allclose(np.cov(F.T), cov, atol=0.07)


def test_bad_input():
    k = RBF()
    with pytest.raises(ValueError, match="y must have shape"):
        pathwise_posterior(k, X, Y[:-1], noise=0.1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="noise"):
        pathwise_posterior(k, X, Y, noise=-1.0, key=jax.random.PRNGKey(0))
    s = pathwise_posterior(k, X, Y, noise=0.1, key=jax.random.PRNGKey(0), num_features=8)
    assert isinstance(s, PathwiseSamples) and s.num_samples == 1
    with pytest.raises(ValueError, match="input dimension"):
        s(np.zeros((3, 2)))
