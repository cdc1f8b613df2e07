"""One conformance suite over every result type (issue 16, item 1): the result protocol of bayeskern.results.

Each result kind is built small from a real call (a fit, an integral, an
optimisation), then: ``summary()`` is a non-empty DataFrame of finite
numbers; ``plot()`` draws something; ``save``/``load`` (the class's own and
``bayeskern.load``) give the same class back with every array bit for bit
and the same answers from its main method; ``to_arviz()`` works exactly
where the result holds draws; wrong files are refused by name.
"""

import json

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayeskern as bk
from bayeskern.results import Result, pack

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RNG = np.random.default_rng(3)
X1 = np.sort(RNG.uniform(0.0, 5.0, 30))
Y1 = np.sin(X1) + 0.1 * RNG.normal(size=30)


def normal_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def make_fit():
    return bk.infer.nuts(normal_model, Y1, num_warmup=100, num_samples=100, num_chains=2, progress_bar=False)


def make_laplace_fit():
    return bk.infer.laplace(normal_model, Y1, num_samples=200)


def make_cox_fit():
    coal = bk.datasets.load_coal_mining()
    return bk.cox.fit(coal.X, coal.window, shape=24, method="svi", steps=300, num_samples=100)


def make_svgp():
    return bk.gp.svgp.fit_svgp(bk.kernels.RBF(lengthscale=1.0), X1, Y1, gaussian_likelihood, X1[::5], steps=200)


def gaussian_likelihood(f):
    return dist.Normal(f, 0.1)


def make_bq():
    return bk.quadrature.integrate(lambda x: jnp.sin(x[0]) ** 2, bk.quadrature.Gaussian(0.0, 1.0), n=12)


def make_integral_posterior():
    return make_bq().posterior


def make_evidence():
    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    return bk.quadrature.evidence(model, Y1[:10], n=12)


def make_optimizer():
    opt = bk.optimize.Optimizer([[0.0, 1.0], [-1.0, 1.0]], seed=0)
    for _ in range(8):
        X = opt.ask(1)
        opt.tell(X, np.sin(6 * X[:, 0]) + X[:, 1] ** 2)
    return opt


FACTORIES = {
    "Fit(nuts)": make_fit,
    "Fit(laplace)": make_laplace_fit,
    "CoxFit": make_cox_fit,
    "SVGPFit": make_svgp,
    "BQResult": make_bq,
    "IntegralPosterior": make_integral_posterior,
    "EvidenceResult": make_evidence,
    "Optimizer": make_optimizer,
}
#: result kinds that hold posterior draws, hence to_arviz()
WITH_DRAWS = {"Fit(nuts)", "Fit(laplace)", "CoxFit"}


def main_answer(kind, result):
    """What the result is for, as arrays: must be identical after a round trip."""
    if kind.startswith("Fit"):
        return [result.samples["mu"], result.summary().to_numpy(dtype=float)]
    if kind == "CoxFit":
        return [result.intensity(np.array([1860.0, 1900.0])), result.expected_count()]
    if kind == "SVGPFit":
        return [np.asarray(result.predict(X1[:7]).f_mean), np.asarray(result.predict(X1[:7]).y_var)]
    if kind in ("BQResult", "IntegralPosterior"):
        return [np.asarray(result.mean), np.asarray(result.sd), np.asarray(result.interval(0.9))]
    if kind == "EvidenceResult":
        return [np.asarray(result.log_evidence), np.asarray(result.loglik)]
    if kind == "Optimizer":
        return [np.asarray(result.ask(2)), np.asarray(result.best()[0])]
    raise AssertionError(kind)


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def built(request):
    return request.param, FACTORIES[request.param]()


def packed(result):
    arrays = {}
    state = json.dumps(pack(result._state() if not isinstance(result, bk.infer.Fit) else _fit_state(result), arrays),
                       sort_keys=True)
    return state, arrays


def _fit_state(fit):
    keep = ("samples_by_chain", "method", "sample_stats", "losses", "observed_data", "dims")
    state = {k: getattr(fit, k) for k in keep}
    state["log_likelihood"] = fit.log_likelihood
    state.update(fit._extra_state())
    state["extras"] = {k: v for k, v in fit.extras.items() if isinstance(v, (str, int, float, bool))}
    return state


def test_is_a_result_with_a_summary_table(built):
    kind, result = built
    assert isinstance(result, Result)
    table = result.summary()
    assert isinstance(table, pd.DataFrame) and len(table) >= 1
    numbers = table.select_dtypes("number").to_numpy(dtype=float)
    assert numbers.size >= 1 and np.isfinite(numbers).any(axis=None)


def summary_values(kind, result):
    """(value in the summary table, the same quantity read off the object)."""
    table = result.summary()
    if kind.startswith("Fit") or kind == "CoxFit":
        site = "mu" if kind.startswith("Fit") else "f_lengthscale"
        return table.loc[site, "mean"], np.mean(result.samples[site])
    if kind == "SVGPFit":
        return table.loc["elbo", "value"], np.asarray(result.elbo)[-1]
    if kind in ("BQResult", "IntegralPosterior"):
        return table.loc["integral", "mean"], float(result.mean)
    if kind == "EvidenceResult":
        return table.loc["log_evidence", "value"], result.log_evidence
    if kind == "Optimizer":
        return table["y"].to_numpy(), np.asarray(result.state.y)
    raise AssertionError(kind)


def test_summary_reports_the_results_own_numbers(built):
    kind, result = built
    reported, actual = summary_values(kind, result)
    # ArviZ rounds its summary to a few significant digits; everything else is reported exactly
    rtol = 1e-2 if kind.startswith("Fit") or kind == "CoxFit" else 0
    np.testing.assert_allclose(np.asarray(reported, dtype=float), np.asarray(actual, dtype=float), rtol=rtol,
                               atol=rtol)


def test_plot_draws(built):
    kind, result = built
    plt.close("all")
    drawn = result.plot()
    fig = drawn if isinstance(drawn, matplotlib.figure.Figure) else drawn.figure
    assert any(ax.lines or ax.collections or ax.patches for ax in fig.axes)
    if not kind.startswith("Fit") and kind != "CoxFit":  # one-panel plots draw onto a given ax
        fig2, ax = plt.subplots()
        assert result.plot(ax=ax) is ax and (ax.lines or ax.collections)
    plt.close("all")


@pytest.mark.parametrize("reader", ["own", "bk"])
def test_save_load_round_trip_is_exact(built, tmp_path, reader):
    kind, result = built
    path = tmp_path / "result.file"
    result.save(path)
    back = type(result).load(path) if reader == "own" else bk.load(path)
    assert type(back) is type(result)
    if kind == "SVGPFit":
        back = type(result).load(path, likelihood=gaussian_likelihood)
    state0, arrays0 = packed(result)
    state1, arrays1 = packed(back)
    if kind != "Optimizer":  # the optimiser's live fields (last fit) are not state; its answers are checked below
        assert state0 == state1
        assert arrays0.keys() == arrays1.keys()
        for k in arrays0:
            assert arrays0[k].dtype == arrays1[k].dtype and np.array_equal(arrays0[k], arrays1[k], equal_nan=True), k
    for a, b in zip(main_answer(kind, result), main_answer(kind, back), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_to_arviz_exactly_where_draws_are_held(built):
    kind, result = built
    if kind in WITH_DRAWS:
        dt = result.to_arviz()
        assert "posterior" in dt.children
    elif hasattr(result, "to_arviz"):
        with pytest.raises(ValueError, match="draws"):
            result.to_arviz()


def test_wrong_files_are_refused_by_name(tmp_path):
    opt = make_optimizer()
    opt_path = opt.save(tmp_path / "opt.npz")
    with pytest.raises(ValueError, match="Optimizer"):
        bk.quadrature.BQResult.load(opt_path)
    with pytest.raises(ValueError, match="npz|netCDF"):
        bk.infer.Fit.load(opt_path)
    with pytest.raises(FileNotFoundError, match="no file"):
        bk.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    np.savez(junk, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved bayeskern result"):
        bk.load(junk)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a saved bayeskern result"):
        bk.load(text)


def test_a_file_naming_a_foreign_class_is_not_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    meta = {"format": 1, "class": "os:system", "state": {}}
    np.savez(path, __bayeskern__=np.asarray(json.dumps(meta)))
    with pytest.raises(ValueError, match="not bayeskern's"):
        bk.load(path)


def test_code_is_refused_with_the_attribute_named(tmp_path):
    post = make_integral_posterior()
    object.__setattr__(post, "weights", lambda x: x)
    with pytest.raises(TypeError, match=r"IntegralPosterior\.weights"):
        post.save(tmp_path / "x.npz")


def test_jax_prng_keys_and_scalars_round_trip():
    from bayeskern.results import unpack

    value = {"key": jax.random.key(3), "raw": jax.random.PRNGKey(4), "s": np.float32(1.5), "t": (1, "a", None)}
    arrays = {}
    back = unpack(json.loads(json.dumps(pack(value, arrays))), arrays)
    assert jax.random.key_data(back["key"]).tolist() == jax.random.key_data(value["key"]).tolist()
    assert back["raw"].dtype == value["raw"].dtype and np.array_equal(back["raw"], value["raw"])
    assert back["s"].dtype == np.float32 and back["t"] == (1, "a", None)
