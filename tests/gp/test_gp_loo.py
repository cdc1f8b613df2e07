"""``GaussianProcess.pointwise_log_prob``: exact LOO predictive densities against brute-force refits."""

import numpy as np
import pytest
from scipy.stats import norm

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Matern32

N = 12
X = np.linspace(0.0, 4.0, N)
Y = np.sin(1.5 * X) + 0.2 * np.random.default_rng(0).normal(size=N)


def _brute_force_loo(K, noise_vec, y, m):
    """For each i: condition on the other n-1 points (R&W eqs. 2.23-2.24) and score y_i."""
    out = np.empty(N)
    for i in range(N):
        o = np.delete(np.arange(N), i)
        Ky = K[np.ix_(o, o)] + np.diag(noise_vec[o])
        kso = K[i, o]
        mu = m[i] + kso @ np.linalg.solve(Ky, y[o] - m[o])
        var = K[i, i] - kso @ np.linalg.solve(Ky, kso) + noise_vec[i]
        out[i] = norm(mu, np.sqrt(var)).logpdf(y[i])
    return out


@pytest.mark.parametrize(
    "noise, mean",
    [(0.1, None), (np.linspace(0.02, 0.5, N), 0.3)],
    ids=["homoscedastic", "heteroscedastic_constant_mean"],
)
def test_loo_matches_brute_force_refits(noise, mean):
    k = Matern32(lengthscale=0.9, variance=1.2)
    gp = GaussianProcess(k, X, noise=noise, mean=mean)
    got = np.asarray(gp.pointwise_log_prob(Y))
    assert got.shape == (N,)
    ref = _brute_force_loo(np.asarray(k(X)), np.broadcast_to(noise, (N,)).astype(float), Y,
                           np.zeros(N) if mean is None else np.full(N, mean))
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)  # atol: the policy's jitter
    # LOO terms are not the joint density
    assert not np.isclose(got.sum(), float(gp.log_prob(Y)))


def test_loo_batched_values():
    gp = GaussianProcess(RBF(lengthscale=0.8), X, noise=0.1)
    Yb = np.stack([Y, 2.0 * Y - 1.0])
    got = np.asarray(gp.pointwise_log_prob(Yb))
    assert got.shape == (2, N)
    np.testing.assert_allclose(got[1], np.asarray(gp.pointwise_log_prob(Yb[1])), rtol=1e-12)
    ref = _brute_force_loo(np.asarray(RBF(lengthscale=0.8)(X)), np.full(N, 0.1), Yb[1], np.zeros(N))
    # atol: LOO uses log_prob's covariance, which carries the policy's 1e-10 relative jitter.
    np.testing.assert_allclose(got[1], ref, rtol=1e-8, atol=1e-8)


def test_loo_finite_whenever_log_prob_is_finite():
    """Noise-free smooth GP: ``log_prob`` adds the policy's default jitter and is finite, so the
    LOO terms (same model, same covariance) must be finite too, not NaN."""
    gp = GaussianProcess(RBF(lengthscale=3.0), X)  # numerically singular Gram (cond ~1e17), no noise
    assert np.isfinite(float(gp.log_prob(Y)))
    assert np.all(np.isfinite(np.asarray(gp.pointwise_log_prob(Y))))
