"""pointwise_log_likelihood against hand computation, and its duck-typed pointwise_log_prob hook."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from bayeskern.infer import pointwise_log_likelihood


def factorised(x, y=None):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.deterministic("s2", s**2)
    numpyro.factor("penalty", -(a**2))  # a factor is not an observation
    with numpyro.plate("n", x.shape[0]):
        numpyro.sample("y", dist.Normal(a * x, s), obs=y)


def test_factorised_normal_matches_hand_computation():
    rng = np.random.default_rng(0)
    x, y = jnp.linspace(-1, 1, 7), jnp.asarray(rng.normal(size=7))
    a, s = rng.normal(size=5), np.exp(rng.normal(size=5))
    samples = {"a": a, "s": s, "s2": np.full(5, np.nan)}  # deterministic draws are ignored
    ll = pointwise_log_likelihood(factorised, samples, x, y=y)
    assert set(ll) == {"y"}
    manual = -np.log(s[:, None]) - 0.5 * np.log(2 * np.pi) - 0.5 * ((np.asarray(y) - a[:, None] * np.asarray(x)) / s[:, None]) ** 2
    assert ll["y"].shape == (5, 7)
    np.testing.assert_allclose(ll["y"], manual, rtol=1e-12)


def test_missing_latent_draws_are_refused():
    x = jnp.linspace(-1, 1, 7)
    with pytest.raises(ValueError, match=r"no draws for latent sites \['s'\]"):
        pointwise_log_likelihood(factorised, {"a": np.zeros(3)}, x, y=jnp.zeros(7))


def test_pointwise_log_prob_is_used_when_the_distribution_has_it(shared):
    _, cov, y = shared.loo_mvn_setup()
    m = np.array([-0.4, 0.1, 0.7])
    ll = pointwise_log_likelihood(shared.loo_mvn_model, {"m": m}, cov, y=y)["y"]
    assert ll.shape == (3, 6)
    # hand computation of the exact LOO predictive densities, one draw at a time
    Q = np.linalg.inv(np.asarray(cov))
    for i, mi in enumerate(m):
        r = np.asarray(y) - mi
        for j in range(6):
            keep = np.arange(6) != j
            K = np.asarray(cov)
            mean = mi + K[j, keep] @ np.linalg.solve(K[np.ix_(keep, keep)], r[keep])
            var = K[j, j] - K[j, keep] @ np.linalg.solve(K[np.ix_(keep, keep)], K[keep, j])
            np.testing.assert_allclose(ll[i, j], -0.5 * (np.log(2 * np.pi * var) + (y[j] - mean) ** 2 / var), rtol=1e-9)
        np.testing.assert_allclose(1 / Q[0, 0], K[0, 0] - K[0, 1:] @ np.linalg.solve(K[1:, 1:], K[1:, 0]), rtol=1e-9)

    # the plain MVN (no pointwise_log_prob) gives one joint term per draw
    def plain(cov, y=None):
        mm = numpyro.sample("m", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.MultivariateNormal(mm * jnp.ones(6), cov), obs=y)

    joint = pointwise_log_likelihood(plain, {"m": m}, cov, y=y)["y"]
    assert joint.shape == (3,)
    np.testing.assert_allclose(joint, [dist.MultivariateNormal(mi * jnp.ones(6), cov).log_prob(y) for mi in m], rtol=1e-12)
