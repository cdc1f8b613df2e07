"""Mauna Loa CO2 with the classic composite kernel (Rasmussen & Williams §5.4.3): fit and ten-year forecast.

The model (long RBF trend + RBF x periodic seasonal + rational-quadratic
medium term + short RBF + noise, on standardised ppm, inputs in years since
1980) lives in ``bayeskern.demo``; ``scripts/demo`` runs a shorter version of
this fit together with a Cox process. Here: MAP on the fitting months, then
NUTS over the eleven hyperparameters started at the MAP point, then the
predictive band to 2012 and the trend and seasonal components.

Run: ``python -m models.co2 [--quick] [--out DIR] [--seed S]``. Defaults: MAP
(1500 steps) on all 521 months, NUTS on every 2nd month with 4 chains x (500
warm-up + 500 draws) — several minutes on two cores; ``--quick``: every 8th
month for both, 300 MAP steps, 2 chains x (100 + 100). Writes into ``DIR``
(default ``./co2-output``): ``co2_forecast.png`` (data and predictive band),
``co2_components.png`` (trend and seasonal cycle), ``trace.png``,
``summary.txt`` (ArviZ summary and verdict) and ``result.json`` (forecast,
seasonal amplitude and verdict numbers).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bayeskern.demo import YEAR0, co2_kernel, co2_model  # noqa: F401  (co2_kernel re-exported for users)

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]

HYPERS = ("trend_lengthscale", "trend_variance", "season_decay_lengthscale", "season_lengthscale",
          "season_variance", "medium_lengthscale", "medium_variance", "medium_alpha", "short_lengthscale",
          "short_variance", "noise")


def main(*, quick: bool = False, subsample: int | None = None, map_steps: int | None = None,
         num_warmup: int | None = None, num_samples: int | None = None, num_chains: int | None = None,
         seed: int = 0, out: str = "co2-output") -> dict:
    """Fit and forecast; returns the forecast for the end of 2011 (ppm), the seasonal amplitude (ppm),
    the last and largest observed monthly means, verdict numbers, timings (and ``fit``)."""
    from bayeskern.datasets import load_co2
    from bayeskern.diagnostics import check, plot_predictive_band, plot_trace
    from bayeskern.infer import nuts, svi

    subsample = subsample or (8 if quick else 2)
    map_steps = map_steps or (300 if quick else 1500)
    num_chains = num_chains or (2 if quick else 4)
    num_warmup = num_warmup or (100 if quick else 500)
    num_samples = num_samples or (100 if quick else 500)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)

    data = load_co2()
    X_all = np.asarray(data.X, dtype=float) - YEAR0
    ppm = np.asarray(data.y, dtype=float)
    mu, sd = ppm.mean(), ppm.std()
    y_all = (ppm - mu) / sd
    X_map, y_map = (X_all[::subsample], y_all[::subsample]) if quick else (X_all, y_all)
    t0 = time.perf_counter()
    map_fit = svi(co2_model, X_map, y_map, guide="map", steps=map_steps, seed=seed)
    start = {k: np.asarray(v[0]) for k, v in map_fit.samples.items() if k in HYPERS}
    map_seconds = time.perf_counter() - t0
    X, y = X_all[::subsample], y_all[::subsample]
    t0 = time.perf_counter()
    fit = nuts(co2_model, X, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, seed=seed,
               init=start, progress_bar=False)
    nuts_seconds = time.perf_counter() - t0
    summary = fit.summary()
    verdict = check(fit)
    print(summary)
    print(verdict)

    X_new = np.linspace(X_all[0], 2012.0 - YEAR0, 300)
    pred = fit.predict(co2_model, X, y, X_new=X_new, num_draws=100, seed=seed,
                       return_sites=["f_mean", "f_var", "trend_mean", "seasonal_mean"])
    z = np.random.default_rng(seed).standard_normal(np.shape(pred["f_mean"]))
    draws = (np.asarray(pred["f_mean"]) + np.sqrt(np.asarray(pred["f_var"])) * z) * sd + mu
    trend = np.asarray(pred["trend_mean"]) * sd + mu
    seasonal = np.asarray(pred["seasonal_mean"]) * sd
    last_year = X_new >= 2001.0 - YEAR0
    amplitude = float(np.ptp(seasonal.mean(0)[last_year]))
    result = {
        "forecast_2011_ppm": float(draws[:, -1].mean()), "forecast_2011_sd_ppm": float(draws[:, -1].std()),
        "trend_2001_ppm": float(trend.mean(0)[np.argmin(abs(X_new - (2001.0 - YEAR0)))]),
        "trend_2011_ppm": float(trend.mean(0)[-1]), "seasonal_amplitude_ppm": amplitude,
        "last_observed_ppm": float(ppm[-1]), "max_observed_ppm": float(ppm.max()),
        "n_map": len(X_map), "n_nuts": len(X), "map_seconds": map_seconds, "nuts_seconds": nuts_seconds,
        "verdict": _cli.verdict_numbers(verdict),
    }
    print(f"forecast end of 2011: {result['forecast_2011_ppm']:.1f} ± {result['forecast_2011_sd_ppm']:.1f} ppm "
          f"(last observed {ppm[-1]:.1f}); seasonal peak-to-trough {amplitude:.1f} ppm; "
          f"MAP {map_seconds:.1f} s, NUTS {nuts_seconds:.1f} s")

    plt = _cli.pyplot()
    fig = plot_predictive_band(data.X, ppm, X_new + YEAR0, draws, path=folder / "co2_forecast.png",
                               title="Mauna Loa CO2: posterior predictive", xlabel="year", ylabel="CO2 (ppm)")
    plt.close(fig)
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for ax, comp, label in ((axes[0], trend, "trend"), (axes[1], seasonal, "seasonal cycle")):
        lo, hi = np.percentile(comp, [5, 95], axis=0)
        ax.fill_between(X_new + YEAR0, lo, hi, alpha=0.3)
        ax.plot(X_new + YEAR0, comp.mean(0), lw=1)
        ax.set(ylabel="ppm", title=label)
    axes[1].set_xlabel("year")
    fig.savefig(folder / "co2_components.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    plot_trace(fit, path=folder / "trace.png", var_names=list(HYPERS))
    plt.close("all")
    (folder / "summary.txt").write_text(f"{summary}\n\n{verdict}\n")
    _cli.write_result(folder, result)
    return {**result, "fit": fit}


if __name__ == "__main__":
    _cli.run(main, _cli.parser(__doc__, "co2"))
