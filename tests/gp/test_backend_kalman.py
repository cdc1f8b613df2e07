"""Kalman (state-space) back end against the dense back end on the same model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Cosine, Matern12, Matern32, Matern52, Periodic
from bayeskern.linalg.kalman import kalman_log_likelihood, kalman_smoother
from bayeskern.linalg.kalman_parallel import parallel_log_likelihood

RNG = np.random.default_rng(0)
N = 40
T = RNG.uniform(0.0, 8.0, N)  # unsorted on purpose
T[7] = T[3]  # a tie
Y = np.sin(T) + 0.1 * RNG.standard_normal(N)
T_NEW = np.array([-1.0, 0.5, 2.25, T[3], 7.9, 9.5])
NOISE = 0.02

KERNELS = {
    "matern12": Matern12(lengthscale=0.8, variance=0.6),
    "matern32": Matern32(lengthscale=1.1, variance=0.9),
    "matern52": Matern52(lengthscale=1.3, variance=0.7),
    "sum": Matern52(lengthscale=2.0, variance=0.5) + Matern12(lengthscale=0.3, variance=0.1),
    "quasi_periodic": Matern32(lengthscale=3.0, variance=0.4) * Cosine(period=1.7),
}


def pair(kernel, **kalman_options):
    # settings of the Kalman back end are refused by the dense one, which reads none
    return (GaussianProcess(kernel, T, noise=NOISE, mean=0.1, structure="dense"),
            GaussianProcess(kernel, T, noise=NOISE, mean=0.1, structure="kalman", **kalman_options))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_log_prob_and_loo_match_dense(name):
    dense, kalman = pair(KERNELS[name])
    np.testing.assert_allclose(kalman.log_prob(Y), dense.log_prob(Y), rtol=1e-8)
    np.testing.assert_allclose(kalman.pointwise_log_prob(Y), dense.pointwise_log_prob(Y), rtol=1e-6, atol=1e-8)


def test_gradient_matches_dense_for_all_hyperparameters():
    def lp(p, method):
        k = Matern52(lengthscale=p[0], variance=p[1]) * Cosine(period=p[3])
        return GaussianProcess(k, T, noise=p[2], structure=method).log_prob(Y)

    p = jnp.array([1.3, 0.7, 0.05, 2.5])
    g_dense = jax.grad(lp)(p, "dense")
    g_kalman = jax.jit(jax.grad(lp), static_argnums=1)(p, "kalman")
    np.testing.assert_allclose(g_kalman, g_dense, rtol=1e-6)


def test_parallel_scan_equals_sequential_filter():
    dense, kalman = pair(KERNELS["sum"], parallel_scan=True)
    np.testing.assert_allclose(kalman.log_prob(Y), dense.log_prob(Y), rtol=1e-8)


@pytest.mark.parametrize("name", ["matern52", "sum"])
def test_conditioning_matches_dense(name):
    dense, kalman = pair(KERNELS[name])
    cd, ck = dense.condition(Y, T_NEW), kalman.condition(Y, T_NEW)
    np.testing.assert_allclose(ck.mean, cd.mean, atol=1e-8)
    np.testing.assert_allclose(ck.variance, cd.variance, atol=1e-8)
    cd, ck = dense.condition(Y, T_NEW, include_noise=True), kalman.condition(Y, T_NEW, include_noise=True)
    np.testing.assert_allclose(ck.variance, cd.variance, atol=1e-8)


def test_component_prediction_matches_dense():
    k1, k2 = Matern52(lengthscale=2.0, variance=0.5), Matern32(lengthscale=0.5, variance=0.2) * Cosine(period=1.3)
    dense, kalman = pair(k1 + k2)
    for comp in (k1, k2):
        cd, ck = dense.condition(Y).at(T_NEW, kernel=comp), kalman.condition(Y).at(T_NEW, kernel=comp)
        np.testing.assert_allclose(ck.mean, cd.mean, atol=1e-8)
        np.testing.assert_allclose(ck.variance, cd.variance, atol=1e-8)
    with pytest.raises(ValueError, match="summands"):
        kalman.condition(Y).at(T_NEW, kernel=Matern52())


def test_posterior_and_prior_samples_have_the_right_moments():
    dense, kalman = pair(KERNELS["matern32"])
    draws = np.asarray(kalman.condition(Y).at(T_NEW).sample(jax.random.PRNGKey(0), (20000,)))
    ref = dense.condition(Y, T_NEW)
    sd = np.sqrt(np.asarray(ref.variance))
    # Monte-Carlo bounds: 5 standard errors for means and covariances.
    assert np.all(np.abs(draws.mean(0) - ref.mean) < 5 * sd / np.sqrt(20000) + 1e-9)
    cov_err = np.abs(np.cov(draws.T) - np.asarray(ref.covariance_matrix))
    assert np.all(cov_err < 5 * np.outer(sd, sd) * np.sqrt(2.0 / 20000) + 1e-9)
    prior = np.asarray(kalman.sample(jax.random.PRNGKey(1), (20000,)))
    assert prior.shape == (20000, N)
    K = np.asarray(dense.covariance_matrix)
    s = np.sqrt(np.diag(K))
    assert np.all(np.abs(np.cov(prior.T) - K) < 5 * np.outer(s, s) * np.sqrt(2.0 / 20000))


def test_periodic_needs_harmonics_and_converges():
    k = Periodic(lengthscale=1.0, period=2.0, variance=0.5)
    with pytest.raises(ValueError, match="num_harmonics"):
        GaussianProcess(k, T, noise=NOISE, structure="kalman")
    exact = float(GaussianProcess(k, T, noise=NOISE, structure="dense").log_prob(Y))
    errs = [abs(float(GaussianProcess(k, T, noise=NOISE, structure="kalman", num_harmonics=J).log_prob(Y)) - exact)
            for J in (2, 5, 15)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-6


def test_filter_handles_unobserved_points_and_smoother_interpolates():
    k = Matern52(lengthscale=1.0, variance=1.0)
    ssm = k.state_space()
    t = np.sort(T)
    from bayeskern.kernels import discrete_transitions

    A, Q = discrete_transitions(k, np.diff(t, prepend=t[0]), model=ssm)
    observed = np.arange(N) % 3 != 0
    y = np.sin(t)
    ll = kalman_log_likelihood(A, Q, ssm.H, ssm.Pinf, y, NOISE, observed)
    ll_ref = GaussianProcess(k, t[observed], noise=NOISE, structure="dense").log_prob(y[observed])
    # rtol 1e-7: the dense reference carries the policy's 1e-10 relative jitter, the raw filter none.
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-7)
    np.testing.assert_allclose(parallel_log_likelihood(A, Q, ssm.H, ssm.Pinf, y, NOISE, observed), ll, rtol=1e-10)
    _, mean, var, _, _ = kalman_smoother(A, Q, ssm.H, ssm.Pinf, y, NOISE, observed)
    ref = GaussianProcess(k, t[observed], noise=NOISE, structure="dense").condition(y[observed], t[~observed])
    np.testing.assert_allclose(mean[~observed], ref.mean, atol=1e-8)
    np.testing.assert_allclose(var[~observed], ref.variance, atol=1e-8)


def test_automatic_choice_and_clear_errors():
    long_t = np.linspace(0.0, 100.0, 2000)
    assert GaussianProcess(Matern52(), long_t, noise=0.1).structure == "kalman"
    assert GaussianProcess(Matern52(), T, noise=0.1).structure == "dense"  # too few points to pay off
    assert GaussianProcess(RBF(), long_t, noise=0.1).structure == "dense"  # no state-space form
    with pytest.raises(ValueError, match="RBF has no finite state-space form"):
        GaussianProcess(RBF(), T, structure="kalman")
    with pytest.raises(ValueError, match="1-D inputs"):
        GaussianProcess(Matern52(), RNG.normal(size=(10, 2)), structure="kalman")
    with pytest.raises(ValueError, match="structure must be"):
        GaussianProcess(Matern52(), T, structure="cholesky")


def test_full_covariance_is_refused_with_guidance():
    _, kalman = pair(KERNELS["matern52"])
    with pytest.raises(ValueError, match="structure='dense'"):
        _ = kalman.condition(Y, T_NEW).covariance_matrix
