"""The ready-made models: each traces with the expected sites and a finite log density,
and the CLI demo runs end to end (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpyro
import pytest
from numpyro.infer.util import log_density

import bayeskern  # noqa: F401
from models import (
    bo_surrogate,
    bq_evidence,
    co2,
    gp_classification,
    gp_counts_laplace,
    gp_regression,
    heteroscedastic_gp,
)

RNG = np.random.default_rng(0)


def trace(model, *args, **kwargs):
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(*args, **kwargs)
    params = {k: v["value"] for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    lp, _ = log_density(model, args, kwargs, params)
    return tr, float(lp)


def test_gp_regression_model_and_prediction_sites():
    X = np.linspace(0, 5, 20)
    y = np.sin(X)
    tr, lp = trace(gp_regression.model, X, y, X_new=np.linspace(0, 6, 7))
    assert {"f_lengthscale", "f_variance", "noise", "y", "f_new", "f_new_mean"} <= set(tr)
    assert tr["f_new"]["value"].shape == (7,) and np.isfinite(lp)


def test_heteroscedastic_model_samples_a_noise_field():
    X, y, sd = heteroscedastic_gp.simulate(n=25)
    tr, lp = trace(heteroscedastic_gp.model, X, y)
    # the log-noise field is a Hilbert-space basis expansion: one whitened weight per basis function, evaluated
    # at the 25 inputs; the basis covers the simulation domain (0, 10) with room for the shortest lengthscale
    basis = heteroscedastic_gp.noise_basis()
    M = basis.num_basis[0]
    assert 6 <= M <= 20 and float(basis.center[0]) == 5.0 and float(basis.L[0]) > 5.0
    assert tr["log_noise_z"]["value"].shape == (M,)
    assert tr["log_noise"]["value"].shape == (25,) and np.isfinite(lp)
    assert np.all(np.diff(sd) > 0)  # the simulated noise grows along the input, as documented


def test_gp_classification_model_integrates_the_latent_field_out():
    X = RNG.normal(size=(15, 3))
    y = (X[:, 0] > 0).astype(int)
    tr, lp = trace(gp_classification.model, X, y)
    # an isotropic RBF over the hyperparameters only; the Bernoulli field is a Laplace-marginal site
    assert tr["f_lengthscale"]["value"].shape == () and {"f_variance", "bias", "f_y"} <= set(tr)
    latent = [n for n, site in tr.items() if site["type"] == "sample" and not site["is_observed"]]
    assert sorted(latent) == ["bias", "f_lengthscale", "f_variance"] and np.isfinite(lp)
    values = {k: tr[k]["value"] for k in ("f_lengthscale", "f_variance")}
    # kernel_of (used by predict_latent) rebuilds the site's prior covariance, up to its jitter
    cov = tr["f_y"]["fn"].covariance
    cov = cov() if callable(cov) else cov
    np.testing.assert_allclose(cov, gp_classification.kernel_of(values)(X), rtol=1e-5, atol=1e-6)


def test_co2_model_records_whole_and_component_predictions():
    X = np.linspace(-20.0, 20.0, 24)
    y = 0.05 * X + np.sin(2 * np.pi * X) * 0.3
    X_new = np.linspace(-21.0, 25.0, 9)
    tr, lp = trace(co2.co2_model, X, y, X_new=X_new)
    assert np.isfinite(lp)
    whole = np.asarray(tr["f_mean"]["value"])
    trend, seasonal = np.asarray(tr["trend_mean"]["value"]), np.asarray(tr["seasonal_mean"]["value"])
    assert whole.shape == trend.shape == seasonal.shape == (9,)
    assert np.all(np.isfinite(whole)) and np.all(np.asarray(tr["f_var"]["value"]) > 0)
    assert not np.allclose(trend, seasonal)  # distinct components, not the same prediction twice


def test_gp_counts_laplace_model_observes_the_laplace_marginal_of_the_coal_counts():
    years, x, counts = gp_counts_laplace.coal_yearly()
    assert counts.sum() == 191 and x.shape == counts.shape == (112,)
    tr, lp = trace(gp_counts_laplace.model, x, counts)
    assert {"ls", "var", "b", "f_y"} <= set(tr) and tr["f_y"]["is_observed"] and np.isfinite(lp)


def test_bq_evidence_model_and_its_closed_form_evidence():
    t = np.linspace(-1.0, 1.0, 12)
    y = 0.3 + 0.8 * t
    tr, lp = trace(bq_evidence.model, t, y)
    assert tr["w"]["value"].shape == (2,) and np.isfinite(lp)
    # the closed form equals the evidence by brute-force Monte Carlo over the N(0, I) prior
    w = np.random.default_rng(1).normal(size=(200_000, 2))
    mean = w[:, :1] + w[:, 1:] * t
    ll = -0.5 * np.sum((y - mean) ** 2, 1) / bq_evidence.NOISE_SD**2 - len(t) * np.log(
        bq_evidence.NOISE_SD * np.sqrt(2 * np.pi))
    mc = np.log(np.mean(np.exp(ll - ll.max()))) + ll.max()
    assert abs(mc - bq_evidence.exact_log_evidence(t, y)) < 0.05


def test_bo_surrogate_model_sites():
    X = RNG.uniform(size=(9, 3))
    y = RNG.normal(size=9)
    tr, lp = trace(bo_surrogate.model, X, y)
    assert tr["gp_lengthscale"]["value"].shape == (3,) and "gp_noise" in tr and np.isfinite(lp)


@pytest.mark.slow
def test_cli_demo_quick_writes_results(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "bayeskern.cli", "demo", "--quick", "--no-cache", "--out", str(out)],
        capture_output=True, text=True, timeout=1800, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("co2_forecast.png", "co2_components.png", "trace.png", "rank.png", "fit.nc", "summary.txt",
                 "coal_mining_intensity.png"):
        assert (out / name).stat().st_size > 0, name
    figures = json.loads((out / "figures.json").read_text())
    assert figures["n_all"] == 521 and 300 < figures["forecast_2011_ppm"] < 420
    # the well-known drop in disaster rates around 1890 (about 3 per year before, about 1 after)
    assert 2.0 < figures["coal_rate_1855_1885"] < 4.5 and figures["coal_rate_1900_1960"] < 1.5
    assert "r_hat" in (out / "summary.txt").read_text()
    from bayeskern.infer import Fit

    fit = Fit.load(out / "fit.nc")
    assert set(fit.samples) >= {"trend_lengthscale", "noise"} and fit.num_chains == 2
