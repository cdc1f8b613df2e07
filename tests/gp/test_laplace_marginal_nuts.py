"""Laplace marginal + NUTS over hyperparameters against NUTS on the whitened latent field (slow).

Coal-mining disasters binned to yearly counts (112 years), Poisson GP with a
Matérn-3/2 kernel and a constant mean. Posterior means of the hyperparameters
and of f must agree within Monte-Carlo error (the Poisson likelihood is
log-concave and the counts are low but the field is smooth, so the Laplace
error in f | θ is small compared with the posterior spread).
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayeskern  # noqa: F401
from bayeskern.gp import laplace_marginal, latent, sample_latent
from bayeskern.kernels import Matern32


def coal_counts():
    from bayeskern.datasets import load_coal_mining

    data = load_coal_mining()
    years = np.arange(1851, 1963)
    counts = np.histogram(np.floor(data.X), bins=np.append(years, 1963))[0].astype(float)
    x = (years - years[0]) / 10.0  # decades
    return x, counts


def priors():
    ls = numpyro.sample("ls", dist.LogNormal(np.log(2.0), 0.5))
    var = numpyro.sample("var", dist.LogNormal(np.log(0.5), 0.5))
    b = numpyro.sample("b", dist.Normal(0.0, 2.0))
    return Matern32(lengthscale=ls, variance=var), b


def marginal_model(x, y):
    kern, b = priors()
    laplace_marginal("f", kern, x, lambda f: dist.Poisson(jnp.exp(f)), y, mean=b)


def latent_model(x, y):
    kern, b = priors()
    f = latent("f", kern, x, mean=b)
    numpyro.sample("y", dist.Poisson(jnp.exp(f)), obs=y)


@pytest.fixture(scope="module")
def coal_fits():
    """Laplace-marginal NUTS (2 x 400) and latent-field NUTS (2 x 1000) on the yearly coal-mining counts."""
    from bayeskern.infer import nuts

    x, y = coal_counts()
    assert y.sum() == 191
    fa = nuts(marginal_model, x, y, num_warmup=300, num_samples=400, num_chains=2, progress_bar=False)
    fb = nuts(latent_model, x, y, num_warmup=500, num_samples=1000, num_chains=2, progress_bar=False)
    return fa, fb


def _f_agreement(fa, fb):
    """``|Δ mean| / MCSE`` of f over the 112 years (MCSEs from ArviZ, both fits)."""
    sa, sb = fa.summary(), fb.summary()
    rows = [i for i in sb.index if str(i).startswith("f[")]
    err_f = np.hypot(sa.loc[rows, "mcse_mean"].to_numpy(float), sb.loc[rows, "mcse_mean"].to_numpy(float))
    return np.abs(fa.samples["f"].mean(0) - fb.samples["f"].mean(0)) / err_f


# Run with --runlong (160 s on an idle 2-core machine; it did not finish in 30 min under load 5-15).
# Measured 2026-12-06: hyperparameter means agree within 4 MCSE, but the latent f means of the plain Laplace
# draws do not: 2.5-5.7 MCSE apart at 80 % of the years. With counts of 0-6 per year the Poisson posterior of
# f given θ is skewed and the Laplace Gaussian is centred at its mode, not its mean; the long runs make the
# MCSE small enough to see it. sample_latent(correction=40) moves each draw by NUTS on the exact p(f | θ, y):
# the second test checks that this removes the bias.
@pytest.mark.slow
@pytest.mark.long
@pytest.mark.xfail(strict=True, reason="Laplace mode vs posterior mean of f for low Poisson counts (see comment)")
def test_coal_poisson_gp_matches_latent_nuts(coal_fits):
    fa, fb = coal_fits
    sample_latent(fa, "f", seed=0)
    sa, sb = fa.summary(), fb.summary()
    for name in ["ls", "var", "b"]:
        d = abs(sa.loc[name, "mean"] - sb.loc[name, "mean"])
        err = np.hypot(sa.loc[name, "mcse_mean"], sb.loc[name, "mcse_mean"])
        assert d < 4 * err, (name, d, err)
    z = _f_agreement(fa, fb)
    # 112 correlated comparisons: allow the largest at 4.5 MC errors, and most well inside 2
    assert np.max(z) < 4.5 and np.mean(z < 2) > 0.85, (np.max(z), np.mean(z < 2))
    # pointwise LOO from the Laplace terms against LOO from the latent-field fit
    import arviz as az

    la, lb = az.loo(fa.to_arviz()), az.loo(fb.to_arviz())
    assert abs(float(la.elpd) - float(lb.elpd)) < 3.0


@pytest.mark.slow
@pytest.mark.long
def test_corrected_latent_draws_match_latent_nuts(coal_fits):
    fa, fb = coal_fits
    sample_latent(fa, "f", seed=1, correction=40)
    z = _f_agreement(fa, fb)
    assert np.max(z) < 4.5 and np.mean(z < 2) > 0.85, (np.max(z), np.mean(z < 2))
