"""``Fit.from_numpyro``: a plain NumPyro MCMC run turned into a bayeskern Fit."""

from functools import lru_cache

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import HMC, MCMC, NUTS
from scipy.stats import norm

import bayeskern  # noqa: F401  (float64 on)
from bayeskern.diagnostics import check
from bayeskern.gp import GaussianProcess
from bayeskern.infer.fit import Fit
from bayeskern.infer.nuts import EXTRA_FIELDS
from bayeskern.kernels import Matern52

M0, S0, SIGMA = 0.5, 2.0, 1.0
Y = np.random.default_rng(3).normal(1.3, SIGMA, size=15)


def normal_mean(y=None, n=15):
    mu = numpyro.sample("mu", dist.Normal(M0, S0))
    numpyro.deterministic("twice_mu", 2.0 * mu)
    with numpyro.plate("obs", n if y is None else y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, SIGMA), obs=y)


def _run(kernel, model, *args, extra_fields=(), num_chains=2, **kwargs):
    mcmc = MCMC(kernel, num_warmup=200, num_samples=250, num_chains=num_chains,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(1), *args, extra_fields=extra_fields, **kwargs)
    return mcmc


@lru_cache(maxsize=None)
def full_mcmc():
    return _run(NUTS(normal_mean), normal_mean, y=Y, extra_fields=EXTRA_FIELDS)


@lru_cache(maxsize=None)
def plain_mcmc():
    return _run(NUTS(normal_mean), normal_mean, y=Y)


def exact_posterior(y):
    prec = 1.0 / S0**2 + y.size / SIGMA**2
    return (M0 / S0**2 + y.sum() / SIGMA**2) / prec, prec**-0.5


def test_samples_stats_data_and_dims_from_a_full_run():
    mcmc = full_mcmc()
    fit = Fit.from_numpyro(mcmc, normal_mean, y=Y)
    assert fit.method == "nuts" and fit.mcmc is mcmc
    assert (fit.num_chains, fit.num_draws) == (2, 250)
    np.testing.assert_array_equal(fit.samples_by_chain["mu"], np.asarray(mcmc.get_samples(group_by_chain=True)["mu"]))
    np.testing.assert_allclose(fit.samples["twice_mu"], 2 * fit.samples["mu"])
    assert set(fit.sample_stats) == {
        "diverging", "energy", "n_steps", "acceptance_rate", "step_size", "lp", "tree_depth", "reached_max_tree_depth"
    }
    extra = mcmc.get_extra_fields(group_by_chain=True)
    np.testing.assert_allclose(fit.sample_stats["lp"], -np.asarray(extra["potential_energy"]))
    np.testing.assert_array_equal(fit.sample_stats["tree_depth"], np.log2(np.asarray(extra["num_steps"])).astype(int) + 1)
    assert fit.sample_stats["diverging"].shape == (2, 250)
    np.testing.assert_array_equal(fit.observed_data["y"], Y)
    assert fit.dims["y"] == ["obs"]
    m, s = exact_posterior(Y)
    assert abs(fit.samples["mu"].mean() - m) < 4 * s / np.sqrt(100)


def test_log_likelihood_loo_check_save_load_predict(tmp_path):
    fit = Fit.from_numpyro(full_mcmc(), normal_mean, y=Y)
    ll = fit.log_likelihood["y"]
    assert ll.shape == (2, 250, Y.size)
    expected = norm.logpdf(Y[None, None, :], fit.samples_by_chain["mu"][..., None], SIGMA)
    np.testing.assert_allclose(ll, expected, rtol=1e-10)

    dt = fit.to_arviz()
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(dt.children)
    loo = az.loo(dt, var_name="y")
    # Exact LOO for the conjugate model: y_i | y_-i ~ N(m_-i, s_-i^2 + SIGMA^2).
    exact = 0.0
    for i in range(Y.size):
        mi, si = exact_posterior(np.delete(Y, i))
        exact += norm.logpdf(Y[i], mi, np.sqrt(si**2 + SIGMA**2))
    assert abs(float(loo.elpd) - exact) < 1.0  # Monte-Carlo error of 500 NUTS draws
    # PSIS with all k good stays close to plain importance sampling on the same draws.
    flat = ll.reshape(-1, Y.size)
    raw_is = np.sum(-np.log(np.mean(np.exp(-flat), axis=0)))
    assert abs(float(loo.elpd) - raw_is) < 0.1

    verdict = check(fit)
    assert verdict.sampler["chains"] == 2 and verdict.sampler["divergences"] == 0
    assert "ebfmi" in verdict.sampler and verdict.sampler["pareto_k"]["y"]["n_obs"] == Y.size

    path = tmp_path / "fit.nc"
    fit.save(path)
    back = Fit.load(path)
    np.testing.assert_array_equal(back.samples_by_chain["mu"], fit.samples_by_chain["mu"])
    np.testing.assert_array_equal(back.log_likelihood["y"], ll)
    np.testing.assert_array_equal(back.sample_stats["energy"], fit.sample_stats["energy"])
    assert back.method == "nuts"

    pred = fit.predict(normal_mean, n=4, num_draws=50)
    assert pred["y"].shape == (50, 4)
    np.testing.assert_allclose(pred["twice_mu"], 2 * fit.samples["mu"][np.round(np.linspace(0, 499, 50)).astype(int)])


def test_run_without_extra_fields_keeps_only_diverging():
    fit = Fit.from_numpyro(plain_mcmc(), normal_mean, y=Y)
    assert set(fit.sample_stats) == {"diverging"}
    verdict = check(fit)
    assert verdict.sampler["divergences"] == 0 and "ebfmi" not in verdict.sampler
    assert fit.log_likelihood["y"].shape == (2, 250, Y.size)


def test_hmc_sampler_gets_its_own_method_and_no_tree_depth():
    mcmc = _run(HMC(normal_mean, num_steps=5, trajectory_length=None), normal_mean, y=Y, extra_fields=EXTRA_FIELDS, num_chains=1)
    fit = Fit.from_numpyro(mcmc, normal_mean, y=Y)
    assert fit.method == "hmc" and fit.num_chains == 1
    assert "tree_depth" not in fit.sample_stats and "reached_max_tree_depth" not in fit.sample_stats
    np.testing.assert_array_equal(fit.sample_stats["n_steps"], 5)


def gp_model(X, y=None):
    ell = numpyro.sample("ell", dist.LogNormal(0.0, 0.5))
    var = numpyro.sample("var", dist.LogNormal(0.0, 0.5))
    noise = numpyro.sample("noise", dist.LogNormal(-2.0, 0.5))
    numpyro.sample("y", GaussianProcess(Matern52(lengthscale=ell, variance=var), X, noise=noise), obs=y)


def test_gp_model_gets_exact_loo_terms_from_the_process():
    X = jnp.linspace(0.0, 3.0, 12)
    y = jnp.sin(2.0 * X) + 0.1 * jax.random.normal(jax.random.PRNGKey(0), (12,))
    mcmc = MCMC(NUTS(gp_model), num_warmup=100, num_samples=60, num_chains=2,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(2), X, y=y)
    fit = Fit.from_numpyro(mcmc, gp_model, X, y=y)
    ll = fit.log_likelihood["y"]
    assert ll.shape == (2, 60, 12)
    # Dense reference for one draw: log p(y_i | y_-i) from the conditional of the joint normal.
    c, d = 1, 17
    ell, var, noise = (float(fit.samples_by_chain[k][c, d]) for k in ("ell", "var", "noise"))
    r = np.abs(np.subtract.outer(np.asarray(X), np.asarray(X))) / ell
    K = var * (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r) + noise * np.eye(12)
    yy = np.asarray(y)
    ref = []
    for i in range(12):
        o = np.delete(np.arange(12), i)
        w = np.linalg.solve(K[np.ix_(o, o)], K[o, i])
        ref.append(norm.logpdf(yy[i], w @ yy[o], np.sqrt(K[i, i] - K[i, o] @ w)))
    np.testing.assert_allclose(ll[c, d], ref, rtol=1e-6)


def test_refusals_name_the_argument_and_the_fix():
    with pytest.raises(TypeError, match="mcmc must be a numpyro.infer.MCMC"):
        Fit.from_numpyro({"mu": np.zeros((2, 3))}, normal_mean, y=Y)
    with pytest.raises(TypeError, match="model must be the NumPyro model"):
        Fit.from_numpyro(plain_mcmc(), "normal_mean", y=Y)
    unrun = MCMC(NUTS(normal_mean), num_warmup=10, num_samples=10, progress_bar=False)
    with pytest.raises(ValueError, match=r"has not been run.*mcmc.run"):
        Fit.from_numpyro(unrun, normal_mean, y=Y)

    def other(y=None):
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(0.0, sigma), obs=y)

    with pytest.raises(ValueError, match=r"latent sites without draws: \['sigma'\].*draws for sites the model does not have: \['mu', 'twice_mu'\]"):
        Fit.from_numpyro(plain_mcmc(), other, y=Y)

    def vector_mu(y=None):
        mu = numpyro.sample("mu", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
        numpyro.deterministic("twice_mu", 2.0 * mu)
        numpyro.sample("y", dist.Normal(mu.sum(), 1.0), obs=y)

    with pytest.raises(ValueError, match=r"shapes.*'mu': \(\(\), \(2,\)\)"):
        Fit.from_numpyro(plain_mcmc(), vector_mu, y=Y)
