"""Heteroscedastic GP regression: the noise variance is itself a latent GP.

``y ~ GaussianProcess(k_f, X, noise=exp(g(X)))`` with ``g`` a whitened
latent GP: the mean function is integrated out exactly, the log-noise
function is sampled. The data are simulated, so the truth is known:
``y = sin(x) + ε``, ``sd(ε) = 0.05 + 0.08 x`` on ``x ∈ (0, 10)``.

Run: ``python -m models.heteroscedastic_gp [--quick] [--out DIR] [--seed S]``
(defaults: 120 points, 4 chains x (500 warm-up + 500 draws); ``--quick``: 60
points, 2 chains x (150 + 100); several minutes on two cores even so: NUTS
on the latent noise field is the slow part). Prints the verdict and the
estimated against the true noise sd; writes ``DIR/result.json`` and
``DIR/heteroscedastic_gp.png`` (data, posterior mean of ``f``, estimated and
true noise sd); default ``DIR`` is ``./heteroscedastic_gp-output``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401
from bayeskern.gp import GaussianProcess, latent
from bayeskern.priors import sample_matern52, sample_rbf

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]


def model(X, y=None, X_new=None):
    """``X`` ``(n,)``, ``y`` ``(n,)`` standardised; sites ``f_*``, ``log_noise_*``, ``log_noise`` ``(n,)``."""
    kernel_f = sample_matern52("f", X, y)
    kernel_g = sample_rbf("log_noise", X, variance=dist.LogNormal(0.0, 0.5))
    offset = numpyro.sample("log_noise_mean", dist.Normal(jnp.log(0.1), 1.5))
    g = latent("log_noise", kernel_g, X, mean=offset)
    gp = GaussianProcess(kernel_f, X, noise=jnp.exp(g))
    numpyro.sample("y", gp, obs=y)
    if X_new is not None and y is not None:
        numpyro.deterministic("f_new_mean", gp.condition(y, X_new).mean)


def simulate(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs ``(n,)``, observations ``(n,)`` and the true noise sd ``(n,)``."""
    rng = np.random.default_rng(seed)
    X = np.sort(rng.uniform(0, 10, n))
    sd = 0.05 + 0.08 * X
    return X, np.sin(X) + sd * rng.standard_normal(n), sd


def main(*, quick: bool = False, n: int | None = None, num_warmup: int | None = None, num_samples: int | None = None,
         num_chains: int | None = None, seed: int = 0, out: str | None = "heteroscedastic_gp-output") -> dict:
    """Fit ``n`` simulated points; returns verdict numbers, estimated/true noise sd at both ends, RMSE of f (and ``fit``)."""
    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    n = n or (60 if quick else 120)
    num_warmup = num_warmup or (150 if quick else 500)
    num_samples = num_samples or (100 if quick else 500)
    num_chains = num_chains or (2 if quick else 4)
    X, y, sd = simulate(n)
    t0 = time.perf_counter()
    fit = nuts(model, X, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, seed=seed,
               progress_bar=False)
    seconds = time.perf_counter() - t0
    verdict = check(fit)
    print(verdict)
    est = np.exp(0.5 * np.asarray(fit.samples["log_noise"])).mean(0)
    k = max(1, n // 12)
    grid = np.linspace(0.0, 10.0, 101)
    pred = fit.predict(model, X, y, X_new=grid, num_draws=100, seed=seed, return_sites=["f_new_mean"])
    f_mean = np.asarray(pred["f_new_mean"]).mean(0)
    f_rmse = float(np.sqrt(np.mean((f_mean - np.sin(grid)) ** 2)))
    result = {
        "verdict": _cli.verdict_numbers(verdict), "nuts_seconds": seconds, "num_chains": num_chains,
        "num_samples": num_samples,
        "noise_sd_first": float(est[:k].mean()), "noise_sd_last": float(est[-k:].mean()),
        "true_sd_first": float(sd[:k].mean()), "true_sd_last": float(sd[-k:].mean()),
        "f_rmse": f_rmse,
    }
    print(f"noise sd, first/last {k} points: estimated {result['noise_sd_first']:.3f} / "
          f"{result['noise_sd_last']:.3f}, true {result['true_sd_first']:.3f} / {result['true_sd_last']:.3f}; "
          f"RMSE of the posterior mean of f against sin(x): {f_rmse:.3f}; NUTS {seconds:.1f} s")
    if out is not None:
        _cli.write_result(out, result)
        plt = _cli.pyplot()
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
        a.plot(X, y, "k.", ms=3, label="data")
        a.plot(grid, np.sin(grid), "k--", lw=1, label="true f")
        a.plot(grid, f_mean, "C0", label="posterior mean f")
        a.legend(fontsize=8)
        b.plot(X, sd, "k--", label="true noise sd")
        b.plot(X, est, "C1", label="posterior mean noise sd")
        b.legend(fontsize=8)
        fig.savefig(Path(out) / "heteroscedastic_gp.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
    return {**result, "fit": fit}


if __name__ == "__main__":
    _cli.run(main, _cli.parser(__doc__, "heteroscedastic_gp"))
