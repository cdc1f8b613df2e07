"""Gram-matrix assembly: bayeskern kernels vs hand-written raw JAX.

For RBF and Matérn 5/2, input dimension d = 1 (scalar lengthscale) and d = 3
(ARD lengthscales), and n = 1000 … 8000 points, both methods build the same
float64 n×n matrix K(X, X):

  bayeskern  jax.jit(lambda X: k(X))   with k = RBF(...) / Matern52(...)
  raw        jax.jit of hand-written JAX: Xs = X / ℓ (per dimension), then
             v * exp(-0.5 * Σ_d (Xs_i - Xs_j)²) by broadcasting, and the Matérn
             analogue v (1 + √5 r + 5r²/3) exp(-√5 r) with r = jnp.sqrt(r²)

The hyperparameters are closed-over constants in both. The two matrices are
checked to agree (max relative difference printed) before anything is timed,
and the optimised XLA programs are compared op by op ("same", or the extra
ops bayeskern runs), which separates real overhead from timing noise on a
loaded machine.

Timing: both methods for one (kernel, d, n) are compiled and warmed up, then
timed round-robin in the same process (order rotated per round, each call
ended by block_until_ready); times are medians over rounds, the ratio is the
median of the per-round ratios bayeskern/raw (target: ≤ 1.1x).

Usage:
  .venv/bin/python benchmarks/bench_gram.py [--quick] [--threads N] [--sizes 1000,2000] [--repeats R]
"""

from __future__ import annotations

import argparse
import collections
import math
import re
import sys

from _bench_util import configure_threads

THREADS = configure_threads()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import bayeskern  # noqa: E402,F401  (turns on float64)
from _bench_util import environment_report, fmt_s, fmt_x, interleaved, median, round_ratio  # noqa: E402
from bayeskern.kernels import RBF, Matern52  # noqa: E402

TARGET = 1.1
SQRT5 = math.sqrt(5.0)


def hyperparameters(d):
    ls = 0.7 if d == 1 else np.array([0.7, 1.3, 2.1])[:d]
    return jnp.asarray(ls), jnp.asarray(1.7)


def raw_sqdist(X, ls):
    # Scale first (n·d divisions, not n²·d): the strongest simple hand-written form.
    Xs = X / ls
    diff = Xs[:, None, :] - Xs[None, :, :]
    return jnp.sum(diff * diff, axis=-1)


def raw_rbf(X, ls, v):
    return v * jnp.exp(-0.5 * raw_sqdist(X, ls))


def raw_matern52(X, ls, v):
    r2 = raw_sqdist(X, ls)
    s = SQRT5 * jnp.sqrt(r2)
    return v * (1.0 + s + 5.0 / 3.0 * r2) * jnp.exp(-s)


KERNELS = {"rbf": (RBF, raw_rbf), "matern52": (Matern52, raw_matern52)}


def op_counts(fn, X):
    """Opcode counts of the optimised XLA program (compiled, not timed)."""
    text = fn.lower(X).compile().as_text()
    return collections.Counter(re.findall(r"=\s*\S+\s+([a-z][\w-]*)\(", text))


def op_difference(fn_a, fn_b, X):
    """``"same"`` when both compile to the same operations, else the extra ops of ``fn_a`` (``+2 select``)."""
    a, b = op_counts(fn_a, X), op_counts(fn_b, X)
    if a == b:
        return "same"
    more, less = a - b, b - a
    return ", ".join([f"+{v} {k}" for k, v in sorted(more.items())] + [f"-{v} {k}" for k, v in sorted(less.items())])


def run_case(kernel_name, d, n, repeats, rows):
    family, raw = KERNELS[kernel_name]
    ls, v = hyperparameters(d)
    k = family(lengthscale=ls, variance=v)
    X = jnp.asarray(np.random.default_rng(n + d).uniform(0.0, 10.0, (n, d)))
    methods = {
        "bayeskern": (jax.jit(lambda A: k(A)), (X,)),
        "raw": (jax.jit(lambda A: raw(A, ls, v)), (X,)),
    }
    # Compile, warm up, and check both compute the same matrix.
    outs = {name: jax.block_until_ready(fn(*args)) for name, (fn, args) in methods.items()}
    for fn, args in methods.values():
        jax.block_until_ready(fn(*args))
    err = float(jnp.max(jnp.abs(outs["bayeskern"] - outs["raw"])) / jnp.max(jnp.abs(outs["raw"])))
    del outs
    ok = err < 1e-12
    ops = op_difference(methods["bayeskern"][0], methods["raw"][0], X)
    times = interleaved(methods, repeats)
    row = dict(
        kernel=kernel_name, d=d, n=n, repeats=repeats, err=err, ok=ok,
        bk=median(times["bayeskern"]), raw=median(times["raw"]),
        ratio=round_ratio(times, "bayeskern", "raw"), ops=ops,
    )
    rows.append(row)
    print(
        f"  {kernel_name:9s} d={d} n={n:5d}: bayeskern {fmt_s(row['bk']):>9s}  raw {fmt_s(row['raw']):>9s}  "
        f"ratio {fmt_x(row['ratio'])}  (rounds {repeats}, max rel diff {err:.1e}, XLA ops vs raw: {ops})",
        flush=True,
    )


def print_table(rows):
    print(f"\n| kernel | d | n | bayeskern | raw JAX | bayeskern/raw (≤{TARGET}) | max rel diff | XLA ops vs raw |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        flag = "" if r["ratio"] <= TARGET else " ✗"
        print(
            f"| {r['kernel']} | {r['d']} | {r['n']} | {fmt_s(r['bk'])} | {fmt_s(r['raw'])} | "
            f"{fmt_x(r['ratio'])}{flag} | {r['err']:.1e} | {r['ops']} |"
        )
    ratios = [r["ratio"] for r in rows]
    within = sum(x <= TARGET for x in ratios)
    print(
        f"\nbayeskern/raw: median {median(ratios):.2f}x, worst {max(ratios):.2f}x; "
        f"{within}/{len(rows)} cases within {TARGET}x"
    )
    print(f"all value checks passed: {all(r['ok'] for r in rows)}")
    print("(XLA ops 'same': both compile to the same operations, so their time ratio is 1 up to noise.)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n up to 2000 (about a minute)")
    ap.add_argument("--threads", type=int, default=1,
                    help="pin XLA and BLAS to N threads (default 1; 0 = library defaults, all cores)")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated n values")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per case (default by n)")
    ap.add_argument("--kernels", type=str, default="rbf,matern52")
    ap.add_argument("--dims", type=str, default="1,3")
    args = ap.parse_args()

    print("# bench_gram: Gram-matrix assembly K(X, X), bayeskern vs raw JAX (float64)")
    print(environment_report(THREADS))
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [1000, 2000] if args.quick else [1000, 2000, 4000, 8000]

    def repeats_for(n):
        if args.repeats:
            return args.repeats
        return {1000: 21, 2000: 11, 4000: 7}.get(n, 5)

    rows = []
    for kernel_name in args.kernels.split(","):
        for d in (int(x) for x in args.dims.split(",")):
            for n in sizes:
                run_case(kernel_name, d, n, repeats_for(n), rows)
    print_table(rows)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
