"""Poisson GP on counts with the latent field integrated out by Laplace's method.

Run: ``python -m models.gp_counts_laplace`` (British coal-mining disasters
1851-1962 binned to yearly counts; NUTS over three hyperparameters, then
Laplace draws of the log-rate; ``--inla`` uses the CCD design instead of NUTS).
"""

from __future__ import annotations

import sys

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401
from bayeskern.gp import laplace_marginal, sample_latent
from bayeskern.kernels import Matern32


def model(x, y, exposure=None):
    """``x`` ``(n,)`` inputs, ``y`` ``(n,)`` counts, ``exposure`` ``(n,)`` (default ones).

    ``y_i ~ Poisson(exposure_i · exp(f_i))``, ``f ~ GP(b, Matérn-3/2(ls, var))``;
    sites ``ls``, ``var``, ``b`` and the observed Laplace-marginal site ``f_y``.
    """
    ls = numpyro.sample("ls", dist.LogNormal(np.log(2.0), 0.5))
    var = numpyro.sample("var", dist.LogNormal(np.log(0.5), 0.5))
    b = numpyro.sample("b", dist.Normal(0.0, 2.0))
    offset = None if exposure is None else jnp.log(exposure)
    laplace_marginal("f", Matern32(lengthscale=ls, variance=var), x,
                     lambda f: dist.Poisson(jnp.exp(f)), y, mean=b, offset=offset)


def coal_yearly():
    """``(years (112,), x in decades (112,), counts (112,))`` from the coal-mining event times."""
    from bayeskern.datasets import load_coal_mining

    data = load_coal_mining()
    years = np.arange(1851, 1963)
    counts = np.histogram(np.floor(data.X), bins=np.append(years, 1963))[0].astype(float)
    return years, (years - years[0]) / 10.0, counts


def main(use_inla: bool = False, num_warmup=300, num_samples=400, num_chains=2):
    from bayeskern.diagnostics import check
    from bayeskern.infer import inla, nuts

    years, x, y = coal_yearly()
    if use_inla:
        fit = inla(model, x, y, num_samples=num_chains * num_samples)
    else:
        fit = nuts(model, x, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
        print(check(fit))
    f = sample_latent(fit, "f")
    rate = np.exp(f)
    lo, mid, hi = np.percentile(rate, [5, 50, 95], axis=0)
    print(fit.summary().loc[["ls", "var", "b"]])
    for yr in (1860, 1890, 1920, 1950):
        i = yr - years[0]
        print(f"{yr}: disasters/year median {mid[i]:.2f} (90% {lo[i]:.2f}-{hi[i]:.2f}), observed {y[i]:.0f}")
    return fit


if __name__ == "__main__":
    main(use_inla="--inla" in sys.argv)
