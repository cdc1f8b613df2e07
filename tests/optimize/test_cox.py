"""Cox-process BO: the Laplace posterior against exact references, window acquisitions against quadrature
and Monte Carlo, the surrogate's NumPyro model against bayeskern.cox's likelihood, the search loop."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density
from scipy import integrate, optimize, stats

import bayeskern  # noqa: F401
from bayeskern.cox.likelihood import binned_log_likelihood
from bayeskern.optimize.cox import CoxSearch, window_scores
from bayeskern.optimize.cox_surrogate import CoxSurrogate, laplace_whitened


def test_laplace_single_cell_against_exact_mode_curvature_and_evidence():
    # f = m + √v z, C = 7 events with exposure 2: the mode solves C − E e^f − (f − m)/v = 0.
    m, v, C, E = 0.3, 0.8, 7.0, 2.0
    f, V, lev = laplace_whitened(jnp.array([[math.sqrt(v)]]), m, jnp.array([C]), jnp.array([E]))
    mode = optimize.brentq(lambda x: C - E * math.exp(x) - (x - m) / v, -10, 10)
    assert math.isclose(float(f[0]), mode, rel_tol=1e-10)
    assert math.isclose(float(V[0, 0] ** 2), 1 / (1 / v + E * math.exp(mode)), rel_tol=1e-8)

    def joint(x):  # Poisson likelihood (with −log C!) times the prior density of f
        loglik = C * (math.log(E) + x) - E * math.exp(x) - math.lgamma(C + 1)
        return math.exp(loglik) * stats.norm.pdf(x, m, math.sqrt(v))
    exact = math.log(integrate.quad(joint, -10, 10, epsabs=0, epsrel=1e-12)[0])
    assert abs(float(lev) - exact) < 0.02  # Laplace error for a count of 7


@pytest.mark.parametrize("link", ["log", "softplus"])
def test_laplace_mode_matches_direct_optimisation(link):
    rng = np.random.default_rng(0)
    G = 6
    X = np.linspace(0, 1, G)
    K = np.exp(-0.5 * (X[:, None] - X[None]) ** 2 / 0.3**2) + 1e-8 * np.eye(G)
    A = np.linalg.cholesky(K)
    counts = rng.poisson(5.0, G).astype(float)
    expo = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 0.0])
    counts[expo == 0] = 0
    f, V, _ = laplace_whitened(jnp.asarray(A), 1.0, jnp.asarray(counts), jnp.asarray(expo), link)
    g = np.exp if link == "log" else lambda x: np.log1p(np.exp(x))

    def neg(z):
        lam = g(1.0 + A @ z)
        seen = expo > 0
        return -(np.sum(counts[seen] * np.log(lam[seen] * expo[seen]) - lam[seen] * expo[seen])) + 0.5 * z @ z
    z_ref = optimize.minimize(neg, np.zeros(G), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(f, 1.0 + A @ z_ref, atol=1e-6)
    # Unobserved-only data keep the prior exactly: mean m, covariance A Aᵀ.
    f0, V0, _ = laplace_whitened(jnp.asarray(A), 0.2, jnp.zeros(G), jnp.zeros(G), link)
    np.testing.assert_allclose(f0, 0.2, atol=1e-12)
    np.testing.assert_allclose(V0.T @ V0, K, atol=1e-10)


def test_laplace_damping_keeps_large_counts_finite():
    f, V, lev = laplace_whitened(jnp.array([[2.0]]), -5.0, jnp.array([5000.0]), jnp.array([1.0]))
    assert math.isclose(float(f[0]), math.log(5000.0), rel_tol=1e-3) and np.isfinite(float(lev))


def _fitted_search():
    rng = np.random.default_rng(0)

    def observe(win):
        lo, hi = win[0]
        n = rng.poisson(420 * (hi - lo))
        x = rng.uniform(lo, hi, n)
        return x[rng.uniform(size=n) < (20 + 400 * np.exp(-0.5 * ((x - 0.72) / 0.03) ** 2)) / 420][:, None]

    s = CoxSearch([[0.0, 1.0]], 0.05, acquisition="ucb", seed=1, surrogate=CoxSurrogate([[0.0, 1.0]], grid=24))
    for _ in range(12):
        w = s.ask()
        assert w.shape == (1, 2) and w[0, 0] >= 0 and w[0, 1] <= 1
        s.tell(w, observe(w))
    return s


def test_search_locates_the_peak_and_window_scores_match_references():
    s = _fitted_search()
    assert abs(s.best()[0] - 0.72) < 0.05
    post = s.posterior
    cover = jnp.asarray(s.cover)
    wts = np.exp(np.asarray(post.log_weight))
    size = np.asarray(cover).sum(1)
    mu = np.asarray(post.mean) @ np.asarray(cover).T / size  # (H, W)
    sd = np.sqrt(np.sum((np.asarray(post.V) @ np.asarray(cover).T) ** 2, axis=1)) / size
    t = np.max(wts @ mu)
    link = s.surrogate.link
    ucb = window_scores(post, cover, "ucb", 9.0, link, s.surrogate.shape)
    np.testing.assert_allclose(ucb, wts @ (mu + 3 * sd), rtol=1e-10)
    pi = window_scores(post, cover, "pi", 1.0, link, s.surrogate.shape)
    np.testing.assert_allclose(pi, wts @ stats.norm.sf(t, mu, sd), rtol=1e-8, atol=1e-14)
    # EI of the window intensity e^{f̄} (log-normal closed form) against quadrature over f̄ ~ N(μ, σ²)
    ei = np.asarray(window_scores(post, cover, "ei", 1.0, link, s.surrogate.shape))
    for j in (3, 10, 17):
        ref = 0.0
        for h in range(len(wts)):
            lo = (t - mu[h, j]) / sd[h, j]
            ref += wts[h] * integrate.quad(lambda z, h=h, j=j: (math.exp(mu[h, j] + sd[h, j] * z) - math.exp(t))
                                           * stats.norm.pdf(z), lo, lo + 40, epsabs=0, epsrel=1e-10)[0]
        np.testing.assert_allclose(ei[j], ref, rtol=1e-6, atol=1e-12)
    # Expected count in a window: Monte Carlo over joint posterior draws of f for one component
    count = np.asarray(window_scores(post, cover, "count", 1.0, link, s.surrogate.shape))
    z = np.random.default_rng(1).standard_normal((200_000, post.V.shape[1]))
    per_h = []
    for h in range(len(wts)):
        draws = np.exp(np.asarray(post.mean[h]) + z @ np.asarray(post.V[h]))  # (N, G)
        per_h.append(draws @ np.asarray(cover[7]))
    mc = wts @ np.array([p.mean() for p in per_h])
    se = math.sqrt(sum(w * w * p.var() / len(p) for w, p in zip(wts, per_h, strict=True)))
    assert abs(count[7] - mc) < 5 * se
    cp = np.asarray(window_scores(post, cover, "changepoint", 1.0, link, s.surrogate.shape))
    assert np.all(np.isfinite(cp)) and np.all(cp >= 0)


def test_surrogate_numpyro_model_matches_binned_likelihood():
    sur = CoxSurrogate([[0.0, 2.0]], grid=8)
    counts = np.array([0, 3, 1, 0, 0, 5, 2, 0])
    expo = np.array([0.25, 0.25, 0.25, 0.0, 0.0, 0.25, 0.25, 0.1])
    model = sur.model(counts, expo, name="lam", obs_name="n")
    z = jnp.linspace(-1, 1, 8)
    params = {"lam_lengthscale": 0.2, "lam_variance": 1.5, "lam_mean": 0.7, "lam_z": z}
    lp, tr = log_density(model, (), {}, params)
    f = np.asarray(tr["lam"]["value"])
    seen = expo > 0
    ll = float(binned_log_likelihood(jnp.asarray(0.7 + f[seen]), counts[seen], expo[seen]))
    prior = sum(float(jnp.sum(tr[k]["fn"].log_prob(tr[k]["value"]))) for k in params)
    assert math.isclose(float(lp), ll + prior, rel_tol=1e-10)


def test_two_dimensional_hsgp_search_proposes_windows_inside():
    s = CoxSearch([[0.0, 2.0], [-1.0, 1.0]], [0.2, 0.1], acquisition="count", seed=0, grid=12, num_basis=6)
    assert s.surrogate.structure == "hsgp"
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = s.ask()
        assert w.shape == (2, 2) and np.all(w[:, 0] >= [0, -1]) and np.all(w[:, 1] <= [2, 1])
        s.tell(w, rng.uniform(w[:, 0], w[:, 1], (4, 2)))
    assert np.isclose(s.exposure.sum(), 3 * 0.4 * 0.2)
    assert s.counts.sum() == 12 and np.all(np.isfinite(np.asarray(s.intensity(s.fit()))))


def test_cox_bad_input():
    with pytest.raises(ValueError, match="acquisition"):
        CoxSearch([[0.0, 1.0]], 0.1, acquisition="max")
    with pytest.raises(ValueError, match="half_width"):
        CoxSearch([[0.0, 1.0]], 0.7)
    with pytest.raises(ValueError, match="structure"):
        CoxSurrogate([[0.0, 1.0]], structure="fft")
    with pytest.raises(ValueError, match="link"):
        CoxSurrogate([[0.0, 1.0]], link="square")
    s = CoxSearch([[0.0, 1.0]], 0.1, grid=8)
    with pytest.raises(ValueError, match="inside the window"):
        s.tell([[0.0, 0.2]], [[0.5]])
    with pytest.raises(ValueError, match="inside bounds"):
        s.tell([[0.9, 1.1]], [])
