"""Every replay of a model works when the model builds data-scaled priors from its own arguments.

The pattern the README teaches, ``kernel = sample_matern52("f", X, y)`` inside
``model(X, y)``, used to sample and then crash in every place the library
re-runs the model with the data traced (pointwise log likelihood, MAP and
Laplace mode searches, ``init="map"``, SVI, latent draws) and under NumPyro's
own ``jit_model_args=True``. Each path runs here with NumPy and with JAX
arrays, and its numbers are checked against a replay with concrete data.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import log_density

import bayeskern as bk  # noqa: F401
from bayeskern.diagnostics import check
from bayeskern.gp import GaussianProcess, laplace_marginal, sample_latent
from bayeskern.infer import Fit, laplace, nuts, pointwise_log_likelihood, svi
from bayeskern.priors import sample_matern32, sample_matern52

RNG = np.random.default_rng(3)
X = np.sort(RNG.uniform(0.0, 6.0, 24))
Y = np.sin(X) + 0.1 * RNG.normal(size=24)
COUNTS = RNG.poisson(np.exp(1.0 + np.sin(X)))


def gp_model(X, y=None):
    kernel = sample_matern52("f", X, y)
    noise = numpyro.sample("noise", dist.LogNormal(-3.0, 1.5))
    numpyro.sample("y", GaussianProcess(kernel, X, noise=noise), obs=y)


def counts_model(x, y):
    kernel = sample_matern32("k", x, jnp.log1p(y))
    b = numpyro.sample("b", dist.Normal(0.0, 2.0))
    laplace_marginal("f", kernel, x, lambda f: dist.Poisson(jnp.exp(f)), y, mean=b)


ARRAYS = {"numpy": lambda a: np.asarray(a), "jax": lambda a: jnp.asarray(a)}


@pytest.fixture(scope="module", params=sorted(ARRAYS))
def gp_fit(request):
    to = ARRAYS[request.param]
    fit = nuts(gp_model, to(X), to(Y), num_warmup=150, num_samples=100, num_chains=2, progress_bar=False)
    return fit, to


def test_pointwise_log_likelihood_check_and_arviz(gp_fit, tmp_path):
    fit, _ = gp_fit
    ll = fit.log_likelihood["y"]
    assert ll.shape == (2, 100, 24) and np.all(np.isfinite(ll))
    # the pointwise values sum (over points, leave-one-out form aside) to a finite total for every draw,
    # and a replay with the same draws reproduces them
    again = pointwise_log_likelihood(gp_model, {k: v.reshape(200, *v.shape[2:]) for k, v in fit.samples_by_chain.items()},
                                     X, Y)["y"]
    np.testing.assert_allclose(np.asarray(again).reshape(ll.shape), ll, rtol=1e-8, atol=1e-10)
    report = check(fit)  # replays the model for the pointwise LOO: it must see the same 24 observations
    assert sorted(report.table.index) == ["f_lengthscale", "f_variance", "noise"]
    assert report.sampler["chains"] == 2 and "Pareto k 'y'" in str(report) and "of 24" in str(report)
    idata = fit.to_arviz()
    assert "log_likelihood" in idata.children
    fit.save(tmp_path / "fit.nc")
    loaded = Fit.load(tmp_path / "fit.nc")
    np.testing.assert_array_equal(loaded.samples_by_chain["f_lengthscale"], fit.samples_by_chain["f_lengthscale"])


def test_predict_with_new_inputs(gp_fit):
    fit, to = gp_fit
    draws = fit.predict(gp_model, to(np.linspace(0, 6, 7)), num_draws=20)
    assert draws["y"].shape == (20, 7) and np.all(np.isfinite(draws["y"]))


@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_laplace_init_map_and_svi(kind):
    to = ARRAYS[kind]
    lap = laplace(gp_model, to(X), to(Y), num_samples=200)
    ls = lap.samples["f_lengthscale"]
    assert np.all(np.isfinite(ls)) and 0.2 < np.median(ls) < 5.0
    started = nuts(gp_model, to(X), to(Y), init="map", num_warmup=30, num_samples=20, num_chains=1, progress_bar=False)
    # both searched the same unconstrained mode from the same start
    np.testing.assert_allclose(started.extras["map"]["f_lengthscale"], lap.extras["mode"]["f_lengthscale"], rtol=0.02)
    fit = svi(gp_model, to(X), to(Y), steps=300, num_samples=50)
    assert np.all(np.isfinite(fit.samples["f_lengthscale"]))


def test_numpyro_mcmc_with_jit_model_args_matches_closed_over_log_density():
    params = {"f_lengthscale": 1.3, "f_variance": 0.7, "noise": 0.02}
    closed, _ = log_density(gp_model, (X, Y), {}, params)
    traced = jax.jit(lambda X_, y_: log_density(gp_model, (X_, y_), {}, params)[0])(jnp.asarray(X), jnp.asarray(Y))
    # traced data read the inverse-gamma solve from its table (relative error ~1e-8 in its parameters)
    np.testing.assert_allclose(traced, closed, rtol=1e-6)
    mcmc = MCMC(NUTS(gp_model), num_warmup=100, num_samples=100, jit_model_args=True, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), X, Y)
    ls = np.asarray(mcmc.get_samples()["f_lengthscale"])
    assert np.all(np.isfinite(ls)) and 0.2 < np.median(ls) < 5.0


@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_laplace_marginal_latent_draws_with_data_scaled_priors(kind):
    to = ARRAYS[kind]
    fit = nuts(counts_model, to(X), to(COUNTS), num_warmup=100, num_samples=50, num_chains=2, progress_bar=False)
    assert np.all(np.isfinite(fit.log_likelihood["f_y"]))
    sample_latent(fit, "f")
    f = fit.samples["f"]
    assert f.shape == (100, 24)
    # the latent log-rate tracks the log of the counts it was fitted to
    assert np.corrcoef(f.mean(0), np.log1p(COUNTS))[0, 1] > 0.7


@pytest.mark.slow
def test_second_latent_draws_and_predictions_reuse_the_compilation():
    from bayeskern.gp import predict_latent
    from bayeskern.kernels import Matern32

    fit = laplace(counts_model, X, COUNTS, num_samples=40)
    compiles = []

    def listen(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)

    def kernel(v):
        return Matern32(lengthscale=v["k_lengthscale"], variance=v["k_variance"])

    X_new = np.linspace(0.0, 6.0, 7)
    try:
        first = sample_latent(fit, "f", seed=0).copy()
        mu1 = predict_latent(fit, "f", X_new, X=X, kernel=kernel).mean
        n_first = len(compiles)
        second = sample_latent(fit, "f", seed=1)
        mu2 = predict_latent(fit, "f", X_new + 0.1, X=X, kernel=kernel).mean
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert n_first > 0 and len(compiles) == n_first  # nothing compiled for the second calls
    assert first.shape == second.shape == (40, 24) and not np.allclose(first, second)  # new seed, new draws
    assert mu1.shape == mu2.shape == (40, 7) and np.all(np.isfinite(mu2)) and not np.allclose(mu1, mu2)
