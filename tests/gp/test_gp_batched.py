"""Batches of GPs: per-series hyperparameters with leading batch axes (dense back end)."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from scipy.stats import multivariate_normal, norm

import bayeskern  # noqa: F401  (float64 on)
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Matern52, Periodic

S, N = 3, 7
X1 = np.linspace(0.0, 2.0, N)
X2 = np.random.default_rng(0).uniform(0.0, 1.0, (N, 2))
ELL = np.array([0.3, 1.0, 2.5])
VAR = np.array([1.0, 0.5, 2.0])
NOISE = np.array([0.1, 0.2, 0.05])
Y = np.random.default_rng(1).normal(size=(S, N))


def matern52_np(A, B, ell, var):
    """Dense NumPy Matérn 5/2 with a scalar or per-dimension lengthscale."""
    A, B = np.atleast_2d(A.T).T, np.atleast_2d(B.T).T
    r = np.sqrt(np.sum(((A[:, None, :] - B[None, :, :]) / ell) ** 2, axis=-1))
    return var * (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r)


def rbf_np(A, B, ell, var):
    A, B = np.atleast_2d(A.T).T, np.atleast_2d(B.T).T
    return var * np.exp(-0.5 * np.sum(((A[:, None, :] - B[None, :, :]) / ell) ** 2, axis=-1))


def loop_logpdf(Ks, Y):
    return np.array([multivariate_normal(np.zeros(N), K).logpdf(y) for K, y in zip(Ks, Y, strict=True)])


def test_log_prob_is_a_loop_of_independent_gps():
    gp = GaussianProcess(Matern52(lengthscale=ELL[:, None], variance=VAR[:, None]), X1, noise=NOISE[:, None])
    assert gp.batch_shape == (S,) and gp.event_shape == (N,) and gp.structure == "dense"
    Ks = [matern52_np(X1, X1, ELL[i], VAR[i]) + NOISE[i] * np.eye(N) for i in range(S)]
    ref = loop_logpdf(Ks, Y)
    np.testing.assert_allclose(gp.log_prob(Y), ref, rtol=1e-8)
    # sample axes in front of the batch; one vector broadcast against every series
    np.testing.assert_allclose(gp.log_prob(np.stack([Y, 2 * Y])), np.stack([ref, loop_logpdf(Ks, 2 * Y)]), rtol=1e-8)
    np.testing.assert_allclose(gp.log_prob(Y[0]), loop_logpdf(Ks, np.broadcast_to(Y[0], (S, N))), rtol=1e-8)
    np.testing.assert_allclose(gp.covariance_matrix, np.stack(Ks), rtol=1e-10)
    np.testing.assert_allclose(gp.variance, np.stack([np.diag(K) for K in Ks]), rtol=1e-10)


def test_ard_batch_heteroscedastic_noise_and_a_shared_summand():
    ell = np.array([[0.5, 2.0], [1.5, 0.2], [1.0, 1.0]])  # (S, d): one ARD lengthscale per series
    noise = np.random.default_rng(2).uniform(0.05, 0.3, (S, N))
    kernel = RBF(lengthscale=ell, variance=VAR[:, None]) + Matern52(lengthscale=0.7, variance=0.3)
    gp = GaussianProcess(kernel, X2, noise=noise)
    assert kernel.batch_shape == (S,) and gp.batch_shape == (S,)
    Ks = [rbf_np(X2, X2, ell[i], VAR[i]) + matern52_np(X2, X2, 0.7, 0.3) + np.diag(noise[i]) for i in range(S)]
    np.testing.assert_allclose(gp.log_prob(Y), loop_logpdf(Ks, Y), rtol=1e-8)


def test_batched_kernel_with_shared_noise_and_two_batch_axes():
    ell = np.array([[[0.4], [1.2]], [[2.0], [0.9]]])  # batch (2, 2)
    gp = GaussianProcess(Matern52(lengthscale=ell), X1, noise=0.1, mean=0.5)
    assert gp.batch_shape == (2, 2)
    Yb = np.random.default_rng(4).normal(size=(2, 2, N))
    lp = gp.log_prob(Yb)
    assert lp.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            K = matern52_np(X1, X1, ell[i, j, 0], 1.0) + 0.1 * np.eye(N)
            assert np.isclose(lp[i, j], multivariate_normal(np.full(N, 0.5), K).logpdf(Yb[i, j]), rtol=1e-8)


def test_pointwise_loo_terms_per_series():
    gp = GaussianProcess(Matern52(lengthscale=ELL[:, None], variance=VAR[:, None]), X1, noise=NOISE[:, None])
    pw = np.asarray(gp.pointwise_log_prob(Y))
    assert pw.shape == (S, N)
    for s in range(S):
        K = matern52_np(X1, X1, ELL[s], VAR[s]) + NOISE[s] * np.eye(N)
        for i in range(N):
            o = np.delete(np.arange(N), i)
            w = np.linalg.solve(K[np.ix_(o, o)], K[o, i])
            ref = norm.logpdf(Y[s, i], w @ Y[s, o], np.sqrt(K[i, i] - K[i, o] @ w))
            assert np.isclose(pw[s, i], ref, rtol=1e-7)


def test_samples_have_each_series_covariance():
    gp = GaussianProcess(Matern52(lengthscale=ELL[:, None], variance=VAR[:, None]), X1, noise=NOISE[:, None])
    draws = np.asarray(gp.sample(jax.random.PRNGKey(0), (20000,)))
    assert draws.shape == (20000, S, N)
    for s in range(S):
        K = matern52_np(X1, X1, ELL[s], VAR[s]) + NOISE[s] * np.eye(N)
        np.testing.assert_allclose(np.cov(draws[:, s].T), K, atol=0.06 * VAR[s])


def plate_model(X, Y=None):
    with numpyro.plate("series", Y.shape[0]):
        ell = numpyro.sample("ell", dist.LogNormal(0.0, 1.0))
        var = numpyro.sample("var", dist.LogNormal(0.0, 0.5))
        noise = numpyro.sample("noise", dist.LogNormal(-2.0, 0.5))
        kernel = Matern52(lengthscale=ell[..., None], variance=var[..., None])
        numpyro.sample("y", GaussianProcess(kernel, X, noise=noise[..., None]), obs=Y)


def test_inside_a_plate_the_site_log_density_is_the_sum_over_series_and_differentiable():
    values = {"ell": jnp.asarray(ELL), "var": jnp.asarray(VAR), "noise": jnp.asarray(NOISE)}
    tr = handlers.trace(handlers.substitute(handlers.seed(plate_model, 0), data=values)).get_trace(X1, Y)
    site = tr["y"]
    Ks = [matern52_np(X1, X1, ELL[i], VAR[i]) + NOISE[i] * np.eye(N) for i in range(S)]
    np.testing.assert_allclose(site["fn"].log_prob(site["value"]), loop_logpdf(Ks, Y), rtol=1e-8)

    def total(ell):
        return jnp.sum(GaussianProcess(Matern52(lengthscale=ell[:, None], variance=VAR[:, None]), X1,
                                       noise=NOISE[:, None]).log_prob(Y))

    g = jax.jit(jax.grad(total))(jnp.asarray(ELL))
    eps = 1e-6
    for i in range(S):
        step = np.zeros(S)
        step[i] = eps
        fd = (total(jnp.asarray(ELL + step)) - total(jnp.asarray(ELL - step))) / (2 * eps)
        assert np.isclose(g[i], fd, rtol=1e-5)


def test_refusals_say_how_to_write_a_batch():
    k = Matern52(lengthscale=ELL[:, None])
    with pytest.raises(ValueError, match=r"structure='kalman' cannot be used.*batch shape \(3,\).*one GaussianProcess per series"):
        GaussianProcess(k, X1, noise=0.1, structure="kalman")
    with pytest.raises(ValueError, match="condition takes one GP at a time"):
        GaussianProcess(k, X1, noise=0.1).condition(Y[0])
    # the natural mistake under a plate: per-series values without the trailing axis
    with pytest.raises(ValueError, match=r"hyperparameters for 3 input dimension\(s\) but X has 1.*ell\[\.\.\., None\]"):
        GaussianProcess(Matern52(lengthscale=ELL), X1, noise=0.1)
    with pytest.raises(ValueError, match=r"noise with batch axes .* needs a batched kernel"):
        GaussianProcess(Matern52(), X1, noise=NOISE[:, None])
    with pytest.raises(ValueError, match=r"variance must be a scalar, got shape \(3,\).*\(\*batch, 1\)"):
        Matern52(variance=VAR)
    with pytest.raises(ValueError, match=r"period must be a scalar or have shape \(d,\)"):
        Periodic(period=ELL[:, None])


def test_batched_kernel_gram_is_per_kernel():
    k = Matern52(lengthscale=ELL[:, None], variance=VAR[:, None]) * np.array([[2.0], [1.0], [0.5]])
    assert k.batch_shape == (S,)
    G, D = k(X1, X1[:3]), k.diag(X1)
    assert G.shape == (S, N, 3) and D.shape == (S, N)
    for i, c in enumerate([2.0, 1.0, 0.5]):
        np.testing.assert_allclose(G[i], c * matern52_np(X1, X1[:3], ELL[i], VAR[i]), rtol=1e-10)
        np.testing.assert_allclose(D[i], c * VAR[i], rtol=1e-12)


@pytest.mark.slow
def test_nuts_recovers_distinct_lengthscales_per_series():
    from bayeskern.infer import nuts

    X = np.linspace(0.0, 10.0, 40)
    true_ell = np.array([0.4, 3.0])
    keys = jax.random.split(jax.random.PRNGKey(5), 2)
    Yt = np.stack([
        np.asarray(GaussianProcess(Matern52(lengthscale=ell), X, noise=0.01).sample(key)) for ell, key in zip(true_ell, keys, strict=True)
    ])
    fit = nuts(plate_model, X, Yt, num_warmup=300, num_samples=300, num_chains=2, progress_bar=False)
    med = np.median(fit.samples["ell"], axis=0)
    assert fit.samples["ell"].shape == (600, 2)
    assert 0.2 < med[0] < 0.8 and 1.5 < med[1] < 6.0
    assert np.mean(fit.samples["ell"][:, 0] < fit.samples["ell"][:, 1]) > 0.99
