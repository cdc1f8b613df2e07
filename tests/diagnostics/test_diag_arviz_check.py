"""to_arviz groups and LOO, and check() verdicts on good, bad and synthetic runs."""

import warnings

import arviz as az
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from bayeskern.diagnostics import Verdict, check, ebfmi, to_arviz
from bayeskern.infer import Fit, nuts


def test_to_arviz_has_the_groups_and_dims(conjugate_fit, shared):
    fit = conjugate_fit
    pp = fit.predict(shared.normal_mean_model, seed=4)  # y at the training size, one per draw
    dt = to_arviz(fit, posterior_predictive={"y": pp["y"]})
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data", "posterior_predictive"} <= set(dt.children)
    assert dt["posterior"]["mu"].dims == ("chain", "draw")
    np.testing.assert_array_equal(dt["posterior"]["mu"].values, fit.samples_by_chain["mu"])
    stats = dt["sample_stats"]
    for name in ("diverging", "energy", "tree_depth", "acceptance_rate", "step_size", "lp"):
        assert stats[name].dims == ("chain", "draw"), name
    assert dt["log_likelihood"]["y"].dims == ("chain", "draw", "n")  # plate name as dim
    assert dt["observed_data"]["y"].dims == ("n",)
    assert dt["posterior_predictive"]["y"].shape == (2, 1000, shared.N)
    np.testing.assert_array_equal(dt["posterior_predictive"]["y"].values.reshape(2000, -1), pp["y"])
    # the pointwise log likelihood is log N(y_i | mu_s, sigma)
    y = np.asarray(shared.conjugate_data())
    mu = fit.samples_by_chain["mu"][..., None]
    manual = -0.5 * np.log(2 * np.pi * shared.SIGMA**2) - 0.5 * (y - mu) ** 2 / shared.SIGMA**2
    np.testing.assert_allclose(dt["log_likelihood"]["y"].values, manual, rtol=1e-12)
    with pytest.raises(ValueError, match="one value per posterior draw"):
        to_arviz(fit, posterior_predictive={"y": np.asarray(pp["y"])[:10]})


def test_loo_on_the_datatree_matches_exact_leave_one_out(conjugate_fit, shared):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = az.loo(to_arviz(conjugate_fit), pointwise=True)
    exact = shared.exact_elpd_loo(shared.conjugate_data())
    assert res.pareto_k.shape == (shared.N,)
    assert abs(float(res.elpd) - exact) < 0.1


def test_approximate_fits_are_one_chain_without_sample_stats(shared):
    y = shared.conjugate_data()
    mean, sd = shared.closed_form(y)
    draws = np.random.default_rng(0).normal(mean, sd, size=(1, 1000))
    fit = Fit(
        {"mu": draws, "twice_mu": 2 * draws}, method="laplace", model=shared.normal_mean_model,
        model_kwargs={"y": y}, observed_data={"y": np.asarray(y)},
    )
    dt = to_arviz(fit)
    assert "sample_stats" not in dt.children
    assert dt["posterior"].sizes["chain"] == 1 and dt["posterior"].sizes["draw"] == 1000
    assert dt["log_likelihood"]["y"].shape == (1, 1000, shared.N)
    verdict = check(fit)
    assert verdict.ok, str(verdict)
    assert any("R-hat needs at least 2 chains" in n for n in verdict.notes)


def test_to_arviz_uses_pointwise_log_prob_so_loo_sees_every_observation(shared):
    _, cov, y = shared.loo_mvn_setup()
    draws = np.random.default_rng(1).normal(0.2, 0.3, size=(2, 300))
    fit = Fit(
        {"m": draws}, method="nuts", model=shared.loo_mvn_model, model_args=(cov,), model_kwargs={"y": y},
        observed_data={"y": np.asarray(y)},
    )
    dt = to_arviz(fit)
    assert dt["log_likelihood"]["y"].shape == (2, 300, 6)  # one term per observation, not one per draw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert az.loo(dt, pointwise=True).pareto_k.shape == (6,)


def test_check_passes_a_good_nuts_run(conjugate_fit):
    verdict = check(conjugate_fit)
    assert isinstance(verdict, Verdict)
    assert verdict.ok and verdict.problems == [], str(verdict)
    assert list(verdict.table.index) == ["mu", "twice_mu"]
    assert (verdict.table["r_hat"] < 1.01).all() and (verdict.table["ess_bulk"] >= 400).all()
    assert verdict.sampler["divergences"] == 0 and len(verdict.sampler["ebfmi"]) == 2
    assert verdict.sampler["pareto_k"]["y"]["bad"] == 0
    text = str(verdict)
    assert text.startswith("Verdict: OK") and "R-hat <= 1.01" in text and "ESS >= 400" in text


def bimodal(scale=0.5):
    x = numpyro.sample("x", dist.Normal(0.0, 10.0))
    mix = jnp.logaddexp(dist.Normal(-4.0, scale).log_prob(x), dist.Normal(4.0, scale).log_prob(x))
    numpyro.factor("modes", mix)


def test_check_flags_chains_stuck_in_different_modes():
    # two chains started at the two modes, separated by a barrier of ~e^-32 density, short warm-up
    fit = nuts(bimodal, init=[{"x": -4.0}, {"x": 4.0}], num_warmup=10, num_samples=150, seed=0, progress_bar=False)
    means = fit.samples_by_chain["x"].mean(axis=1)
    assert means[0] < -3 and means[1] > 3  # the run really is bad
    verdict = check(fit)
    assert not verdict.ok
    rhat_msgs = [p for p in verdict.problems if p.startswith("R-hat")]
    assert len(rhat_msgs) == 1 and "'x'" in rhat_msgs[0] and "exceeds 1.01" in rhat_msgs[0]
    assert verdict.table.loc["x", "r_hat"] > 1.5  # rank-normalised split R-hat saturates below 2
    assert "PROBLEM: R-hat" in str(verdict)
    assert any("no log_likelihood group" in n for n in verdict.notes)  # the model has no observed site


def _synthetic_nuts_fit(rng, energy, diverging, depth_hits, ll=None):
    mu = rng.normal(size=(2, 1000))
    stats = {
        "energy": energy,
        "diverging": diverging,
        "reached_max_tree_depth": depth_hits,
    }
    return Fit({"mu": mu}, method="nuts", sample_stats=stats, log_likelihood=None if ll is None else {"y": ll},
               observed_data=None if ll is None else {"y": np.zeros(ll.shape[-1])})


def test_check_flags_divergences_tree_depth_low_ebfmi_and_pareto_k():
    rng = np.random.default_rng(3)
    energy = np.cumsum(rng.normal(size=(2, 1000)), axis=1)  # random walk: E-BFMI ~ 1/draws
    diverging = np.zeros((2, 1000), bool)
    diverging[0, :7] = True
    depth = np.zeros((2, 1000), bool)
    depth[1, :3] = True
    ll = rng.normal(-1, 0.1, size=(2, 1000, 10))
    ll[:, :, 0] = -1 - 8 * np.abs(rng.normal(size=(2, 1000)))  # heavy-tailed importance ratios
    verdict = check(_synthetic_nuts_fit(rng, energy, diverging, depth, ll))
    assert not verdict.ok
    joined = "\n".join(verdict.problems)
    assert "7 divergent transition(s)" in joined and "target_accept_prob" in joined
    assert "3 transition(s) hit the maximum tree depth" in joined
    assert "E-BFMI below 0.3 in chain(s) [0, 1]" in joined
    assert "1 of 10 observation(s) of 'y' have Pareto k above 0.7" in joined
    assert not any(p.startswith(("R-hat", "Bulk ESS", "Tail ESS")) for p in verdict.problems)  # mu itself is fine
    np.testing.assert_allclose(verdict.sampler["ebfmi"], ebfmi(energy), rtol=1e-10)


def test_ebfmi_matches_arviz_and_is_one_for_independent_energies():
    rng = np.random.default_rng(5)
    energy = rng.normal(size=(3, 4000))
    dt = az.from_dict({"posterior": {"a": rng.normal(size=(3, 4000))}, "sample_stats": {"energy": energy}})
    np.testing.assert_allclose(ebfmi(energy), az.bfmi(dt)["energy"].values, rtol=1e-10)
    np.testing.assert_allclose(ebfmi(energy), 2.0, atol=0.1)  # E[(e_t - e_{t-1})^2] / Var(e) = 2 when independent


def test_check_thresholds_are_honoured(conjugate_fit):
    strict = check(conjugate_fit, ess_min=1e6)
    assert not strict.ok
    assert any("Bulk ESS" in p and "below 1e+06" in p and "'mu'" in p for p in strict.problems)
