"""Cox-process BO: Laplace posterior against exact references, intensity acquisitions, the search loop."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, stats

import bayeskern  # noqa: F401
from bayeskern.optimize.cox import CoxSearch, laplace_poisson


def test_laplace_single_bin_against_exact_mode_and_curvature():
    # f ~ N(0.3, 0.8), C = 7 with exposure 2: the mode solves C − E e^f − (f − m)/v = 0.
    m, v, C, E = 0.3, 0.8, 7.0, 2.0
    f, cov, lm = laplace_poisson(jnp.array([[v]]), m, jnp.array([C]), jnp.array([E]))
    mode = optimize.brentq(lambda x: C - E * math.exp(x) - (x - m) / v, -10, 10)
    assert math.isclose(float(f[0]), mode, rel_tol=1e-8)  # the Cholesky jitter moves the last digits
    assert math.isclose(float(cov[0, 0]), 1 / (1 / v + E * math.exp(mode)), rel_tol=1e-8)
    # Laplace marginal vs the exact integral of Poisson × normal (without −log C!)
    joint = lambda x: math.exp(C * (math.log(E) + x) - E * math.exp(x)) * stats.norm.pdf(x, m, math.sqrt(v))
    exact = math.log(integrate.quad(joint, -10, 10, epsabs=0, epsrel=1e-12)[0])
    assert abs(float(lm) - exact) < 0.02  # Laplace error for a count of 7


def test_unobserved_bins_keep_the_prior():
    K = jnp.array([[1.0, 0.5], [0.5, 1.0]])
    f, cov, _ = laplace_poisson(K, 0.1, jnp.zeros(2), jnp.zeros(2))
    np.testing.assert_allclose(f, [0.1, 0.1], atol=1e-12)
    np.testing.assert_allclose(cov, K, atol=1e-12)


def _observer(seed):
    rng = np.random.default_rng(seed)
    lam = lambda x: 20 + 400 * np.exp(-0.5 * ((x - 0.72) / 0.03) ** 2)

    def observe(win):
        lo, hi = win[0]
        lmax = 420.0
        n = rng.poisson(lmax * (hi - lo))
        x = rng.uniform(lo, hi, n)
        return x[rng.uniform(size=n) < lam(x) / lmax][:, None]
    return observe


def test_search_locates_the_peak_and_scores_match_closed_forms():
    observe = _observer(0)
    s = CoxSearch([[0.0, 1.0]], 0.05, acquisition="ucb", grid=40, seed=1)
    for _ in range(15):
        w = s.ask()
        assert w.shape == (1, 2) and w[0, 0] >= 0 and w[0, 1] <= 1
        s.tell(w, observe(w))
    assert abs(s.best()[0] - 0.72) < 0.05
    post = s.posterior
    mu, sd = np.asarray(post["mean"]), np.sqrt(np.diag(np.asarray(post["cov"])))
    # EI on the intensity (log-normal closed form) against numerical integration over f ~ N(μ, σ²)
    s.acquisition = "ei"
    ei = np.asarray(s.scores(post))
    lam_star = float(np.exp(mu.max()))
    for g in (5, 20, 28):
        lo = (math.log(lam_star) - mu[g]) / sd[g]  # the integrand is zero below this z
        ref = integrate.quad(lambda z, g=g: (math.exp(mu[g] + sd[g] * z) - lam_star) * stats.norm.pdf(z),
                             lo, lo + 40, epsabs=0, epsrel=1e-10)[0]
        np.testing.assert_allclose(ei[g], ref, rtol=1e-6, atol=1e-14)
    s.acquisition = "count"
    count = np.asarray(s.scores(post))
    g = 12
    cover = s._coverage(s.window(s.centres[g]))
    assert math.isclose(count[g], float(np.sum(cover * s.bin_volume * np.exp(mu + 0.5 * sd**2))), rel_tol=1e-10)
    for kind in ("pi", "changepoint"):
        s.acquisition = kind
        assert np.all(np.isfinite(np.asarray(s.scores(post))))


def test_cox_bad_input():
    with pytest.raises(ValueError, match="acquisition"):
        CoxSearch([[0.0, 1.0]], 0.1, acquisition="max")
    with pytest.raises(ValueError, match="half_width"):
        CoxSearch([[0.0, 1.0]], 0.7)
    s = CoxSearch([[0.0, 1.0]], 0.1)
    with pytest.raises(ValueError, match="inside the window"):
        s.tell([[0.0, 0.2]], [[0.5]])
    with pytest.raises(ValueError, match="inside bounds"):
        s.tell([[0.9, 1.1]], [])
