"""``structure="sgpr"``: collapsed sparse GP (Titsias 2009; DTC; FITC) against dense computations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro import handlers
from scipy.stats import multivariate_normal, norm

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.gp.svgp import select_inducing
from bayeskern.kernels import RBF, Matern32, Matern52

N = 25
RNG = np.random.default_rng(0)
X = np.sort(RNG.uniform(0.0, 5.0, N))
Y = np.sin(2.0 * X) + 0.1 * RNG.normal(size=N)
NOISE_VEC = np.linspace(0.03, 0.2, N)
Z5 = np.linspace(0.3, 4.7, 5)
X_NEW = np.linspace(-0.5, 5.5, 7)


def sgpr(kernel, Z, noise=0.05, **kw):
    return GaussianProcess(kernel, X, noise=noise, structure="sgpr", inducing=Z, **kw)


def sparse_summary(kernel, Z, noise, y, options=()):
    gp = sgpr(kernel, Z, noise, **dict(options))
    post = gp.condition(y, X_NEW)
    return {"lp": gp.log_prob(y), "loo": gp.pointwise_log_prob(y), "mean": post.mean, "var": post.variance,
            "cov": post.covariance_matrix}


def exact_summary(kernel, noise, y):
    gp = GaussianProcess(kernel, X, noise=noise)
    post = gp.condition(y, X_NEW)
    return {"lp": gp.log_prob(y), "loo": gp.pointwise_log_prob(y), "mean": post.mean, "var": post.variance,
            "cov": post.covariance_matrix}


def sparse_log_prob(kernel, Z, noise, y, options=()):
    return sgpr(kernel, Z, noise, **dict(options)).log_prob(y)


def exact_log_prob(kernel, noise, y):
    return GaussianProcess(kernel, X, noise=noise).log_prob(y)


def dense_pieces(kernel, Z, noise, jitter=1e-6):
    """K_nn, Q_nn (with the back end's relative jitter on K_mm) and the noise vector, in NumPy."""
    K = np.asarray(kernel(X))
    Kmm = np.asarray(kernel(Z))
    Kmm = Kmm + jitter * np.mean(np.diag(Kmm)) * np.eye(len(Kmm))
    Knm = np.asarray(kernel(X, Z))
    Q = Knm @ np.linalg.solve(Kmm, Knm.T)
    return K, Q, np.broadcast_to(noise, (N,)).astype(float)


# --------------------------------------------------------------------- Z = X
@pytest.mark.parametrize("kernel", [Matern32(lengthscale=0.7, variance=1.3), RBF(lengthscale=0.5)],
                         ids=["matern32", "rbf"])
@pytest.mark.parametrize("noise", [0.05, NOISE_VEC], ids=["scalar_noise", "per_point_noise"])
def test_vfe_with_Z_equal_X_is_exact(kernel, noise):
    ex = exact_summary(kernel, jnp.asarray(noise), Y)
    sp = sparse_summary(kernel, X, jnp.asarray(noise), Y, options=(("jitter", 1e-10),))
    assert abs(float(sp["lp"]) - float(ex["lp"])) < 1e-6
    for key in ("mean", "var", "cov"):
        np.testing.assert_allclose(sp[key], ex[key], atol=1e-6)
    # LOO of the approximating Gaussian is the exact LOO here
    np.testing.assert_allclose(sp["loo"], ex["loo"], atol=1e-6)


def test_predictive_noise_and_component_kernel_match_dense():
    k1, k2 = Matern32(lengthscale=0.7), RBF(lengthscale=0.5, variance=0.3)
    k = k1 + k2
    exact = GaussianProcess(k, X, noise=0.05).condition(Y)
    sparse = sgpr(k, X, jitter=1e-10).condition(Y)
    for kw in [{"include_noise": True}, {"kernel": k2}, {"include_noise": True, "noise_new": 0.2}]:
        pe, ps = exact.at(X_NEW, **kw), sparse.at(X_NEW, **kw)
        np.testing.assert_allclose(ps.mean, pe.mean, atol=1e-6)
        np.testing.assert_allclose(ps.covariance_matrix, pe.covariance_matrix, atol=1e-6)
    pe, ps = exact.at(X_NEW), sparse.at(X_NEW)
    np.testing.assert_allclose(float(ps.log_prob(pe.mean + 0.1)), float(pe.log_prob(pe.mean + 0.1)), rtol=1e-4)
    draws = ps.sample(jax.random.PRNGKey(0), (3,))
    assert draws.shape == (3, len(X_NEW)) and np.all(np.isfinite(draws))


# --------------------------------------------------------------------- M < n
@pytest.mark.parametrize("lengthscale, variance, noise", [(0.3, 1.0, 0.01), (0.7, 2.0, 0.05), (1.5, 0.5, 0.3)])
def test_vfe_bound_below_exact_and_monotone_in_nested_Z(lengthscale, variance, noise):
    k = RBF(lengthscale=lengthscale, variance=variance)
    exact = float(exact_log_prob(k, noise, Y))
    order = select_inducing(X, N, seed=1)  # k-means++ order: prefixes are nested sets
    bounds = [float(sparse_log_prob(k, order[:M], noise, Y)) for M in (5, 12, N)]
    assert all(b <= exact + 1e-8 for b in bounds), (bounds, exact)
    assert all(b2 >= b1 - 1e-8 for b1, b2 in itertools.pairwise(bounds)), bounds


@pytest.mark.parametrize("noise", [0.05, NOISE_VEC], ids=["scalar_noise", "per_point_noise"])
def test_vfe_dtc_fitc_against_dense_covariances(noise):
    k = Matern52(lengthscale=0.8, variance=1.1)
    K, Q, lam = dense_pieces(k, Z5, noise)
    gap = np.diag(K) - np.diag(Q)
    dtc = multivariate_normal(np.zeros(N), Q + np.diag(lam)).logpdf(Y)
    fitc = multivariate_normal(np.zeros(N), Q + np.diag(gap + lam)).logpdf(Y)
    vfe = dtc - 0.5 * np.sum(gap / lam)
    for bound, ref in [("vfe", vfe), ("dtc", dtc), ("fitc", fitc)]:
        got = float(sparse_log_prob(k, Z5, jnp.asarray(noise), Y, options=(("bound", bound),)))
        np.testing.assert_allclose(got, ref, rtol=1e-9)


@pytest.mark.parametrize("bound", ["vfe", "fitc"])
def test_posterior_matches_dense_sparse_formulas(bound):
    k = Matern32(lengthscale=0.6)
    K, Q, lam = dense_pieces(k, Z5, 0.05)
    if bound == "fitc":
        lam = lam + np.diag(K) - np.diag(Q)
    Ks_m = np.asarray(k(X_NEW, Z5))
    Kmm = np.asarray(k(Z5))
    Kmm = Kmm + 1e-6 * np.mean(np.diag(Kmm)) * np.eye(5)
    Kmn = np.asarray(k(Z5, X))
    Sigma = np.linalg.inv(Kmm + (Kmn / lam) @ Kmn.T)
    mean = Ks_m @ Sigma @ Kmn @ (Y / lam)
    cov = np.asarray(k(X_NEW)) - Ks_m @ np.linalg.solve(Kmm, Ks_m.T) + Ks_m @ Sigma @ Ks_m.T
    u_mean = Kmm @ Sigma @ Kmn @ (Y / lam)
    np.testing.assert_allclose(sgpr(k, Z5, bound=bound).condition(Y).inducing_mean, u_mean, atol=1e-9)
    post = sparse_summary(k, Z5, jnp.asarray(0.05), Y, options=(("bound", bound),))
    np.testing.assert_allclose(post["mean"], mean, atol=1e-9)
    np.testing.assert_allclose(post["cov"], cov, atol=1e-9)
    np.testing.assert_allclose(post["var"], np.diag(cov), atol=1e-9)


@pytest.mark.parametrize("bound", ["vfe", "dtc", "fitc"])
def test_loo_matches_brute_force_on_the_approximating_gaussian(bound):
    k = RBF(lengthscale=0.6, variance=1.2)
    K, Q, lam = dense_pieces(k, Z5, NOISE_VEC)
    C = Q + np.diag(lam + (np.diag(K) - np.diag(Q) if bound == "fitc" else 0.0))
    m = 0.3
    Yb = np.stack([Y, 2.0 * Y - 1.0])
    gp = GaussianProcess(k, X, noise=NOISE_VEC, mean=m, structure="sgpr", inducing=Z5, bound=bound)
    got = np.asarray(gp.pointwise_log_prob(Yb))
    assert got.shape == (2, N)
    for row, yy in zip(got, Yb, strict=True):
        ref = np.empty(N)
        for i in range(N):
            o = np.delete(np.arange(N), i)
            w = np.linalg.solve(C[np.ix_(o, o)], C[o, i])
            mu = m + w @ (yy[o] - m)
            ref[i] = norm(mu, np.sqrt(C[i, i] - C[i, o] @ w)).logpdf(yy[i])
        np.testing.assert_allclose(row, ref, rtol=1e-8, atol=1e-9)


@pytest.mark.slow
def test_chunked_pass_equals_single_pass():
    k = RBF(lengthscale=0.6)
    a = sgpr(k, Z5, NOISE_VEC, bound="fitc")
    b = sgpr(k, Z5, NOISE_VEC, bound="fitc", chunk_size=7)  # 25 = 3 * 7 + 4: a padded last block
    np.testing.assert_allclose(float(b.log_prob(Y)), float(a.log_prob(Y)), rtol=1e-12)
    np.testing.assert_allclose(b.pointwise_log_prob(Y), a.pointwise_log_prob(Y), rtol=1e-11)
    np.testing.assert_allclose(b.condition(Y, X_NEW).mean, a.condition(Y, X_NEW).mean, atol=1e-12)
    # gradients through the checkpointed scan equal those of the single pass
    theta, Z0 = THETA0, jnp.asarray(Z5[:, None] + 0.05)
    g_chunked = _grad_bound(theta, Z0, 7)
    g_single = _grad_bound(theta, Z0, 4096)
    for gc, gs in zip(g_chunked, g_single, strict=True):
        np.testing.assert_allclose(gc, gs, rtol=1e-9, atol=1e-12)


def test_sample_draws_from_the_approximate_model():
    k = Matern32(lengthscale=0.6)
    _, Q, lam = dense_pieces(k, Z5, 0.05)
    gp = GaussianProcess(k, X, noise=0.05, mean=1.0, structure="sgpr", inducing=Z5)
    draws = np.asarray(gp.sample(jax.random.PRNGKey(0), (20000,)))
    assert draws.shape == (20000, N)
    np.testing.assert_allclose(draws.mean(0), 1.0, atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), Q + np.diag(lam), atol=0.06)
    assert gp.sample(jax.random.PRNGKey(1), (2, 3)).shape == (2, 3, N)


# --------------------------------------------------------------------- gradients
THETA0 = jnp.log(jnp.array([0.6, 1.3, 0.05]))


def _bound(theta, Z, chunk=4096):
    k = RBF(lengthscale=jnp.exp(theta[0]), variance=jnp.exp(theta[1]))
    return GaussianProcess(k, X, noise=jnp.exp(theta[2]), structure="sgpr", inducing=Z, chunk_size=chunk).log_prob(Y)


_grad_bound = jax.jit(jax.grad(_bound, argnums=(0, 1)), static_argnums=2)


def test_gradients_finite_and_match_finite_differences():
    Z0 = jnp.asarray(Z5[:, None] + 0.05)
    theta = THETA0
    g_theta, g_Z = _grad_bound(theta, Z0, 4096)
    assert np.all(np.isfinite(g_theta)) and np.all(np.isfinite(g_Z))
    h = 1e-5
    bound = jax.jit(_bound)
    for i in range(3):
        e = jnp.zeros(3).at[i].set(h)
        fd = (bound(theta + e, Z0) - bound(theta - e, Z0)) / (2 * h)
        np.testing.assert_allclose(g_theta[i], fd, rtol=1e-5, atol=1e-6)
    for j in range(Z0.shape[0]):
        e = jnp.zeros_like(Z0).at[j, 0].set(h)
        fd = (bound(theta, Z0 + e) - bound(theta, Z0 - e)) / (2 * h)
        np.testing.assert_allclose(g_Z[j, 0], fd, rtol=1e-5, atol=1e-6)


def test_inducing_inputs_as_numpyro_param_are_learnable():
    def model(y):
        Z = numpyro.param("Z", jnp.asarray(Z5))
        ls = numpyro.param("ls", 0.8)
        gp = GaussianProcess(RBF(lengthscale=ls), X, noise=0.05, structure="sgpr", inducing=Z)
        numpyro.sample("y", gp, obs=y)

    def neg(params):
        tr = handlers.trace(handlers.substitute(model, data=params)).get_trace(Y)
        return -tr["y"]["fn"].log_prob(Y)

    params = {"Z": jnp.asarray(Z5), "ls": jnp.asarray(0.8)}
    value_and_grad = jax.jit(jax.value_and_grad(neg))
    start, g = value_and_grad(params)
    assert g["Z"].shape == (5,) and np.all(np.isfinite(g["Z"])) and np.any(g["Z"] != 0)
    # a few gradient steps on Z and the lengthscale raise the bound
    for _ in range(10):
        _, g = value_and_grad(params)
        params = {k: v - 1e-3 * g[k] for k, v in params.items()}
    assert float(value_and_grad(params)[0]) < float(start)


def test_two_dimensional_inputs_and_2d_inducing():
    rng = np.random.default_rng(3)
    X2 = rng.uniform(-2, 2, (N, 2))
    y2 = np.sin(X2[:, 0]) * np.cos(X2[:, 1]) + 0.1 * rng.normal(size=N)
    k = RBF(lengthscale=np.array([0.8, 1.2]))
    Z = select_inducing(X2, 5, seed=0)

    def both(Z, jitter=None):
        sparse = GaussianProcess(k, X2, noise=0.01, structure="sgpr", inducing=Z, jitter=jitter).log_prob(y2)
        return sparse, GaussianProcess(k, X2, noise=0.01).log_prob(y2)

    bound, exact = both(Z)
    assert float(bound) <= float(exact)
    full, exact = both(X2, jitter=1e-10)
    assert abs(float(full) - float(exact)) < 1e-6


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "options, match",
    [
        ({}, "inducing"),
        ({"inducing": np.zeros((4, 2))}, "inducing"),
        ({"inducing": np.zeros((2, 3, 1))}, "inducing"),
        ({"inducing": np.array([[0.0], [np.nan]])}, "inducing"),
        ({"inducing": Z5, "bound": "exact"}, "bound"),
        ({"inducing": Z5, "inducing_points": Z5}, "inducing_points"),
        ({"inducing": Z5, "jitter": -1.0}, "jitter"),
        ({"inducing": Z5, "chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_options_raise_value_error_naming_them(options, match):
    with pytest.raises(ValueError, match=match):
        GaussianProcess(RBF(), X, noise=0.1, structure="sgpr", **options)


def test_missing_inducing_error_gives_a_hint_and_2d_shape_check():
    with pytest.raises(ValueError, match="select_inducing"):
        GaussianProcess(RBF(), X, noise=0.1, structure="sgpr")
    X2 = np.zeros((6, 2)) + np.arange(6)[:, None]
    with pytest.raises(ValueError, match=r"inducing must have shape \(M, 2\)"):
        GaussianProcess(RBF(), X2, noise=0.1, structure="sgpr", inducing=np.arange(3.0))


def test_zero_noise_is_rejected():
    with pytest.raises(ValueError, match="noise"):
        GaussianProcess(RBF(), X, structure="sgpr", inducing=Z5)


def test_select_inducing_is_deterministic_and_spread():
    a = select_inducing(X, 8, seed=4)
    np.testing.assert_array_equal(a, select_inducing(X, 8, seed=4))
    assert not np.array_equal(a, select_inducing(X, 8, seed=5))
    assert a.shape == (8, 1) and len(np.unique(a)) == 8 and set(a[:, 0]) <= set(X)
    r = select_inducing(X, 8, seed=4, selection="random")
    assert r.shape == (8, 1) and set(r[:, 0]) <= set(X)
    with pytest.raises(ValueError, match="num"):
        select_inducing(X, N + 1)
