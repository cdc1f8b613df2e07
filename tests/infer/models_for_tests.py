"""Small models and cached fits shared by tests/infer and tests/diagnostics.

Both directories' conftest files load this one file under one module name
(see ``load_shared`` in tests/conftest.py), so each cached fit below is computed (and its
NUTS kernel compiled) once per test session.
"""

from functools import lru_cache

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401  (float64 on)
from bayeskern.infer import nuts

# Known-variance normal mean with a normal prior: mu ~ N(M0, S0^2), y_i ~ N(mu, SIGMA^2).
M0, S0, SIGMA, N = 0.5, 2.0, 1.0, 20


def normal_mean_model(y=None, n=N):
    """The conjugate model; ``twice_mu`` is a deterministic function of ``mu``."""
    mu = numpyro.sample("mu", dist.Normal(M0, S0))
    numpyro.deterministic("twice_mu", 2.0 * mu)
    with numpyro.plate("n", n if y is None else y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, SIGMA), obs=y)


def closed_form(y):
    """Exact posterior mean and sd of mu given data y."""
    y = np.asarray(y)
    prec = 1.0 / S0**2 + y.size / SIGMA**2
    mean = (M0 / S0**2 + y.sum() / SIGMA**2) / prec
    return mean, prec**-0.5


def exact_log_evidence(y):
    """log p(y): y ~ N(M0 1, SIGMA^2 I + S0^2 1 1^T)."""
    y = np.asarray(y)
    n = y.size
    cov = SIGMA**2 * np.eye(n) + S0**2 * np.ones((n, n))
    r = y - M0
    sign, logdet = np.linalg.slogdet(cov)
    return -0.5 * (r @ np.linalg.solve(cov, r) + logdet + n * np.log(2 * np.pi))


def exact_elpd_loo(y):
    """Exact leave-one-out log predictive density sum for the conjugate model."""
    y = np.asarray(y)
    total = 0.0
    for i in range(y.size):
        rest = np.delete(y, i)
        m, s = closed_form(rest)
        var = s**2 + SIGMA**2
        total += -0.5 * (np.log(2 * np.pi * var) + (y[i] - m) ** 2 / var)
    return total


class LooMVN(dist.MultivariateNormal):
    """An MVN whose pointwise log density is its exact leave-one-out predictive, as a GP's is.

    With precision Q: y_i | y_-i ~ N(y_i - [Q (y - m)]_i / Q_ii, 1 / Q_ii).
    """

    def pointwise_log_prob(self, value):
        prec = jnp.linalg.inv(self.covariance_matrix)
        qd = jnp.diagonal(prec, axis1=-2, axis2=-1)
        mean_loo = value - (prec @ (value - self.loc)[..., None])[..., 0] / qd
        return -0.5 * (jnp.log(2 * jnp.pi / qd) + qd * (value - mean_loo) ** 2)


def loo_mvn_setup():
    """Inputs, covariance and data for a 6-point model with one LooMVN observation site."""
    x = jnp.linspace(0.0, 1.0, 6)
    cov = jnp.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.3**2) + 0.1 * jnp.eye(6)
    return x, cov, jnp.sin(4 * x)


def loo_mvn_model(cov, y=None):
    m = numpyro.sample("m", dist.Normal(0.0, 1.0))
    numpyro.sample("y", LooMVN(m * jnp.ones(cov.shape[0]), cov), obs=y)


def conjugate_data():
    return jnp.asarray(np.random.default_rng(42).normal(1.3, SIGMA, N))


@lru_cache(maxsize=None)
def conjugate_nuts_fit():
    """One NUTS fit of the conjugate model (MAP init, 2 x 1000 draws), shared by both test dirs."""
    return nuts(
        normal_mean_model,
        y=conjugate_data(),
        num_warmup=500,
        num_samples=1000,
        num_chains=2,
        init="map",
        map_steps=300,
        seed=1,
        progress_bar=False,
    )
