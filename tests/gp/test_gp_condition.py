"""``GaussianProcess.condition`` / ``GPPosterior`` / ``ConditionedGP`` against closed forms
(Rasmussen & Williams 2006, Alg. 2.1, eqs. 2.23-2.24)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import ConditionedGP, GaussianProcess, GPPosterior
from bayeskern.kernels import RBF, Periodic

N, M = 12, 5
X = np.linspace(0.0, 4.0, N)
Y = np.sin(1.5 * X) + 0.2 * np.random.default_rng(0).normal(size=N)
XS = np.array([-0.5, 0.9, 2.1, 3.3, 4.6])
NOISE = 0.1


def _np(k, A, B=None):
    return np.asarray(k(A) if B is None else k(A, B))


def _closed_form(k, noise_vec, y, m_train=None, m_test=None, kstar=None):
    """Mean and covariance of f* | y with (optionally) a component kernel ``kstar``."""
    kstar = k if kstar is None else kstar
    Ky = _np(k, X) + np.diag(noise_vec)
    Ks = _np(kstar, X, XS)
    r = y - (0.0 if m_train is None else m_train)
    mean = (0.0 if m_test is None else m_test) + Ks.T @ np.linalg.solve(Ky, r)
    cov = _np(kstar, XS) - Ks.T @ np.linalg.solve(Ky, Ks)
    return mean, cov


def test_predictive_moments_match_closed_form():
    k = RBF(lengthscale=0.8, variance=1.5)
    post = GaussianProcess(k, X, noise=NOISE).condition(Y, XS)
    assert isinstance(post, ConditionedGP)
    assert post.event_shape == (M,)
    mean, cov = _closed_form(k, np.full(N, NOISE), Y)
    np.testing.assert_allclose(np.asarray(post.mean), mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(post.covariance_matrix), cov, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(np.asarray(post.variance), np.diag(cov), rtol=1e-7, atol=1e-10)



def test_heteroscedastic_noise_and_include_noise():
    k = RBF(lengthscale=0.8)
    noise = np.linspace(0.05, 0.5, N)
    gp = GaussianProcess(k, X, noise=noise)
    post = gp.condition(Y, XS)
    mean, cov = _closed_form(k, noise, Y)
    np.testing.assert_allclose(np.asarray(post.mean), mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(post.covariance_matrix), cov, rtol=1e-7, atol=1e-10)
    # per-point training noise: the noise at X_new must be given
    with pytest.raises(ValueError, match="noise_new"):
        gp.condition(Y).at(XS, include_noise=True)
    noise_new = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    noisy = gp.condition(Y).at(XS, include_noise=True, noise_new=noise_new)
    np.testing.assert_allclose(np.asarray(noisy.variance), np.diag(cov) + noise_new, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(noisy.covariance_matrix), cov + np.diag(noise_new), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(np.asarray(noisy.mean), mean, rtol=1e-8, atol=1e-10)


def test_include_noise_scalar_adds_training_noise():
    k = RBF(lengthscale=0.8)
    gp = GaussianProcess(k, X, noise=NOISE)
    f = gp.condition(Y, XS)
    yv = gp.condition(Y, XS, include_noise=True)
    np.testing.assert_allclose(np.asarray(yv.variance), np.asarray(f.variance) + NOISE, rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(yv.covariance_matrix), np.asarray(f.covariance_matrix) + NOISE * np.eye(M), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(np.asarray(yv.mean), np.asarray(f.mean), rtol=1e-14)


def test_component_prediction_for_sum_kernel():
    k1 = RBF(lengthscale=2.0, variance=1.0)
    k2 = Periodic(lengthscale=0.8, period=1.3, variance=0.5)
    gp = GaussianProcess(k1 + k2, X, noise=NOISE)
    full = gp.condition(Y, XS)
    c1 = gp.condition(Y, XS, kernel=k1)
    c2 = gp.condition(Y, XS, kernel=k2)
    noise_vec = np.full(N, NOISE)
    m1, cov1 = _closed_form(k1 + k2, noise_vec, Y, kstar=k1)
    m2, cov2 = _closed_form(k1 + k2, noise_vec, Y, kstar=k2)
    np.testing.assert_allclose(np.asarray(c1.mean), m1, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(c2.mean), m2, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(c1.covariance_matrix), cov1, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(np.asarray(c2.variance), np.diag(cov2), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(np.asarray(c1.mean) + np.asarray(c2.mean), np.asarray(full.mean), rtol=1e-10, atol=1e-12)
    # the components are not independent a posteriori: variances do not add up
    assert not np.allclose(np.asarray(c1.variance) + np.asarray(c2.variance), np.asarray(full.variance))


def test_posterior_reuse_equals_direct_calls():
    k = RBF(lengthscale=0.7)
    gp = GaussianProcess(k, X, noise=NOISE, mean=0.4)
    posterior = gp.condition(Y)
    assert isinstance(posterior, GPPosterior)
    Ky = _np(k, X) + NOISE * np.eye(N)
    Kj = Ky + 1e-10 * np.mean(np.diag(Ky)) * np.eye(N)
    np.testing.assert_allclose(np.asarray(posterior.L), np.linalg.cholesky(Kj), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(posterior.alpha), np.linalg.solve(Ky, Y - 0.4), rtol=1e-8, atol=1e-8)
    Xa, Xb = XS, XS[::-1] + 0.05
    for Xn in (Xa, Xb):
        a = posterior.at(Xn)
        b = gp.condition(Y, Xn)
        np.testing.assert_allclose(np.asarray(a.mean), np.asarray(b.mean), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(a.covariance_matrix), np.asarray(b.covariance_matrix), rtol=1e-14)
    # under jit (no concrete checks) the numbers are the same
    jm, jv = jax.jit(lambda y: (gp.condition(y, Xa).mean, gp.condition(y, Xa).variance))(Y)
    np.testing.assert_allclose(np.asarray(jm), np.asarray(posterior.at(Xa).mean), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jv), np.asarray(posterior.at(Xa).variance), rtol=1e-10)
    # constant mean: the prior mean is 0.4 far away from the data
    far = posterior.at(np.array([30.0, 40.0, 50.0, 60.0, 70.0]))
    np.testing.assert_allclose(np.asarray(far.mean), 0.4, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(far.variance), 1.0, rtol=1e-12)


def test_callable_mean_used_at_new_inputs():
    k = RBF(lengthscale=0.8)

    def mean_fn(x):
        return 2.0 - 0.5 * jnp.asarray(x)

    post = GaussianProcess(k, X, noise=NOISE, mean=mean_fn).condition(Y, XS)
    mean, cov = _closed_form(k, np.full(N, NOISE), Y, m_train=2.0 - 0.5 * X, m_test=2.0 - 0.5 * XS)
    np.testing.assert_allclose(np.asarray(post.mean), mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(post.covariance_matrix), cov, rtol=1e-7, atol=1e-10)


def test_array_mean_cannot_predict_at_new_inputs():
    gp = GaussianProcess(RBF(), X, noise=NOISE, mean=np.cos(X))
    with pytest.raises(ValueError, match=r"array.*X_new.*callable"):
        gp.condition(Y, XS)
    # conditioning itself works (alpha uses the array mean at X)
    post = gp.condition(Y)
    Ky = _np(RBF(), X) + NOISE * np.eye(N)
    np.testing.assert_allclose(np.asarray(post.alpha), np.linalg.solve(Ky, Y - np.cos(X)), rtol=1e-8, atol=1e-8)


def test_conditioned_sample_moments_and_log_prob():
    k = RBF(lengthscale=0.8, variance=1.5)
    post = GaussianProcess(k, X, noise=NOISE).condition(Y, XS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well-conditioned posterior covariance: no jitter warning
        draws = np.asarray(post.sample(jax.random.PRNGKey(0), (20000,)))
    assert draws.shape == (20000, M)
    C = np.asarray(post.covariance_matrix)
    sd = np.sqrt(np.diag(C))
    np.testing.assert_array_less(np.abs(draws.mean(0) - np.asarray(post.mean)), 5 * sd / np.sqrt(20000))
    emp = np.cov(draws, rowvar=False)
    np.testing.assert_array_less(np.abs(emp - C), 5 * np.sqrt((np.outer(sd, sd) ** 2 + C**2) / 20000))
    v = draws[0]
    np.testing.assert_allclose(
        float(post.log_prob(v)), multivariate_normal(np.asarray(post.mean), C).logpdf(v), rtol=1e-7
    )
