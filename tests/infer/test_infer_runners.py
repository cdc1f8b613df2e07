"""NUTS, SVI and Laplace against the closed-form posterior of a conjugate normal model."""

import arviz as az
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro.infer import MCMC

from bayeskern.infer import Fit, laplace, nuts, svi


def test_nuts_matches_closed_form_within_monte_carlo_error(conjugate_fit, shared):
    fit = conjugate_fit
    mean, sd = shared.closed_form(shared.conjugate_data())
    draws = fit.samples_by_chain["mu"]
    assert draws.shape == (2, 1000)
    assert fit.samples["mu"].shape == (2000,)
    np.testing.assert_array_equal(fit.samples["mu"][:1000], draws[0])  # chain-major merge
    ess = float(az.ess(draws))
    assert ess > 300
    # mean: MCSE = sd / sqrt(ESS); sd: for a normal, se(sd_hat) ~= sd / sqrt(2 ESS)
    assert abs(draws.mean() - mean) < 4.5 * sd / np.sqrt(ess)
    assert abs(draws.std() - sd) < 4.5 * sd / np.sqrt(2 * ess)
    np.testing.assert_allclose(fit.samples["twice_mu"], 2 * fit.samples["mu"])


def test_nuts_fit_carries_sampler_state(conjugate_fit, shared):
    fit = conjugate_fit
    assert fit.method == "nuts" and isinstance(fit.mcmc, MCMC)
    assert fit.extras["dense_mass"] is True and fit.extras["unconstrained_dim"] == 1
    assert {"diverging", "energy", "lp", "tree_depth", "reached_max_tree_depth", "acceptance_rate", "step_size"} <= set(
        fit.sample_stats
    )
    assert all(v.shape == (2, 1000) for v in fit.sample_stats.values())
    # init="map" ran the mode search: its losses are kept and it found the exact posterior mode
    mean, _ = shared.closed_form(shared.conjugate_data())
    # L-BFGS stops at its gradient test: a Gaussian log density takes a handful of iterations
    assert 1 <= fit.losses.shape[0] <= 10 and fit.losses[-1] <= fit.losses[0]
    assert abs(float(fit.extras["map"]["mu"]) - mean) < 1e-3
    assert fit.extras["laplace_mass_matrix"] is True  # warm-up started from the Laplace covariance
    assert fit.observed_data["y"].shape == (shared.N,)
    assert fit.dims == {"y": ["n"]}


def test_svi_fullrank_with_optax_matches_closed_form(shared):
    y = shared.conjugate_data()
    mean, sd = shared.closed_form(y)
    opt = optax.adam(optax.exponential_decay(0.05, transition_steps=1500, decay_rate=0.01))
    fit = svi(
        shared.normal_mean_model, y=y, guide="fullrank", optimizer=opt, steps=1500, num_samples=1000, seed=3,
        init={"mu": -3.0},  # start far from the posterior (mean ~1.3, sd ~0.22)
    )
    assert fit.method == "svi" and fit.num_chains == 1 and fit.samples_by_chain["mu"].shape == (1, 1000)
    assert fit.losses.shape == (1500,)
    # the guide started at mu = -3: the negative ELBO falls by the ~ (4.3 / 0.22)^2 / 2 it costs there
    assert np.mean(fit.losses[:5]) > np.mean(fit.losses[-100:]) + 100
    q = fit.guide.get_posterior(fit.params)
    assert abs(float(q.mean[0]) - mean) < 0.03 * sd
    assert abs(float(jnp.sqrt(q.covariance_matrix[0, 0])) / sd - 1) < 0.05
    # draws come from that Gaussian; deterministic sites are recomputed from them
    draws = fit.samples["mu"]
    assert abs(draws.mean() - mean) < 5 * sd / np.sqrt(1000) + 0.03 * sd
    np.testing.assert_allclose(fit.samples["twice_mu"], 2 * draws)


def test_svi_rejects_non_finite_loss():
    def quartic():
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.factor("quartic", -(mu**4))

    # a far too large step overshoots, mu**4 overflows and the loss turns inf/nan
    with pytest.raises(FloatingPointError, match="not finite"):
        svi(quartic, guide="map", optimizer=optax.sgd(1e3), steps=10, init={"mu": 0.5})


def test_laplace_is_exact_for_a_gaussian_posterior(shared):
    y = shared.conjugate_data()
    mean, sd = shared.closed_form(y)
    fit = laplace(shared.normal_mean_model, y=y, steps=300, num_samples=1000, seed=2)
    assert fit.method == "laplace" and fit.samples_by_chain["mu"].shape == (1, 1000)
    assert abs(float(fit.extras["mode"]["mu"]) - mean) < 1e-8
    np.testing.assert_allclose(fit.extras["hessian"], [[sd**-2]], rtol=1e-8)
    np.testing.assert_allclose(fit.extras["log_evidence"], shared.exact_log_evidence(y), rtol=1e-8)
    draws = fit.samples["mu"]
    assert abs(draws.mean() - mean) < 5 * sd / np.sqrt(1000)
    assert abs(draws.std() / sd - 1) < 5 / np.sqrt(2 * 1000)
    np.testing.assert_allclose(fit.samples["twice_mu"], 2 * draws)
    assert 1 <= fit.losses.shape[0] <= 10  # L-BFGS with a gradient test, not a fixed 300 steps


def test_laplace_raises_at_a_saddle_naming_the_site():
    def saddle():
        numpyro.sample("x", dist.Normal(0.0, 1.0))
        b = numpyro.sample("b", dist.Normal(0.0, 10.0))
        numpyro.factor("double_well", -((b**2 - 1.0) ** 2))  # maxima at b = +-1, saddle of the joint at b = 0

    # started exactly at the saddle the gradient is zero, so the optimiser stays there
    with pytest.raises(ValueError, match="not positive definite") as err:
        laplace(saddle, init={"x": 0.0, "b": 0.0}, steps=50)
    msg = str(err.value)
    assert "Sites involved: ['b']" in msg
    assert "-3.99" in msg  # d2/db2 of the negative log density at 0: 1/100 - 4


def test_laplace_raises_on_a_flat_direction():
    def unidentified(y):
        a = numpyro.sample("a", dist.ImproperUniform(dist.constraints.real, (), ()))
        b = numpyro.sample("b", dist.ImproperUniform(dist.constraints.real, (), ()))
        numpyro.sample("y", dist.Normal(a + b, 1.0), obs=y)

    with pytest.raises(ValueError, match="not positive definite") as err:
        laplace(unidentified, jnp.array([0.3, -0.2]), steps=200)
    assert "Sites involved: ['a', 'b']" in str(err.value)


def test_predict_recomputes_deterministic_sites_and_samples_new_data(conjugate_fit, shared):
    fit = conjugate_fit
    pred = fit.predict(shared.normal_mean_model, n=5, seed=1)
    assert pred["y"].shape == (2000, 5)
    np.testing.assert_allclose(pred["twice_mu"], 2 * fit.samples["mu"], rtol=0, atol=1e-12)
    # y_new - mu is N(0, SIGMA^2) noise, independent across draws
    resid = np.asarray(pred["y"]) - fit.samples["mu"][:, None]
    assert abs(resid.std() - shared.SIGMA) < 0.05
    thin = fit.predict(None, n=3, num_draws=10)  # None: the fit's own model
    assert thin["y"].shape == (10, 3) and thin["twice_mu"].shape == (10,)
    np.testing.assert_allclose(thin["twice_mu"], 2 * fit.samples["mu"][np.round(np.linspace(0, 1999, 10)).astype(int)])


def _assert_same(a: dict, b: dict):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_save_load_round_trip_is_exact(conjugate_fit, tmp_path):
    fit = conjugate_fit
    path = tmp_path / "fit.nc"
    fit.save(path)
    back = Fit.load(path)
    assert back.method == "nuts" and back.model is None and back.mcmc is None
    assert (back.num_chains, back.num_draws) == (2, 1000)
    _assert_same(fit.samples_by_chain, back.samples_by_chain)
    _assert_same(fit.sample_stats, back.sample_stats)
    _assert_same(fit.log_likelihood, back.log_likelihood)
    _assert_same(fit.observed_data, back.observed_data)
    np.testing.assert_array_equal(fit.losses, back.losses)
    assert back.losses.dtype == fit.losses.dtype
    assert back.dims == fit.dims
    assert back.extras == {"dense_mass": True, "unconstrained_dim": 1, "max_tree_depth": 10, "laplace_mass_matrix": True}
    # the ArviZ view of the loaded fit is the same data
    d1, d2 = fit.to_arviz(), back.to_arviz()
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        assert d1[group].to_dataset().drop_attrs().identical(d2[group].to_dataset().drop_attrs()), group
    with pytest.raises(ValueError, match="pass the model"):
        back.predict()


def test_save_load_keeps_svi_losses_without_sample_stats(tmp_path):
    samples = {"mu": np.random.default_rng(0).normal(size=(1, 50))}
    fit = Fit(samples, method="svi", losses=np.linspace(3.0, 1.0, 7), extras={"guide": "meanfield"})
    fit.save(tmp_path / "svi.nc")
    back = Fit.load(tmp_path / "svi.nc")
    _assert_same(fit.samples_by_chain, back.samples_by_chain)
    np.testing.assert_array_equal(back.losses, fit.losses)
    assert back.sample_stats == {} and back.method == "svi" and back.extras == {"guide": "meanfield"}
    assert back.log_likelihood is None


def test_svi_map_guide_is_one_draw_at_the_mode(shared):
    y = shared.conjugate_data()
    mean, _ = shared.closed_form(y)
    opt = optax.adam(optax.cosine_decay_schedule(0.05, 800, alpha=1e-3))
    fit = svi(shared.normal_mean_model, y=y, guide="map", optimizer=opt, steps=800, num_samples=500)
    assert fit.samples_by_chain["mu"].shape == (1, 1)  # a point estimate is one draw, not 500 copies
    assert abs(float(fit.samples["mu"][0]) - mean) < 1e-3  # Gaussian posterior: MAP = mean
    assert float(fit.samples["twice_mu"][0]) == 2 * float(fit.samples["mu"][0])


def test_summary_tables(conjugate_fit):
    table = conjugate_fit.summary()
    assert list(table.index) == ["mu", "twice_mu"]
    assert {"mean", "sd", "ess_bulk", "ess_tail", "r_hat"} <= set(table.columns)
    assert abs(float(table.loc["mu", "mean"]) - conjugate_fit.samples["mu"].mean()) < 0.01
    approx = Fit({"mu": conjugate_fit.samples_by_chain["mu"][:1]}, method="laplace")
    assert "r_hat" not in approx.summary().columns  # independent draws: moments and intervals only


def test_mode_search_stops_at_its_gradient_test_and_reports_non_convergence():
    from bayeskern.errors import ConvergenceError, ConvergenceWarning
    from bayeskern.infer._util import find_mode

    def rosenbrock():
        x = numpyro.sample("x", dist.Normal(0.0, 1e3).expand([2]).to_event(1))  # flat where it matters
        numpyro.factor("f", -(100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2))

    mode = find_mode(rosenbrock, (), {}, init={"x": np.array([-1.2, 1.0])}, steps=500)
    assert mode.converged and mode.grad_norm < 1e-6
    np.testing.assert_allclose(mode.z, [1.0, 1.0], atol=1e-4)
    assert len(mode.losses) < 100  # quasi-Newton: tens of iterations, not hundreds
    short = find_mode(rosenbrock, (), {}, init={"x": np.array([-1.2, 1.0])}, steps=3)
    assert not short.converged and len(short.losses) == 3
    with pytest.raises(ConvergenceError, match="did not converge"):
        laplace(rosenbrock, init={"x": np.array([-1.2, 1.0])}, steps=3, newton_steps=0)
    with pytest.warns(ConvergenceWarning, match="map_steps"):
        nuts(rosenbrock, init="map", map_steps=3, num_warmup=10, num_samples=10, num_chains=1, progress_bar=False)


def test_laplace_mass_matrix_is_the_posterior_covariance_of_a_gaussian(shared):
    from bayeskern.infer._util import find_mode

    y = shared.conjugate_data()
    _, sd = shared.closed_form(y)
    mode = find_mode(shared.normal_mean_model, (), {"y": y})
    np.testing.assert_allclose(mode.inverse_mass_matrix(dense=True), [[sd**2]], rtol=1e-8)
    np.testing.assert_allclose(mode.inverse_mass_matrix(dense=False), [sd**2], rtol=1e-8)
