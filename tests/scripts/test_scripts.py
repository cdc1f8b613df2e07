"""Every script in models/ and examples/ runs as documented and gets the numbers right.

Each script is run once through its real command line in ``--quick`` mode
(``python -m models.<name>`` or ``python examples/<name>.py``, headless,
``--out`` a temporary folder) and the headline numbers it writes to
``result.json`` are checked against what is known about the data: the CO2
forecast and seasonal cycle in ppm, the coal-mining rate dropping after about
1890, BQ evidences against the conjugate closed form, Branin's minimum,
held-out accuracy and coverage. Figures must be real, non-empty PNG files.
``--help`` must exit 0 for every script. A few alternative paths (other
inference methods) run in-process through ``main(...)``.

Each script, run from the command line, uses JAX's persistent compilation
cache (``$BAYESKERN_CACHE_DIR``, else ``~/.cache/bayeskern/jax``; see
``models/_cli.py``) and single-threaded OpenBLAS. Measured 2026-12-07 on this
project's 2-core machine, shared with other jobs, ``--quick``, wall / user CPU
seconds, cold (empty cache) then warm (second run), load average 3-5.5 cold
and 3.2-3.7 warm:

    script               cold        warm        (before: no cache, default OpenBLAS threads, load 1-6)
    bq_evidence          31 / 20      6 /  5     28 /  21
    gp_regression        37 / 24     11 /  9     51 /  38
    co2                  55 / 35     13 / 12     72 /  53
    gp_counts_laplace    81 / 52     16 / 14     73 /  49
    bo_surrogate         44 / 35     11 / 10     49 /  37
    gp_classification    60 / 55     20 / 17    107 /  76
    heteroscedastic_gp   26 / 23     16 / 14    155 / 136
    bo_branin            28 / 26     10 /  8     42 /  30
    bo_cox               10 /  8      4 /  4     13 /   8
    bq_co2_evidence      27 / 25     15 / 13     78 /  58
    cox_coal_mining      75 / 68     25 / 22    109 /  70
    cox_coal             21 / 19     10 /  9     42 /  27
    cox_pines            21 / 20     10 /  9     46 /  31

So every script is well under a minute with a warm cache; cold, two are
over a minute of wall time at load 5 (both under 70 s of CPU). The whole
module with ``--runslow`` and a warm cache: 272 s wall, 242 s user CPU, 27
passed, 1 xfailed (load 2.3-3.2; it was 961 s wall before). The quick runs
are still marked slow (CI runs them with ``--runslow``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = ["bo_surrogate", "bq_evidence", "co2", "cox_coal", "cox_pines", "gp_classification", "gp_counts_laplace",
          "gp_regression", "heteroscedastic_gp"]
EXAMPLES = ["bo_branin", "bo_cox", "bq_co2_evidence", "cox_coal_mining"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def command(name: str) -> list[str]:
    """The documented way to run a script: ``-m models.<name>`` or ``examples/<name>.py``."""
    if name in MODELS:
        return [sys.executable, "-m", f"models.{name}"]
    return [sys.executable, str(REPO / "examples" / f"{name}.py")]


def headless_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = ""  # models/ must be found from the working directory (-m) or by the script itself
    return env


def run_quick(name: str, out: Path, *extra: str, cwd: Path = REPO, timeout: int = 600) -> dict:
    """Run ``name --quick --out out [extra]`` as a subprocess; returns its ``result.json``."""
    proc = subprocess.run([*command(name), "--quick", "--out", str(out), *extra], cwd=cwd, env=headless_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return json.loads((out / "result.json").read_text())


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert len(data) > 5000, f"{path.name} is only {len(data)} bytes"


@pytest.mark.parametrize("name", MODELS + EXAMPLES)
def test_help_exits_zero_and_documents_quick_and_out(name):
    proc = subprocess.run([*command(name), "--help"], cwd=REPO, env=headless_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--quick" in proc.stdout and "--out" in proc.stdout and "--seed" in proc.stdout and "--no-cache" in proc.stdout
    assert "Run:" in proc.stdout  # the module docstring, with how to run it, is the help text


def test_unknown_option_is_refused():
    proc = subprocess.run([*command("bq_evidence"), "--no-such-option"], cwd=REPO, env=headless_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


# ----------------------------------------------------------------------------- models/
@pytest.mark.slow
def test_gp_regression_predicts_held_out_co2_months(tmp_path):
    r = run_quick("gp_regression", tmp_path)
    assert r["n_train"] == 90 and r["n_test"] == 30
    # interpolating single held-out months of a smooth record: well under 1 ppm, with honest intervals
    assert r["holdout_rmse_ppm"] < 0.6
    assert 0.75 <= r["holdout_coverage_90"] <= 1.0
    assert r["verdict"]["divergences"] == 0
    assert_png(tmp_path / "gp_regression.png")


@pytest.mark.slow
def test_heteroscedastic_gp_recovers_the_growing_noise(tmp_path):
    # --quick: 120 points, log-noise field on 9 HSGP basis functions, 2 sequential chains x (100 + 100); measured
    # R-hat <= 1.04, noise sd 0.102 / 0.924 (90% 0.056-0.164 / 0.716-1.222) against true 0.072 / 0.826, f RMSE 0.101
    r = run_quick("heteroscedastic_gp", tmp_path)
    assert r["n"] == 120 and r["num_basis"] == 9
    # true sd 0.05 + 0.08 x: about 0.07 over the first tenth of the inputs, about 0.83 over the last
    assert r["true_sd_last"] > 5 * r["true_sd_first"]
    for end in ("first", "last"):
        lo, hi = r[f"noise_sd_{end}_90"]
        assert lo < r[f"true_sd_{end}"] < hi, end  # the true noise sd lies in the 90% posterior interval
        assert 0.6 * r[f"true_sd_{end}"] < r[f"noise_sd_{end}"] < 1.6 * r[f"true_sd_{end}"], end
    assert r["noise_sd_last_90"][0] > r["noise_sd_first_90"][1]  # the growth itself is resolved
    assert r["f_rmse"] < 0.2  # posterior mean of f against sin(x) on (0, 10); measured 0.101
    assert r["verdict"]["max_r_hat"] < 1.1 and r["verdict"]["divergences"] <= 5
    assert_png(tmp_path / "heteroscedastic_gp.png")


@pytest.mark.slow
def test_gp_classification_accuracy_on_held_out_patients(tmp_path):
    # Laplace-marginal latent field, NUTS over 3 hyperparameters; --quick: 100 patients, 2 chains x (60 + 60)
    r = run_quick("gp_classification", tmp_path)
    assert r["n_train"] == 100 and r["n_test"] == 569 - 100
    # measured 0.928 (majority rate 0.616): well above predicting the majority class
    assert r["accuracy"] > 0.88 and r["accuracy"] > r["majority_rate"] + 0.2
    assert r["mean_log_predictive"] > -0.35  # measured -0.22; log(0.5) = -0.69 is a coin flip
    assert 0.3 < r["median_lengthscale"] < 10.0  # measured 2.1-2.3 on standardised features
    assert r["verdict"]["divergences"] == 0


@pytest.mark.slow
def test_co2_forecast_is_plausible_and_rising(tmp_path):
    r = run_quick("co2", tmp_path)
    # Mauna Loa's annual mean was about 390.9 ppm in 2011; the record here ends early 2002 at about 371 ppm
    assert 375.0 < r["forecast_2011_ppm"] < 400.0
    assert r["forecast_2011_ppm"] > r["max_observed_ppm"]
    assert 10.0 < r["trend_2011_ppm"] - r["trend_2001_ppm"] < 25.0  # about 1.5 ppm a year
    assert 4.0 < r["seasonal_amplitude_ppm"] < 9.0  # the seasonal cycle at Mauna Loa spans about 6 ppm
    # --quick: MAP on every 8th month of the record, NUTS on the last 5 years of consecutive months (from 1997)
    assert r["n_map"] == 66 and r["n_nuts"] == 61 and 1996.9 < r["nuts_from"] < 1997.1
    assert 0.05 < r["map"]["short_lengthscale"] < 1.0 and 20.0 < r["map"]["trend_lengthscale"]  # years; R&W: 0.1, 67
    for name in ("co2_forecast.png", "co2_components.png", "trace.png"):
        assert_png(tmp_path / name)
    assert "r_hat" in (tmp_path / "summary.txt").read_text()


@pytest.mark.slow
def test_gp_counts_laplace_rate_drops_after_1890(tmp_path):
    r = run_quick("gp_counts_laplace", tmp_path)
    assert 2.0 < r["rate_1851_1885"] < 4.5 and 0.4 < r["rate_1900_1962"] < 1.3
    assert r["rate_1860"] > 2 * r["rate_1950"]
    assert abs(r["expected_total"] - 191) < 25
    assert r["verdict"]["divergences"] == 0
    assert_png(tmp_path / "gp_counts_laplace.png")


@pytest.mark.slow
def test_gp_counts_laplace_inla_agrees():
    from models import gp_counts_laplace

    r = gp_counts_laplace.main(inla=True, quick=True, out=None)
    assert r["method"] == "inla" and "verdict" not in r
    assert 2.0 < r["rate_1851_1885"] < 4.5 and 0.4 < r["rate_1900_1962"] < 1.3


@pytest.mark.slow
def test_cox_coal_rate_drops_after_1890(tmp_path):
    r = run_quick("cox_coal", tmp_path)
    assert r["method"] == "nuts"
    assert 2.0 < r["rate_1855_1885"] < 4.5 and r["rate_1900_1960"] < 1.5
    assert r["prob_rate_dropped"] > 0.95  # posterior probability that the early rate exceeds the late one
    assert abs(r["expected_total"] - r["observed_total"]) < 25
    assert_png(tmp_path / "cox_coal.png")


@pytest.mark.slow
def test_cox_pines_intensity_matches_the_count(tmp_path):
    r = run_quick("cox_pines", tmp_path)
    assert r["observed_count"] == 65 and r["shape"] == [12, 12]
    assert 50.0 < r["expected_count"] < 82.0
    assert 10.0 < r["intensity_min"] < 65.0 < r["intensity_max"] < 250.0  # per unit area; mean 65
    g0, g01, g03 = r["pair_correlation"]
    assert g0 >= g01 >= g03 >= 1.0 - 1e-9  # an LGCP clusters: g(r) = exp(C(r)) >= 1, decreasing
    assert_png(tmp_path / "cox_pines.png")


@pytest.mark.slow
def test_bq_evidence_matches_the_closed_form(tmp_path):
    r = run_quick("bq_evidence", tmp_path)
    assert r["evaluations"] == 24
    assert abs(r["log_evidence_bq"] - r["log_evidence_exact"]) < 0.1


@pytest.mark.slow
def test_bo_surrogate_fits_hartmann6(tmp_path):
    r = run_quick("bo_surrogate", tmp_path)
    ls = np.asarray(r["median_lengthscales"])
    assert ls.shape == (6,) and np.all((ls > 0) & np.isfinite(ls))
    assert r["train_correlation"] > 0.9  # the surrogate reproduces its 20 evaluations
    assert r["test_correlation"] > 0.0  # ... and carries some signal to fresh points of a hard 6-D function
    assert 0.0 <= r["final_regret"] <= r["initial_regret"] < 3.4
    # y is observed through GaussianProcess, so PSIS-LOO has one term per evaluation (measured: 6 of the 20
    # have Pareto k > 0.7, honest for 20 points in 6-D), not one joint term as with a multivariate normal
    assert any("of 20 observation(s) of 'y'" in p for p in r["verdict"]["problems"]), r["verdict"]["problems"]


# ----------------------------------------------------------------------------- examples/
@pytest.mark.slow
def test_bo_branin_finds_the_minimum(tmp_path):
    r = run_quick("bo_branin", tmp_path)
    assert r["evals"] == 20
    assert abs(r["fmin"] - 0.397887) < 1e-6
    assert r["best_value"] - r["fmin"] < 0.1  # 20 evaluations get within 0.1 of Branin's minimum ...
    assert r["final_regret"] < r["sobol_regret"] / 5  # ... far closer than Sobol search with as many
    minima = np.array([[-np.pi, 12.275], [np.pi, 2.275], [9.42478, 2.475]])
    assert np.min(np.linalg.norm(minima - np.asarray(r["best_x"]), axis=1)) < 0.5
    assert_png(tmp_path / "bo_branin.png")


@pytest.mark.slow
def test_bo_cox_locates_the_peak_with_default_output_folder(tmp_path):
    # run from another directory without --out: the figure lands in ./bo_cox-output there
    proc = subprocess.run([*command("bo_cox"), "--quick"], cwd=tmp_path, env=headless_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "bo_cox-output"
    r = json.loads((out / "result.json").read_text())
    assert r["windows"] == 6 and len(r["events_per_window"]) == 6
    assert abs(r["located_peak"] - 0.72) < 0.05
    assert_png(out / "bo_cox.png")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "bayeskern.quadrature, not the example: evidence()'s WSABI-L fits its square-root GP's ARD lengthscales by MAP "
    "under default_priors(RBF, X, g, ard=True), whose lower tail is each axis's smallest 1-D spacing of the projected "
    "design (1e-5 to 1e-3 here; the design's Euclidean spacing is 0.07). At the example's 30 evaluations (seed 0) the "
    "slope-axis lengthscale comes out 0.024 against a posterior sd of 0.10, and the quadratic model's log evidence is "
    "-60.68 against the exact -58.73 with a relative sd of 0.55 (log Bayes factor -3.51 vs -1.55); the same 30 "
    "evaluations with every lengthscale fixed at 0.15 / 0.2 give -59.17 / -58.44. Seed 1 fits 0.002-0.009 and is 9.7 nats low with a "
    "relative sd of 4e-26; more evaluations do not cure it (n = 45: 10-11 nats low, both seeds). Degree 1 (2-D) "
    "agrees to 0.01. evidence() exposes no kernel or prior, so the example cannot work around it"))
def test_bq_co2_evidence_bayes_factor(tmp_path):
    r = run_quick("bq_co2_evidence", tmp_path)
    for degree in ("1", "2"):
        bq, rel_sd, exact = r["rows"][degree]
        assert abs(bq - exact) < 0.1 and 0 < rel_sd < 0.2
    assert abs(r["log_bayes_factor_bq"] - r["log_bayes_factor_exact"]) < 0.15
    assert np.sign(r["log_bayes_factor_bq"]) == np.sign(r["log_bayes_factor_exact"])
    assert_png(tmp_path / "bq_co2_evidence.png")


@pytest.mark.slow
def test_cox_coal_mining_three_ways(tmp_path):
    r = run_quick("cox_coal_mining", tmp_path)
    assert set(r["methods"]) == {"laplace", "svi", "nuts"}
    for method, m in r["methods"].items():
        assert 2.0 < m["rate_1855_1885"] < 4.5 and m["rate_1900_1960"] < 1.5, method
        assert abs(m["expected_total"] - r["observed_total"]) < 25, method
    assert 50.0 < r["pines_expected_count"] < 82.0
    assert_png(tmp_path / "cox_coal_mining.png")
    assert_png(tmp_path / "cox_pines.png")
