"""Bayesian optimisation benchmark: simple regret of BO vs random search and Sobol; time per iteration; Cox BO.

Run (from the repository root)::

    python benchmarks/bench_bo.py --seeds 20 --evals 100            # the full study (hours on 2 cores)
    python benchmarks/bench_bo.py --seeds 2 --evals 50 --problems branin
    python benchmarks/bench_bo.py --timing                           # fit + acquisition time at n = 50, 100
    python benchmarks/bench_bo.py --cox --seeds 10                   # windows to find the peak intensity

Problems: Branin (d = 2), Hartmann-6, Ackley (d = 5), all minimised. For each
method and seed the simple regret ``min_{i<=t} f(x_i) − f*`` is recorded for
t = 1..evals; the script prints the median and quartiles of log10 regret at
50 and 100 evaluations and writes the per-seed curves to ``--out`` (``.npz``).
BO: ``Optimizer(acquisition="log_ei", inference="map")`` with its defaults
(Matérn-5/2 ARD, dimension-scaled lengthscale prior, Sobol initial design of
``max(4, d + 1)`` points). Regret is clipped at 1e-12 for the logarithm.
``--threads`` (default 1) pins XLA/BLAS threads (see ``_bench_util``).
"""

from __future__ import annotations

import argparse
import time

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import numpy as np
from _bench_util import environment_report
from scipy.stats import qmc

import bayeskern  # noqa: F401
from bayeskern.optimize import Optimizer
from bayeskern.optimize.test_functions import PROBLEMS


def run_bo(name, seed, evals, inference="map"):
    f, bounds, fmin = PROBLEMS[name]
    opt = Optimizer(bounds, seed=seed, acquisition="log_ei", inference=inference)
    ys = []
    for _ in range(evals):
        x = opt.ask(1)
        y = f(x)
        opt.tell(x, y)
        ys.append(float(y[0]))
    return np.minimum.accumulate(ys) - fmin


def run_random(name, seed, evals):
    f, bounds, fmin = PROBLEMS[name]
    X = np.random.default_rng(seed).uniform(bounds[:, 0], bounds[:, 1], (evals, len(bounds)))
    return np.minimum.accumulate(f(X)) - fmin


def run_sobol(name, seed, evals):
    f, bounds, fmin = PROBLEMS[name]
    U = qmc.Sobol(len(bounds), scramble=True, seed=seed).random(evals)
    return np.minimum.accumulate(f(qmc.scale(U, bounds[:, 0], bounds[:, 1]))) - fmin


def summarise(curves, evals):
    out = []
    for t in (50, 100):
        if t <= evals:
            v = np.log10(np.maximum(curves[:, t - 1], 1e-12))
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            out.append(f"@{t}: median {med:6.2f} [IQR {q1:6.2f}, {q3:6.2f}] (regret {10**med:.2e})")
    return "  ".join(out)


def regret_study(args):
    curves = {}
    for name in args.problems:
        for method in args.methods:
            rows = []
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                if method == "bo":
                    rows.append(run_bo(name, seed, args.evals))
                elif method == "random":
                    rows.append(run_random(name, seed, args.evals))
                else:
                    rows.append(run_sobol(name, seed, args.evals))
            c = np.array(rows)
            curves[f"{name}/{method}"] = c
            print(f"{name:10s} {method:7s} seeds={args.seeds:3d}  log10 regret {summarise(c, args.evals)}"
                  f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.out:
        np.savez(args.out, **curves)
        print(f"curves written to {args.out}")


def timing(args):
    """Median wall time of one ask (fit + acquisition optimisation) at n = 50 and 100, after compilation."""
    f, bounds, _ = PROBLEMS["hartmann6"]
    for inference in ("map", "nuts"):
        for n in (50, 100):
            X = qmc.Sobol(6, seed=1).random(n)
            times = []
            for rep in range(args.timing_reps + 1):
                opt = Optimizer(bounds, seed=rep, inference=inference, nuts_warmup=256, nuts_samples=256,
                                nuts_thinning=16)
                opt.tell(X, f(X))
                t0 = time.perf_counter()
                opt.ask(1)
                times.append(time.perf_counter() - t0)
            rest = times[1:]  # the first ask compiles
            print(f"time per iteration ({inference}, n = {n}): median {np.median(rest):.2f} s over {len(rest)} "
                  f"(first, with compilation: {times[0]:.1f} s)", flush=True)


def cox_study(args):
    """Windows until the posterior-median-intensity argmax is within 0.05 of the true peak: Cox-UCB vs random."""
    from bayeskern.optimize.cox import CoxSearch

    def intensity(x):
        return 20 + 400 * np.exp(-0.5 * ((x - 0.72) / 0.03) ** 2) + 150 * np.exp(-0.5 * ((x - 0.25) / 0.05) ** 2)

    res = {"ucb": [], "random": []}
    for seed in range(args.seeds):
        for method in res:
            rng = np.random.default_rng(1000 + seed)
            s = CoxSearch([[0.0, 1.0]], 0.05, acquisition="ucb", seed=seed)
            found = args.cox_budget + 1
            for k in range(1, args.cox_budget + 1):
                w = s.ask() if method == "ucb" else s.window(rng.uniform(0, 1, 1))
                lo, hi = w[0]
                n = rng.poisson(420 * (hi - lo))
                x = rng.uniform(lo, hi, n)
                s.tell(w, x[rng.uniform(size=n) < intensity(x) / 420][:, None])
                if abs(s.best()[0] - 0.72) < 0.05:
                    found = k
                    break
            res[method].append(found)
    for m, v in res.items():
        v = np.array(v)
        print(f"Cox BO ({m:6s}): windows to locate the peak: median {np.median(v):.0f} "
              f"[IQR {np.percentile(v, 25):.0f}, {np.percentile(v, 75):.0f}]; not found within "
              f"{args.cox_budget}: {(v > args.cox_budget).sum()}/{len(v)}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--evals", type=int, default=100)
    p.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    p.add_argument("--methods", nargs="+", default=["bo", "random", "sobol"], choices=["bo", "random", "sobol"])
    p.add_argument("--out", default="")
    p.add_argument("--timing", action="store_true")
    p.add_argument("--timing-reps", type=int, default=2)
    p.add_argument("--cox", action="store_true")
    p.add_argument("--cox-budget", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    print(environment_report(THREADS))
    if args.timing:
        timing(args)
    elif args.cox:
        cox_study(args)
    else:
        regret_study(args)


if __name__ == "__main__":
    main()
