"""Heteroscedastic GP regression: the noise variance is itself a latent GP.

``y ~ GaussianProcess(k_f, X, noise=exp(g(X)))`` with ``g`` a whitened
latent GP: the mean function is integrated out exactly, the log-noise
function is sampled. Run: ``python -m models.heteroscedastic_gp`` (a
simulated series whose noise grows along the input, with the truth known).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401
from bayeskern.gp import GaussianProcess, latent
from bayeskern.priors import sample_matern52, sample_rbf


def model(X, y=None, X_new=None):
    """``X`` ``(n,)``, ``y`` ``(n,)`` standardised; sites ``f_*``, ``log_noise_*``, ``log_noise`` ``(n,)``."""
    kernel_f = sample_matern52("f", X, y)
    kernel_g = sample_rbf("log_noise", X, variance=dist.LogNormal(0.0, 0.5))
    offset = numpyro.sample("log_noise_mean", dist.Normal(jnp.log(0.1), 1.5))
    g = latent("log_noise", kernel_g, X, mean=offset)
    gp = GaussianProcess(kernel_f, X, noise=jnp.exp(g))
    numpyro.sample("y", gp, obs=y)
    if X_new is not None and y is not None:
        numpyro.deterministic("f_new_mean", gp.condition(y, X_new).mean)


def simulate(n=120, seed=0):
    """Inputs ``(n,)``, observations ``(n,)`` and the true noise sd ``(n,)``."""
    rng = np.random.default_rng(seed)
    X = np.sort(rng.uniform(0, 10, n))
    sd = 0.05 + 0.08 * X
    return X, np.sin(X) + sd * rng.standard_normal(n), sd


def main(num_warmup=400, num_samples=400, num_chains=2):
    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    X, y, sd = simulate()
    fit = nuts(model, X, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
    est = np.exp(0.5 * np.asarray(fit.samples["log_noise"])).mean(0)
    print(check(fit))
    print("noise sd, first/last 10 points: estimated", est[:10].mean().round(3), est[-10:].mean().round(3),
          "true", sd[:10].mean().round(3), sd[-10:].mean().round(3))
    return fit


if __name__ == "__main__":
    main()
