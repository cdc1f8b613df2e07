"""Peak memory of the exact GP log-likelihood + gradient, in units of one n×n float64 matrix.

Each measured computation runs in a fresh subprocess (same interpreter). The
child imports JAX and the libraries, creates the data (X ``(n, 1)``, y, RBF
hyperparameters), compiles the function ahead of time, then reads
``ru_maxrss`` (the baseline), runs the computation once, and reads
``ru_maxrss`` again. Reported: ``(peak - baseline) / (8 n²)`` — the extra
memory the computation needed, counted in n×n float64 matrices (512 MB at
n = 8000) — plus, for reference, the same figure with compilation included
(baseline taken before compiling) and XLA's own buffer estimate from
``compiled.memory_analysis()`` (temporaries + outputs).

Rows: Cholesky of K (built from X inside the same function; the floor of any
exact method holds K and L), bayeskern value only, bayeskern value+grad,
raw-JAX autodiff value+grad, tinygp value+grad (and GPJax with --gpjax).

Usage:
  python benchmarks/bench_gp_memory.py [--quick] [--n 8000] [--gpjax] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ("cholesky", "bayeskern_value", "bayeskern", "raw", "tinygp", "gpjax")


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(method: str, n: int) -> None:
    """Runs in the subprocess: measure one computation and print a JSON line."""
    from _bench_util import configure_threads

    configure_threads()
    import jax
    import jax.numpy as jnp
    import numpy as np

    import bayeskern  # noqa: F401  (float64)

    sys.path.insert(0, HERE)
    import bench_gp_mll as B  # the same problem and method definitions as the speed benchmark

    X, y, theta = B.make_problem(1, n)
    if method == "cholesky":
        def f(theta, X, y):
            ls, var, noise = B.unpack(theta)
            K = B.raw_gram("rbf", X, ls, var) + noise * jnp.eye(X.shape[0])
            return jnp.linalg.cholesky(K)
        fn, args = jax.jit(f), (theta, X, y)
    elif method == "bayeskern_value":
        fn, args = jax.jit(B.bayeskern_mll("rbf")), (theta, X, y)
    elif method == "bayeskern":
        fn, args = jax.jit(jax.value_and_grad(B.bayeskern_mll("rbf"))), (theta, X, y)
    elif method == "raw":
        fn, args = jax.jit(jax.value_and_grad(B.raw_mll("rbf"))), (theta, X, y)
    elif method == "tinygp":
        if B.tinygp is None:
            print(json.dumps({"method": method, "error": "not installed"}))
            return
        fn, args = jax.jit(jax.value_and_grad(B.tinygp_mll("rbf", 1))), (theta, X, y)
    elif method == "gpjax":
        if B.gpx is None:
            print(json.dumps({"method": method, "error": "not installed"}))
            return
        fn, args, _ = B.gpjax_setup("rbf", X, y, theta)
    else:
        raise ValueError(method)
    jax.block_until_ready(args)
    before_compile = _maxrss_bytes()
    compiled = fn.lower(*args).compile()
    xla = {}
    try:
        ma = compiled.memory_analysis()
        xla = {"temp": int(ma.temp_size_in_bytes), "output": int(ma.output_size_in_bytes),
               "argument": int(ma.argument_size_in_bytes)}
    except Exception as e:  # noqa: BLE001
        xla = {"error": str(e)}
    baseline = _maxrss_bytes()
    rss_base = _rss_bytes()
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    wall = time.perf_counter() - t0
    peak = _maxrss_bytes()
    value = float(out[0]) if isinstance(out, tuple) else (float(out) if np.ndim(out) == 0 else None)
    del out
    print(json.dumps({
        "method": method, "n": n, "baseline": baseline, "before_compile": before_compile,
        "rss_base": rss_base, "peak": peak, "wall": wall, "xla": xla, "value": value,
        "jax": jax.__version__,
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n = 2000 (< 1 min)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--gpjax", action="store_true", help="also measure GPJax")
    ap.add_argument("--threads", type=int, default=1, help="threads per child (default 1; 0 = library default)")
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.n or (2000 if args.quick else 8000)
    if args.child:
        child(args.child, n)
        return

    sys.path.insert(0, HERE)
    from _bench_util import configure_threads, environment_report

    setting = configure_threads()
    import bayeskern  # noqa: F401  (float64, as in the children)

    print("# bench_gp_memory: peak memory of exact GP log-likelihood (+ gradient), RBF, d = 1, float64")
    print(environment_report(setting, ("numpyro", "tinygp", "gpjax")))
    mat = 8 * n * n
    print(f"n = {n}: one n×n float64 matrix = {mat / 2**20:.0f} MiB; each row is a fresh subprocess\n")
    methods = [m for m in METHODS if m != "gpjax" or args.gpjax]
    rows = []
    for m in methods:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", m, "--n", str(n), "--threads", str(args.threads)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
        elapsed = time.perf_counter() - t0
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            print(f"{m}: FAILED (rc={proc.returncode})\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(lines[-1])
        if "error" in r:
            print(f"{m}: {r['error']}")
            continue
        r["extra"] = (r["peak"] - r["baseline"]) / mat
        r["extra_incl_compile"] = (r["peak"] - r["before_compile"]) / mat
        x = r["xla"]
        r["xla_mats"] = (x["temp"] + x["output"]) / mat if "temp" in x else float("nan")
        rows.append(r)
        print(f"{m:16s} peak-baseline {r['extra']:5.2f} matrices ({(r['peak'] - r['baseline']) / 2**20:7.0f} MiB)"
              f" | incl. compile {r['extra_incl_compile']:5.2f} | XLA temp+out {r['xla_mats']:5.2f}"
              f" | baseline {r['baseline'] / 2**20:.0f} MiB | run {r['wall']:.1f} s (child total {elapsed:.0f} s)"
              f" | logp {r['value']}", flush=True)

    print("\n| computation | extra peak RSS (n×n matrices) | MiB | incl. compile | XLA temp+output | run time |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['extra']:.2f} | {(r['peak'] - r['baseline']) / 2**20:.0f} | "
              f"{r['extra_incl_compile']:.2f} | {r['xla_mats']:.2f} | {r['wall']:.1f} s |")
    by = {r["method"]: r for r in rows}
    if "bayeskern" in by:
        bk = by["bayeskern"]["extra"]
        for other in ("raw", "tinygp", "gpjax"):
            if other in by:
                print(f"{other}/bayeskern extra peak memory: {by[other]['extra'] / bk:.2f}x")
        print(f"bayeskern value+grad needs {bk:.2f} n×n matrices beyond the data "
              f"(target: a small multiple; one Cholesky of K: {by.get('cholesky', {}).get('extra', float('nan')):.2f})")


if __name__ == "__main__":
    main()
