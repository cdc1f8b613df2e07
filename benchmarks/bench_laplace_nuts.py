"""NUTS over hyperparameters with the embedded Laplace marginal vs NUTS on the whitened latent field.

Issue 5's figures for a Poisson GP with n = 500: effective samples per second
of the hyperparameters (target: Laplace >= 10x latent NUTS), and agreement of
the posterior means of the hyperparameters and of ``f`` in Monte-Carlo
standard errors (Poisson is log-concave, so the Laplace marginal should agree
within MC error; its residual bias is reported, not hidden).

Data: 1-D inputs ``x ~ U(0, 10)`` (sorted), ``f ~ GP(0.5, Matérn-3/2(ℓ = 1, σ² = 0.8))``,
``y_i ~ Poisson(exp f_i)``, all from a fixed seed. Both models share the priors
``ℓ ~ LogNormal(0, 0.5)``, ``σ² ~ LogNormal(log 0.5, 0.75)``, ``b ~ N(0, 1)``
(``b`` the constant prior mean). The Laplace model's ``f`` draws come from
:func:`bayeskern.gp.sample_latent` (one per hyperparameter draw).

ESS: bulk ESS (``numpyro.diagnostics.effective_sample_size``, rank-normalised
draws per chain) of ℓ, σ², b; the minimum over the three, divided by the
sampling time (warm-up + draws, compile excluded; total wall also shown).
MCSE of a mean: ``sd / sqrt(ESS)``; ``|Δ| / sqrt(MCSE_a² + MCSE_b²)``.

Run (1 XLA/BLAS thread by default):
    .venv/bin/python benchmarks/bench_laplace_nuts.py              # 300 warm-up / 300 draws, 1 chain each
    .venv/bin/python benchmarks/bench_laplace_nuts.py --warmup 200 --samples 200
    .venv/bin/python benchmarks/bench_laplace_nuts.py --long       # reference: 1000 / 2000, 2 chains
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_util import CompileTimer, configure_threads, environment_report, fmt_s, fmt_x

THREADS = configure_threads()

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import effective_sample_size
from scipy.stats import rankdata

import bayeskern  # noqa: F401
from bayeskern.gp import laplace_marginal, latent, sample_latent
from bayeskern.kernels import Matern32

HYPER = ("ls", "var", "b")
TRUE = {"ls": 1.0, "var": 0.8, "b": 0.5}


def simulate(n=500, seed=0):
    """``(x (n,), y (n,), f (n,))`` from the fixed Matérn-3/2 GP."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 10.0, n))
    K = np.asarray(Matern32(lengthscale=TRUE["ls"], variance=TRUE["var"])(x[:, None]))
    f = TRUE["b"] + np.linalg.cholesky(K + 1e-9 * np.eye(n)) @ rng.standard_normal(n)
    return x, rng.poisson(np.exp(f)).astype(float), f


def priors():
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    var = numpyro.sample("var", dist.LogNormal(np.log(0.5), 0.75))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    return Matern32(lengthscale=ls, variance=var), b


def marginal_model(x, y):
    kernel, b = priors()
    laplace_marginal("f", kernel, x, lambda f: dist.Poisson(jnp.exp(f)), y, mean=b, structure="dense")


def latent_model(x, y):
    kernel, b = priors()
    f = latent("f", kernel, x, mean=b)  # whitened: site f_z ~ N(0, I), f deterministic
    numpyro.sample("y", dist.Poisson(jnp.exp(f)), obs=y)


def bulk_ess(draws):
    """Bulk ESS of ``(chain, draw)`` draws: ESS of the normal scores of their pooled ranks."""
    from scipy.stats import norm

    r = rankdata(draws, axis=None).reshape(draws.shape)
    z = norm.ppf((r - 3 / 8) / (draws.size + 1 / 4))
    return float(effective_sample_size(z))


def run(model, x, y, warmup, samples, chains, seed):
    from bayeskern.infer import nuts

    t0 = time.perf_counter()
    with CompileTimer() as ct:
        fit = nuts(model, x, y, num_warmup=warmup, num_samples=samples, num_chains=chains, seed=seed,
                   chain_method="sequential", progress_bar=False)
    wall = time.perf_counter() - t0
    # NUTS recompiles per chain under "sequential"; the sampling time excludes every compile.
    return fit, wall, wall - ct.seconds


def summarise(fit, f_draws):
    """Per hyperparameter and per f coordinate: mean, MCSE of the mean, bulk ESS (hyper)."""
    out = {}
    for k in HYPER:
        d = fit.samples_by_chain[k]
        ess_mean = float(effective_sample_size(d))
        out[k] = (float(d.mean()), float(d.std()) / np.sqrt(ess_mean), bulk_ess(d))
    fc = f_draws.reshape(fit.num_chains, fit.num_draws, -1)
    ess_f = np.asarray(effective_sample_size(fc))  # (n,) ESS of each coordinate's mean
    out["f"] = (fc.mean(axis=(0, 1)), fc.std(axis=(0, 1)) / np.sqrt(ess_f), ess_f)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--long", action="store_true", help="reference run: 1000 warm-up / 2000 draws, 2 chains")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--laplace-only", action="store_true",
                    help="run only the Laplace-marginal model (its ESS per draw and per second; no ratio)")
    ap.add_argument("--correction", type=int, default=40,
                    help="NUTS transitions per draw for the corrected f draws (sample_latent(correction=...)); 0 = skip")
    ap.add_argument("--threads", type=int, default=1, help="XLA/BLAS threads (read before JAX import)")
    args = ap.parse_args()
    if args.long:
        args.warmup, args.samples, args.chains = 1000, 2000, 2
    print(environment_report(THREADS, ("numpyro",)))
    print(f"run: Poisson GP n = {args.n}, NUTS {args.warmup} warm-up / {args.samples} draws x {args.chains} "
          f"chain(s) per model, seed {args.seed}\n", flush=True)
    x, y, f_true = simulate(args.n)

    fit_l, wall_l, samp_l = run(marginal_model, x, y, args.warmup, args.samples, args.chains, args.seed)
    print(f"Laplace-marginal NUTS done: {fmt_s(wall_l)} wall", flush=True)
    t0 = time.perf_counter()
    f_l = sample_latent(fit_l, "f", seed=args.seed)
    t_latent_draws = time.perf_counter() - t0
    f_c, t_corr = None, 0.0
    if args.correction:
        t0 = time.perf_counter()
        f_c = sample_latent(fit_l, "f", seed=args.seed + 1, correction=args.correction)
        t_corr = time.perf_counter() - t0
        print(f"corrected f draws ({args.correction} NUTS transitions each, acceptance "
              f"{fit_l.extras['f_correction_accept']:.2f}): {fmt_s(t_corr)}", flush=True)
    if args.laplace_only:
        s_l = summarise(fit_l, f_l)
        steps_l = float(fit_l.sample_stats["n_steps"].mean())
        ess = {k: s_l[k][2] for k in HYPER}
        print(f"Laplace marginal only: sampling {fmt_s(samp_l)}, mean leapfrog steps {steps_l:.1f}, bulk ESS "
              + ", ".join(f"{k} {v:.0f}" for k, v in ess.items())
              + f"; min bulk ESS/s {min(ess.values()) / samp_l:.3g}; per draw "
              f"{min(ess.values()) / (args.samples * args.chains):.3f}")
        return
    fit_w, wall_w, samp_w = run(latent_model, x, y, args.warmup, args.samples, args.chains, args.seed)
    print(f"latent-field NUTS done: {fmt_s(wall_w)} wall\n", flush=True)
    f_w = fit_w.samples["f"]

    s_l, s_w = summarise(fit_l, f_l), summarise(fit_w, f_w)
    min_l = min(s_l[k][2] for k in HYPER)
    min_w = min(s_w[k][2] for k in HYPER)
    div_l = int(fit_l.sample_stats["diverging"].sum())
    div_w = int(fit_w.sample_stats["diverging"].sum())
    steps_l = float(fit_l.sample_stats["n_steps"].mean())
    steps_w = float(fit_w.sample_stats["n_steps"].mean())

    print("| model | wall (incl. compile) | sampling time | mean leapfrog steps | divergences "
          "| min bulk ESS (ℓ, σ², b) | ESS/s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| Laplace marginal (NUTS on θ) | {fmt_s(wall_l)} | {fmt_s(samp_l)} | {steps_l:.1f} | {div_l} "
          f"| {min_l:.0f} | {min_l / samp_l:.3g} |")
    print(f"| whitened latent field (NUTS on θ, f) | {fmt_s(wall_w)} | {fmt_s(samp_w)} | {steps_w:.1f} | {div_w} "
          f"| {min_w:.0f} | {min_w / samp_w:.3g} |")
    print(f"\nESS/s ratio (Laplace / latent): {fmt_x((min_l / samp_l) / (min_w / samp_w))} (target >= 10x); "
          f"Laplace f draws by sample_latent: {fmt_s(t_latent_draws)} (not in the ratio)\n")

    print("| quantity | truth | Laplace mean ± MCSE | latent mean ± MCSE | bulk ESS (L / W) | |Δ| / MCSE |")
    print("|---|---|---|---|---|---|")
    for k in HYPER:
        (ml, el, bl), (mw, ew, bw) = s_l[k], s_w[k]
        z = abs(ml - mw) / np.hypot(el, ew)
        print(f"| {k} | {TRUE[k]} | {ml:.4f} ± {el:.4f} | {mw:.4f} ± {ew:.4f} | {bl:.0f} / {bw:.0f} | {z:.2f} |")
    (ml, el, _), (mw, ew, _) = s_l["f"], s_w["f"]
    z = np.abs(ml - mw) / np.hypot(el, ew)
    print(f"| f ({args.n} points), Laplace Gaussian | — | — | — | — | max {z.max():.2f}, median {np.median(z):.2f}, "
          f"{np.mean(z > 2):.1%} > 2, {np.mean(z > 3):.1%} > 3 |")
    if f_c is not None:
        mc, ec, _ = summarise(fit_l, f_c)["f"]
        zc = np.abs(mc - mw) / np.hypot(ec, ew)
        print(f"| f, Laplace + {args.correction} NUTS steps per draw | — | — | — | — | max {zc.max():.2f}, "
              f"median {np.median(zc):.2f}, {np.mean(zc > 2):.1%} > 2, {np.mean(zc > 3):.1%} > 3 |")
    print(f"\nmax |Δ mean f| = {np.max(np.abs(ml - mw)):.4f} (posterior sd of f ~ {np.median(f_w.std(0)):.3f}); "
          f"RMSE to true f: Laplace {np.sqrt(np.mean((ml - f_true) ** 2)):.4f}, "
          f"latent {np.sqrt(np.mean((mw - f_true) ** 2)):.4f}")
    print("Under N(0,1) errors, the max of |z| over n coordinates is ~3-3.5 and ~4.6% exceed 2.")


if __name__ == "__main__":
    main()
