"""GP regression: Matérn-5/2 kernel with data-scaled priors, Gaussian noise, NUTS over hyperparameters.

Fits one decade (1990-1999) of the bundled Mauna Loa CO2 record, where a single
Matérn kernel is a reasonable model, with every 4th month held out; then
predicts the held-out months and reports their error in ppm and how many fall
inside the 90% predictive interval.

Run: ``python -m models.gp_regression [--quick] [--out DIR] [--seed S]``
(defaults: 4 chains x (500 warm-up + 500 draws), which pass
``bayeskern.diagnostics.check``: R-hat <= 1.005, bulk ESS >= 1500, tail ESS
>= 1040, no divergences, 47 s on two cores at load 6; ``--quick``: 2 chains
x (100 + 100)).
Writes ``DIR/result.json`` (verdict and hold-out numbers) and
``DIR/gp_regression.png`` (data, held-out months, predictive band); default
``DIR`` is ``./gp_regression-output``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401  (float64)
from bayeskern.gp import GaussianProcess
from bayeskern.priors import sample_matern52

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]


def model(X, y=None, X_new=None):
    """``y ~ GP(0, Matern52) + N(0, noise)`` with ``X`` ``(n,)|(n, d)``, ``y`` ``(n,)`` standardised.

    With ``X_new`` ``(m, ...)`` and ``y``, records ``f_new`` (a draw of the
    latent function at ``X_new`` given the data) and its mean ``f_new_mean``.
    """
    kernel = sample_matern52("f", X, y)
    noise = numpyro.sample("noise", dist.LogNormal(jnp.log(0.05), 1.5))
    gp = GaussianProcess(kernel, X, noise=noise)
    numpyro.sample("y", gp, obs=y)
    if X_new is not None and y is not None:
        conditioned = gp.condition(y, X_new)
        numpyro.deterministic("f_new_mean", conditioned.mean)
        numpyro.sample("f_new", conditioned)


def load(holdout_every: int = 4):
    """CO2 1990-1999: ``(X_train, y_train, X_test, y_test)`` in years since 1990 and ppm."""
    from bayeskern.datasets import load_co2

    data = load_co2(start=1990, end=2000)
    X = np.asarray(data.X, dtype=float) - 1990.0
    y = np.asarray(data.y, dtype=float)
    test = np.arange(len(X)) % holdout_every == holdout_every - 1
    return X[~test], y[~test], X[test], y[test]


def main(*, quick: bool = False, num_warmup: int | None = None, num_samples: int | None = None,
         num_chains: int | None = None, seed: int = 0, out: str | None = "gp_regression-output") -> dict:
    """Fit, check and predict; returns the verdict numbers, hold-out RMSE (ppm) and 90% coverage (and ``fit``)."""
    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    num_warmup = num_warmup or (100 if quick else 500)
    num_samples = num_samples or (100 if quick else 500)
    num_chains = num_chains or (2 if quick else 4)
    Xtr, ytr, Xte, yte = load()
    mu, sd = ytr.mean(), ytr.std()
    t0 = time.perf_counter()
    fit = nuts(model, Xtr, (ytr - mu) / sd, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
               seed=seed, progress_bar=False)
    seconds = time.perf_counter() - t0
    print(fit.summary())
    verdict = check(fit)
    print(verdict)
    pred = fit.predict(model, Xtr, (ytr - mu) / sd, X_new=Xte, num_draws=200, seed=seed,
                       return_sites=["f_new_mean", "f_new", "noise"])
    noise = np.asarray(pred["noise"]).reshape(-1, 1)
    draws = np.asarray(pred["f_new"]) + np.sqrt(noise) * np.random.default_rng(seed).standard_normal(
        np.shape(pred["f_new"]))
    y_draws = draws * sd + mu
    mean = np.asarray(pred["f_new_mean"]).mean(0) * sd + mu
    lo, hi = np.percentile(y_draws, [5, 95], axis=0)
    rmse = float(np.sqrt(np.mean((mean - yte) ** 2)))
    coverage = float(np.mean((yte >= lo) & (yte <= hi)))
    print(f"held-out months: RMSE {rmse:.3f} ppm, {coverage:.0%} inside the 90% predictive interval "
          f"({len(yte)} months); NUTS {seconds:.1f} s")
    result = {
        "verdict": _cli.verdict_numbers(verdict), "nuts_seconds": seconds, "num_chains": num_chains,
        "num_samples": num_samples, "holdout_rmse_ppm": rmse, "holdout_coverage_90": coverage,
        "n_train": len(Xtr), "n_test": len(Xte),
        "lengthscale_median": float(np.median(fit.samples["f_lengthscale"])),
    }
    if out is not None:
        plt = _cli.pyplot()
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.plot(Xtr + 1990, ytr, "k.", ms=3, label="training months")
        ax.plot(Xte + 1990, yte, "rx", ms=5, label="held-out months")
        ax.errorbar(Xte + 1990, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="C0", label="90% predictive")
        ax.set(xlabel="year", ylabel="CO2 (ppm)", title="Matérn-5/2 GP, NUTS over hyperparameters")
        ax.legend(fontsize=8)
        _cli.write_result(out, result)
        fig.savefig(Path(out) / "gp_regression.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
    return {**result, "fit": fit}


if __name__ == "__main__":
    _cli.run(main, _cli.parser(__doc__, "gp_regression"))
