"""NUTS over GP-regression hyperparameters: textbook NumPyro MultivariateNormal vs bayeskern.GaussianProcess.

Data: n 1-D inputs (uniform on [0, 10], sorted), a draw from a known
Matern52 GP (lengthscale 1, variance 1) plus Gaussian noise (variance 0.1),
fixed seed. Priors: lengthscale ~ LogNormal(0, 1), variance ~ LogNormal(0, 1),
noise ~ LogNormal(-2, 1). Models:

  (a) textbook: K built by hand (Matern52 of |x_i - x_j|),
      numpyro.sample("y", dist.MultivariateNormal(0, covariance_matrix=K + noise*I), obs=y)
  (b) bayeskern: numpyro.sample("y", GaussianProcess(Matern52(lengthscale, variance), X, noise=noise), obs=y)
      (the default structure="auto"; for 1-D Matérn data with n >= 128 it resolves to the
      exact state-space ("kalman") back end; the choice is printed)
  (c) bayeskern_dense: (b) with structure="dense" forced (Cholesky with the analytic gradient)
  (d) bayeskern_runner: model (b) sampled by bayeskern.infer.nuts (the package's runner:
      init to the prior median, dense mass matrix for this 3-dimensional posterior)

(a)-(c) use plain numpyro.infer.MCMC(NUTS(model, init_strategy=init_to_median),
num_chains=1, progress_bar=False) with identical settings and seeds; (d) uses
the runner with num_chains=1 and the same warm-up/draw counts and seeds. Each
model runs twice, interleaved (a1, b1, c1, d1, a2, ...):

  run 1  seed 1: wall time of mcmc.run, everything included (first run in
         the process: tracing and XLA compilation from cold caches)
  run 2  seed 2: wall time of a second run on a fresh MCMC object (NumPyro
         re-traces and recompiles on every run, so this still includes a
         compile, with warm Python/JAX caches)

The time JAX spends tracing, lowering and compiling inside each run is read
from JAX's monitoring events (union of the intervals) and subtracted to give
the compile-excluded sampling time. Reported per model: wall times, compile
time, min bulk ESS over the three hyperparameters (arviz.ess), ESS/s (total
and compile-excluded), the ratio (b)/(a) (target ≥ 5x), time per leapfrog
step, and the agreement of posterior means: runs 1 and 2 pooled as two
chains per model, |mean_a − mean_b| / sqrt(mcse_a² + mcse_b²) per
hyperparameter.

Usage:
  python benchmarks/bench_nuts_gp.py [--quick] [--n 500] [--warmup 500] [--samples 500] [--threads N] [--only a,b]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import arviz as az  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC, NUTS, init_to_median  # noqa: E402

import bayeskern  # noqa: E402,F401  (float64)
from _bench_util import CompileTimer, environment_report  # noqa: E402
from bayeskern.gp import GaussianProcess  # noqa: E402
from bayeskern.infer import nuts as bk_nuts  # noqa: E402
from bayeskern.kernels import Matern52  # noqa: E402

jax.config.update("jax_enable_x64", True)
SITES = ("lengthscale", "variance", "noise")
SQRT5 = math.sqrt(5.0)


def make_data(n: int, seed: int = 0, lengthscale=1.0, variance=1.0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = np.sort(rng.uniform(0.0, 10.0, n))
    r = np.abs(X[:, None] - X[None, :]) / lengthscale
    K = variance * (1 + SQRT5 * r + 5.0 * r**2 / 3.0) * np.exp(-SQRT5 * r)
    f = np.linalg.cholesky(K + 1e-10 * np.eye(n)) @ rng.standard_normal(n)
    y = f + math.sqrt(noise) * rng.standard_normal(n)
    return jnp.asarray(X), jnp.asarray(y)


def priors():
    ls = numpyro.sample("lengthscale", dist.LogNormal(0.0, 1.0))
    var = numpyro.sample("variance", dist.LogNormal(0.0, 1.0))
    noise = numpyro.sample("noise", dist.LogNormal(-2.0, 1.0))
    return ls, var, noise


def model_textbook(X, y):
    ls, var, noise = priors()
    r = jnp.abs(X[:, None] - X[None, :]) / ls
    K = var * (1.0 + SQRT5 * r + 5.0 * r**2 / 3.0) * jnp.exp(-SQRT5 * r)
    n = X.shape[0]
    numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(n), covariance_matrix=K + noise * jnp.eye(n)), obs=y)


def model_bayeskern(X, y):
    ls, var, noise = priors()
    numpyro.sample("y", GaussianProcess(Matern52(lengthscale=ls, variance=var), X, noise=noise), obs=y)


def model_bayeskern_dense(X, y):
    ls, var, noise = priors()
    gp = GaussianProcess(Matern52(lengthscale=ls, variance=var), X, noise=noise, structure="dense")
    numpyro.sample("y", gp, obs=y)


MODELS = {"textbook": model_textbook, "bayeskern": model_bayeskern, "bayeskern_dense": model_bayeskern_dense,
          "bayeskern_runner": model_bayeskern}


def run_runner(model, X, y, seed, num_warmup, num_samples):
    with CompileTimer() as ct:
        t0 = time.perf_counter()
        fit = bk_nuts(model, X, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=1, seed=seed,
                      progress_bar=False)
        jax.block_until_ready(fit.samples)
        wall = time.perf_counter() - t0
    extra = fit.mcmc.get_extra_fields()
    draws = {k: np.asarray(fit.samples[k]) for k in SITES}
    return {
        "wall": wall,
        "compile": ct.seconds,
        "draws": draws,
        "ess": {k: float(az.ess(draws[k][None, :])) for k in SITES},
        "grad_evals": int(np.sum(extra["num_steps"])),
        "divergences": int(np.sum(extra["diverging"])),
    }


def run_mcmc(model, X, y, seed, num_warmup, num_samples):
    mcmc = MCMC(
        NUTS(model, init_strategy=init_to_median),
        num_warmup=num_warmup, num_samples=num_samples, num_chains=1, progress_bar=False,
    )
    with CompileTimer() as ct:
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), X, y, extra_fields=("num_steps", "diverging"))
        samples = mcmc.get_samples()
        jax.block_until_ready(samples)
        wall = time.perf_counter() - t0
    extra = mcmc.get_extra_fields()
    draws = {k: np.asarray(samples[k]) for k in SITES}
    return {
        "wall": wall,
        "compile": ct.seconds,
        "draws": draws,
        "ess": {k: float(az.ess(draws[k][None, :])) for k in SITES},
        "grad_evals": int(np.sum(extra["num_steps"])),
        "divergences": int(np.sum(extra["diverging"])),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n = 200, 200 warm-up + 200 draws")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="pin XLA and BLAS to N threads (default 1; 0 = defaults)")
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(MODELS)
                    + " (textbook is always included)")
    args = ap.parse_args()
    models = dict(MODELS)
    if args.only:
        keep = {"textbook", *args.only.split(",")}
        unknown = keep - set(MODELS)
        if unknown:
            ap.error(f"--only: unknown models {sorted(unknown)}")
        models = {k: v for k, v in MODELS.items() if k in keep}
    n = args.n or (200 if args.quick else 500)
    nw = args.warmup or (200 if args.quick else 500)
    ns = args.samples or (200 if args.quick else 500)

    print("# bench_nuts_gp: NUTS on GP hyperparameters, textbook MultivariateNormal vs bayeskern.GaussianProcess")
    print(environment_report(THREADS, ("numpyro", "arviz")))
    print(f"n = {n}, 1 chain, {nw} warm-up + {ns} draws, init_to_median, NUTS defaults (target_accept 0.8, "
          f"max_tree_depth 10, diagonal mass)\n")
    X, y = make_data(n)
    auto = GaussianProcess(Matern52(), X, noise=0.1).structure
    print(f"GaussianProcess(Matern52(...), X, noise=...) with structure='auto' resolves to {auto!r} for n = {n}\n")

    res = {m: {} for m in models}
    for phase, seed in (("run1", 1), ("run2", 2)):
        for name, model in models.items():
            runner = run_runner if name == "bayeskern_runner" else run_mcmc
            r = runner(model, X, y, seed, nw, ns)
            res[name][phase] = r
            print(f"{phase} {name:16s}: wall {r['wall']:7.1f} s (compile {r['compile']:5.1f} s)"
                  f" | min bulk ESS {min(r['ess'].values()):6.1f} ({', '.join(f'{k} {v:.0f}' for k, v in r['ess'].items())})"
                  f" | leapfrog steps (draws only) {r['grad_evals']} | divergences {r['divergences']}", flush=True)

    rows = {}
    for name in models:
        row = {}
        for ph in ("run1", "run2"):
            r = res[name][ph]
            ess = min(r["ess"].values())
            sampling = r["wall"] - r["compile"]
            row[f"{ph}_wall"] = r["wall"]
            row[f"{ph}_compile"] = r["compile"]
            row[f"{ph}_ess"] = ess
            row[f"{ph}_ess_s"] = ess / r["wall"]
            row[f"{ph}_ess_s_nc"] = ess / sampling
        rows[name] = row

    print("\n| model | run 1 wall (compile) | run 2 wall (compile) | min bulk ESS (run 1 / run 2) | "
          "ESS/s total (run 1 / run 2) | ESS/s excl. compile (run 1 / run 2) |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['run1_wall']:.1f} s ({r['run1_compile']:.1f} s) | {r['run2_wall']:.1f} s "
              f"({r['run2_compile']:.1f} s) | {r['run1_ess']:.0f} / {r['run2_ess']:.0f} | "
              f"{r['run1_ess_s']:.2f} / {r['run2_ess_s']:.2f} | {r['run1_ess_s_nc']:.2f} / {r['run2_ess_s_nc']:.2f} |")
    a = rows["textbook"]
    for other in models:
        if other == "textbook":
            continue
        b = rows[other]
        target = " (target ≥ 5x)" if other in ("bayeskern", "bayeskern_runner") else " (extra row, no target)"
        print(f"\nESS/s ratio {other} / textbook{target}:")
        for key, label in (("run1_ess_s", "run 1, total wall"), ("run2_ess_s", "run 2, total wall"),
                           ("run1_ess_s_nc", "run 1, excl. compile"), ("run2_ess_s_nc", "run 2, excl. compile")):
            print(f"  {label:22s}: {b[key] / a[key]:.2f}x")
        print(f"  wall-time ratio textbook / {other}: run 1 {a['run1_wall'] / b['run1_wall']:.2f}x, "
              f"run 2 {a['run2_wall'] / b['run2_wall']:.2f}x; excl. compile: run 1 "
              f"{(a['run1_wall'] - a['run1_compile']) / (b['run1_wall'] - b['run1_compile']):.2f}x, run 2 "
              f"{(a['run2_wall'] - a['run2_compile']) / (b['run2_wall'] - b['run2_compile']):.2f}x")
    pooled = {m: (res[m]["run1"]["ess"], res[m]["run2"]["ess"]) for m in models}
    print("min bulk ESS, mean of the two runs: "
          + ", ".join(f"{m} {np.mean([min(e.values()) for e in pooled[m]]):.0f}" for m in models))

    print("\nPosterior means, runs 1+2 pooled as 2 chains per model (z = |Δmean| / sqrt(mcse_a² + mcse_b²), "
          "each model vs textbook):")
    all_ok = True
    for k in SITES:
        stats = {}
        for name in models:
            chains = np.stack([res[name]["run1"]["draws"][k], res[name]["run2"]["draws"][k]])
            stats[name] = (chains.mean(), float(az.mcse(chains)), float(az.rhat(chains)))
        ma, sa, ra = stats["textbook"]
        parts = [f"textbook {ma:.4f} ± {sa:.4f} (R-hat {ra:.3f})"]
        for name in models:
            if name == "textbook":
                continue
            mb, sb, rb = stats[name]
            z = abs(ma - mb) / math.sqrt(sa**2 + sb**2)
            ok = z < 3.0
            all_ok &= ok
            parts.append(f"{name} {mb:.4f} ± {sb:.4f} (R-hat {rb:.3f}, z = {z:.2f} {'OK' if ok else 'DIFFERENT'})")
        print(f"  {k:11s}: " + " | ".join(parts))
    print(f"posterior means agree within Monte-Carlo error (all z < 3): {all_ok}")


if __name__ == "__main__":
    sys.exit(main())
