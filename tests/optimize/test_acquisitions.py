"""Closed-form acquisitions against numerical integration and Monte Carlo; log EI far in the tail."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import bayeskern  # noqa: F401  (float64)
from bayeskern.optimize import acquisitions as af

# Jitted once each: eager evaluation compiles every primitive separately, which is slower here.
log_ei = jax.jit(af.log_expected_improvement)
ei_fn = jax.jit(af.expected_improvement)
log_h = jax.jit(af.log_h)

CASES = [(0.3, 1.2, 0.0), (-1.0, 0.5, 0.2), (2.0, 0.1, 2.5), (0.0, 3.0, -1.0)]


def _ei_quad(mu, sd, best):
    def f(y):
        return (y - best) * stats.norm.pdf(y, mu, sd)
    return integrate.quad(f, best, np.inf, epsabs=1e-13, epsrel=1e-11)[0]


def _log_h_quad(z):
    """log(φ(z) + zΦ(z)) = log ∫_0^∞ u φ(u − z) du, with u = v/|z| (z < 0) to keep quad well scaled."""
    if z >= 0:
        val = integrate.quad(lambda u: u * math.exp(-0.5 * (u - z) ** 2), 0, np.inf, epsrel=1e-12)[0]
        return math.log(val) - 0.5 * math.log(2 * math.pi)
    a = -z
    val = integrate.quad(lambda v: v * math.exp(-v - 0.5 * (v / a) ** 2), 0, np.inf, epsrel=1e-12)[0]
    return -0.5 * z * z - 0.5 * math.log(2 * math.pi) - 2 * math.log(a) + math.log(val)


@pytest.mark.parametrize("mu,sd,best", CASES)
def test_ei_pi_ucb_closed_forms(mu, sd, best):
    np.testing.assert_allclose(af.expected_improvement(mu, sd, best), _ei_quad(mu, sd, best), rtol=1e-8, atol=1e-13)
    np.testing.assert_allclose(af.probability_of_improvement(mu, sd, best), stats.norm.sf(best, mu, sd), rtol=1e-12)
    np.testing.assert_allclose(af.log_probability_of_improvement(mu, sd, best), stats.norm.logsf(best, mu, sd),
                               rtol=1e-12)
    np.testing.assert_allclose(af.upper_confidence_bound(mu, sd, 4.0), mu + 2.0 * sd, rtol=1e-14)


def test_ei_matches_monte_carlo():
    mu, sd, best = 0.4, 0.8, 0.7
    draws = mu + sd * np.random.default_rng(0).standard_normal(400_000)
    imp = np.maximum(draws - best, 0.0)
    se = imp.std() / math.sqrt(imp.size)
    assert abs(float(af.expected_improvement(mu, sd, best)) - imp.mean()) < 4 * se


def test_log_h_against_quadrature():
    z = np.array([3.0, 0.5, 0.0, -0.5, -1.0, -1.5, -5.0, -20.0, -40.0, -300.0, -1e5, -1e7, -1e9])
    np.testing.assert_allclose(np.asarray(log_h(jnp.asarray(z))), [_log_h_quad(v) for v in z], rtol=1e-9,
                               atol=1e-10)


def test_log_ei_equals_log_of_ei_where_stable_and_finite_beyond():
    z = np.linspace(-8, 4, 61)
    np.testing.assert_allclose(log_ei(z, 1.3, 0.0), np.log(ei_fn(z, 1.3, 0.0)), rtol=1e-9)
    far = jnp.asarray([-50.0, -1e3, -1e6, -1e10])
    assert np.all(np.asarray(ei_fn(far, 1.0, 0.0)) == 0.0)  # EI itself underflows
    vals = log_ei(far, 1.0, 0.0)
    assert np.all(np.isfinite(vals)) and np.all(np.diff(np.asarray(vals)) < 0)


def test_log_ei_gradients_finite_and_match_differences():
    mu = jnp.array([3.0, 0.0, -0.999, -1.001, -5.0, -60.0, -1e4, -1e9])
    g = jax.jit(jax.vmap(jax.grad(lambda m: af.log_expected_improvement(m, 1.0, 0.0))))(mu)
    assert np.all(np.isfinite(g)) and np.all(g > 0)
    h = 1e-6 * jnp.maximum(1.0, jnp.abs(mu))
    fd = (log_ei(mu + h, 1.0, 0.0) - log_ei(mu - h, 1.0, 0.0)) / (2 * h)
    np.testing.assert_allclose(g[:7], fd[:7], rtol=1e-5)  # at 1e9 the difference quotient has no digits left
    np.testing.assert_allclose(g[7], 1e9, rtol=1e-6)  # d/dμ (−μ²/2 − 2 log|μ|) ≈ |μ|
    gs = jax.jit(jax.vmap(jax.grad(lambda s, m: af.log_expected_improvement(m, s, 0.0)), (None, 0)))(1.0, mu)
    assert np.all(np.isfinite(gs))
