"""GP regression: Matérn-5/2 kernel with data-scaled priors, Gaussian noise, NUTS over hyperparameters.

Run: ``python -m models.gp_regression`` (fits one decade of the bundled CO2
record, where a single Matérn kernel is a reasonable model).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401  (float64)
from bayeskern.gp import GaussianProcess
from bayeskern.priors import sample_matern52


def model(X, y=None, X_new=None):
    """``y ~ GP(0, Matern52) + N(0, noise)`` with ``X`` ``(n,)|(n, d)``, ``y`` ``(n,)`` standardised.

    With ``X_new`` ``(m, ...)`` and ``y``, records ``f_new`` (a draw of the
    latent function at ``X_new`` given the data) and its mean ``f_new_mean``.
    """
    kernel = sample_matern52("f", X, y)
    noise = numpyro.sample("noise", dist.LogNormal(jnp.log(0.05), 1.5))
    gp = GaussianProcess(kernel, X, noise=noise)
    numpyro.sample("y", gp, obs=y)
    if X_new is not None and y is not None:
        conditioned = gp.condition(y, X_new)
        numpyro.deterministic("f_new_mean", conditioned.mean)
        numpyro.sample("f_new", conditioned)


def main(num_warmup=500, num_samples=500, num_chains=2):
    from bayeskern.datasets import load_co2
    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    data = load_co2(start=1990, end=2000)
    X = np.asarray(data.X) - 1990.0
    y = (data.y - data.y.mean()) / data.y.std()
    fit = nuts(model, X, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
    print(fit.summary())
    print(check(fit))
    return fit


if __name__ == "__main__":
    main()
