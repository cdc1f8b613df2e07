"""Exact GP log marginal likelihood + gradient: bayeskern vs one Cholesky, raw JAX, tinygp, GPJax.

For each kernel (RBF, Matern52), input dimension d (1, and 3 with ARD
lengthscales) and size n, every method computes the same quantity

    log N(y | 0, K_θ(X, X) + (noise + jitter) I)  and its gradient w.r.t.
    all hyperparameters (lengthscale(s), variance, noise),

in float64, on the same X, y and hyperparameter values. bayeskern adds a
relative jitter of 1e-10 · mean(diag K_y); the peers are given the same
jitter as an absolute value so the matrices are identical. Values and
gradients (converted to log-hyperparameters) are checked against the raw-JAX
baseline before anything is timed.

Rows:
  cholesky   one jitted Cholesky of the same n×n matrix (the reference unit)
  bayeskern  jit(value_and_grad) of GaussianProcess(kernel, X, noise, structure="dense").log_prob(y)
             (custom VJP: ½(ααᵀ − K⁻¹) pushed through the kernel; "dense" is
             forced because "auto" picks the Kalman back end for 1-D Matérn at n ≥ 1000)
  raw        hand-written JAX: K by broadcasting, jnp.linalg.cholesky,
             cho_solve, reverse-mode autodiff through everything
  tinygp     tinygp.GaussianProcess(kernel, X, diag=...).log_probability(y)
  gpjax      gpjax.objectives.conjugate_mll, gradient w.r.t. the model's
             (softplus-unconstrained) parameters via eqx.partition, as
             gpjax.fit_scipy does

Timing: all methods for one (kernel, d, n) are compiled and warmed up, then
timed round-robin in the same process (order rotated per round); times are
medians over rounds; ratios are medians of the per-round ratios.

Usage:
  python benchmarks/bench_gp_mll.py [--quick] [--threads N] [--sizes 500,1000] [--repeats R]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import bayeskern  # noqa: E402,F401  (turns on float64)
from _bench_util import environment_report, fmt_s, fmt_x, interleaved, median, round_ratio  # noqa: E402
from bayeskern.gp import GaussianProcess  # noqa: E402
from bayeskern.kernels import RBF, Matern52  # noqa: E402

jax.config.update("jax_enable_x64", True)

try:
    import tinygp  # noqa: E402
except Exception as e:  # noqa: BLE001
    tinygp = None
    TINYGP_ERR = f"{type(e).__name__}: {e}"
try:
    import equinox as eqx  # noqa: E402  (gpjax 1.0 is built on equinox/paramax)
    import gpjax as gpx  # noqa: E402
except Exception as e:  # noqa: BLE001
    gpx = None
    GPJAX_ERR = f"{type(e).__name__}: {e}"

DENSE = "dense"
REL_JITTER = 1e-10  # bayeskern.linalg.cholesky.default_jitter(float64)
LOG2PI = math.log(2 * math.pi)
SQRT5 = math.sqrt(5.0)


# -- problem ---------------------------------------------------------------
def make_problem(d: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 10.0, size=(n, d))
    y = np.sin(X).sum(axis=1) + 0.3 * rng.standard_normal(n)
    ls = np.array(1.3) if d == 1 else np.array([1.0, 1.5, 2.0])[:d]
    theta = {
        "log_ls": jnp.log(jnp.asarray(ls)),
        "log_var": jnp.log(jnp.asarray(1.5)),
        "log_noise": jnp.log(jnp.asarray(0.1)),
    }
    return jnp.asarray(X), jnp.asarray(y), theta


def unpack(theta):
    return jnp.exp(theta["log_ls"]), jnp.exp(theta["log_var"]), jnp.exp(theta["log_noise"])


# -- bayeskern ---------------------------------------------------------------
def bayeskern_mll(kernel_name):
    Kern = {"rbf": RBF, "matern52": Matern52}[kernel_name]

    def f(theta, X, y):
        ls, var, noise = unpack(theta)
        # structure="dense" explicitly: "auto" switches 1-D Matérn to the Kalman back end at
        # n >= 1000, which is a different algorithm from the dense peers compared here.
        gp = GaussianProcess(Kern(lengthscale=ls, variance=var), X, noise=noise, structure=DENSE)
        return gp.log_prob(y)

    return f


# -- raw JAX ---------------------------------------------------------------
def raw_gram(kernel_name, X, ls, var):
    diff = (X[:, None, :] - X[None, :, :]) / ls
    r2 = jnp.sum(diff * diff, axis=-1)
    if kernel_name == "rbf":
        return var * jnp.exp(-0.5 * r2)
    pos = r2 > 0
    r = jnp.where(pos, jnp.sqrt(jnp.where(pos, r2, 1.0)), 0.0)  # finite gradient at r = 0
    s = SQRT5 * r
    return var * (1.0 + s + s * s / 3.0) * jnp.exp(-s)


def raw_mll(kernel_name):
    def f(theta, X, y):
        ls, var, noise = unpack(theta)
        n = y.shape[0]
        jitter = REL_JITTER * (var + noise)  # = bayeskern's relative jitter for a stationary kernel
        K = raw_gram(kernel_name, X, ls, var) + (noise + jitter) * jnp.eye(n)
        L = jnp.linalg.cholesky(K)
        alpha = jax.scipy.linalg.cho_solve((L, True), y)
        return -0.5 * y @ alpha - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * n * LOG2PI

    return f


# -- tinygp ----------------------------------------------------------------
def tinygp_mll(kernel_name, d):
    from tinygp import kernels, transforms
    from tinygp.kernels.distance import L2Distance

    def f(theta, X, y):
        ls, var, noise = unpack(theta)
        if d == 1:
            base = kernels.ExpSquared(scale=ls) if kernel_name == "rbf" else kernels.Matern52(scale=ls)
        else:  # ARD: scale the inputs; Matern52 must use the Euclidean (not default L1) distance
            inner = kernels.ExpSquared() if kernel_name == "rbf" else kernels.Matern52(distance=L2Distance())
            base = transforms.Linear(1.0 / ls, inner)
        jitter = REL_JITTER * (var + noise)
        gp = tinygp.GaussianProcess(var * base, X, diag=noise + jitter)
        return gp.log_probability(y)

    return f


# -- GPJax -----------------------------------------------------------------
def gpjax_setup(kernel_name, X, y, theta):
    """(jitted value_and_grad over the model's arrays, params, to_log_grad) for GPJax."""
    ls, var, noise = (np.asarray(v) for v in unpack(theta))
    Kern = {"rbf": gpx.kernels.RBF, "matern52": gpx.kernels.Matern52}[kernel_name]
    kernel = Kern(lengthscale=jnp.asarray(ls), variance=jnp.asarray(var))
    jitter = float(REL_JITTER * (var + noise))
    prior = gpx.gps.Prior(mean_function=gpx.mean_functions.Zero(), kernel=kernel, jitter=jitter)
    likelihood = gpx.likelihoods.Gaussian(obs_stddev=jnp.sqrt(jnp.asarray(noise)))
    model = prior * likelihood
    params, static = eqx.partition(model, eqx.is_array)

    def mll(params, X, y2):
        # The Dataset is built inside the trace (its pytree unflattening does not accept
        # the placeholders jit(...).lower uses).
        return gpx.objectives.conjugate_mll(eqx.combine(params, static), gpx.Dataset(X=X, y=y2))

    vg = jax.jit(jax.value_and_grad(mll))

    def to_log_grad(grads):
        """Gradient w.r.t. softplus-unconstrained u -> gradient w.r.t. log-hyperparameters."""
        g = grads.prior.kernel
        out = {}
        for key, p_obj, g_obj in (("log_ls", model.prior.kernel.lengthscale, g.lengthscale),
                                  ("log_var", model.prior.kernel.variance, g.variance)):
            u = p_obj._unconstrained
            out[key] = g_obj._unconstrained * jax.nn.softplus(u) / jax.nn.sigmoid(u)
        u = model.likelihood.obs_stddev._unconstrained
        g_s = grads.likelihood.obs_stddev._unconstrained * jax.nn.softplus(u) / jax.nn.sigmoid(u)
        out["log_noise"] = 0.5 * g_s  # noise = s², d/dlog noise = ½ d/dlog s
        return out

    return vg, (params, X, y[:, None]), to_log_grad


# -- driver ------------------------------------------------------------------
def max_rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def grad_rel(g, g_ref):
    return max(max_rel(g[k], g_ref[k]) for k in g_ref)


def run_case(kernel_name, d, n, repeats, rows):
    X, y, theta = make_problem(d, n)
    methods = {}
    check = {}
    first = {}

    # Reference Cholesky of the same matrix.
    ls, var, noise = unpack(theta)
    K_y = raw_gram(kernel_name, X, ls, var) + (noise + REL_JITTER * (var + noise)) * jnp.eye(n)
    K_y = jax.block_until_ready(K_y)
    chol = jax.jit(jnp.linalg.cholesky)
    methods["cholesky"] = (chol, (K_y,))

    bk = jax.jit(jax.value_and_grad(bayeskern_mll(kernel_name)))
    methods["bayeskern"] = (bk, (theta, X, y))
    raw = jax.jit(jax.value_and_grad(raw_mll(kernel_name)))
    methods["raw"] = (raw, (theta, X, y))
    if tinygp is not None:
        tg = jax.jit(jax.value_and_grad(tinygp_mll(kernel_name, d)))
        methods["tinygp"] = (tg, (theta, X, y))
    gp_to_log = None
    if gpx is not None:
        vg, args, gp_to_log = gpjax_setup(kernel_name, X, y, theta)
        methods["gpjax"] = (vg, args)

    # Compile ahead of time (so no timed call includes compilation), warm up at small n
    # (at large n a warm-up call costs as much as a timed round and buys nothing), check.
    methods = {name: (fn.lower(*args).compile(), args) for name, (fn, args) in methods.items()}
    outs = {}
    if n < 2000:
        for name, (fn, args) in methods.items():
            outs[name] = jax.block_until_ready(fn(*args))
    else:
        for name, (fn, args) in methods.items():
            t0 = time.perf_counter()
            outs[name] = jax.block_until_ready(fn(*args))
            first[name] = time.perf_counter() - t0
    v_ref, g_ref = outs["raw"]
    lines = []
    for name in ("bayeskern", "tinygp", "gpjax"):
        if name not in outs:
            continue
        v, g = outs[name]
        if name == "gpjax":
            g = gp_to_log(g)
        dv = abs(float(v) - float(v_ref))
        rel_v = dv / abs(float(v_ref))
        rg = grad_rel(g, g_ref)
        ok = rel_v < 1e-6 and rg < 1e-4
        check[name] = ok
        lines.append(f"{name}: |Δlogp|={dv:.2e} (rel {rel_v:.1e}), max rel Δgrad={rg:.1e} {'OK' if ok else 'MISMATCH'}")
    print(f"  check vs raw (logp={float(v_ref):.6f}): " + "; ".join(lines), flush=True)

    times = interleaved(methods, repeats - 1 if first else repeats)
    for name, t in first.items():  # the first (checked) call counts as round 1
        times[name].insert(0, t)
    med = {k: median(v) for k, v in times.items()}
    row = {
        "kernel": kernel_name, "d": d, "n": n, "repeats": repeats, **{f"t_{k}": v for k, v in med.items()},
        "bk/chol": round_ratio(times, "bayeskern", "cholesky"),
        "raw/bk": round_ratio(times, "raw", "bayeskern"),
        "tinygp/bk": round_ratio(times, "tinygp", "bayeskern"),
        "gpjax/bk": round_ratio(times, "gpjax", "bayeskern"),
        "raw/chol": round_ratio(times, "raw", "cholesky"),
        "checks_ok": all(check.values()),
    }
    rows.append(row)
    print(
        f"  {kernel_name:8s} d={d} n={n:5d} (x{repeats}): chol {fmt_s(med['cholesky'])} | bk {fmt_s(med['bayeskern'])}"
        f" | raw {fmt_s(med['raw'])} | tinygp {fmt_s(med.get('tinygp', float('nan')))}"
        f" | gpjax {fmt_s(med.get('gpjax', float('nan')))} || bk/chol {fmt_x(row['bk/chol'])}"
        f" raw/bk {fmt_x(row['raw/bk'])} tinygp/bk {fmt_x(row['tinygp/bk'])} gpjax/bk {fmt_x(row['gpjax/bk'])}",
        flush=True,
    )
    return row


def print_table(rows):
    print("\n| kernel | d | n | Cholesky | bayeskern | raw JAX | tinygp | GPJax | bk/chol (≤4) | tinygp/bk (≥2) | gpjax/bk (≥2) | raw/bk | raw/chol |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['kernel']} | {r['d']} | {r['n']} | {fmt_s(r['t_cholesky'])} | {fmt_s(r['t_bayeskern'])} | "
            f"{fmt_s(r['t_raw'])} | {fmt_s(r.get('t_tinygp', float('nan')))} | {fmt_s(r.get('t_gpjax', float('nan')))} | "
            f"{fmt_x(r['bk/chol'])} | {fmt_x(r['tinygp/bk'])} | {fmt_x(r['gpjax/bk'])} | {fmt_x(r['raw/bk'])} | "
            f"{fmt_x(r['raw/chol'])} |"
        )
    def verdict(key, ok):
        vals = [r[key] for r in rows if r[key] == r[key]]
        if not vals:
            return f"{key}: not measured"
        met = sum(ok(v) for v in vals)
        return f"{key}: target met in {met}/{len(vals)} cases (range {min(vals):.2f}x - {max(vals):.2f}x)"
    print()
    print(verdict("bk/chol", lambda v: v <= 4.0))
    print(verdict("tinygp/bk", lambda v: v >= 2.0))
    print(verdict("gpjax/bk", lambda v: v >= 2.0))
    print(f"all value/gradient checks passed: {all(r['checks_ok'] for r in rows)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, < 1 min")
    ap.add_argument("--threads", type=int, default=1,
                    help="pin XLA and BLAS to N threads (default 1; 0 = library defaults, all cores)")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated n values")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per case (default by n)")
    ap.add_argument("--kernels", type=str, default="rbf,matern52")
    ap.add_argument("--dims", type=str, default="1,3")
    args = ap.parse_args()

    print("# bench_gp_mll: exact GP log marginal likelihood + gradient (float64)")
    print(environment_report(THREADS, ("numpyro", "tinygp", "gpjax", "equinox")))
    if tinygp is None:
        print(f"tinygp: not installed ({TINYGP_ERR})")
    if gpx is None:
        print(f"gpjax: not installed ({GPJAX_ERR})")
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [300] if args.quick else [500, 1000, 2000, 4000]

    def repeats_for(n):
        if args.repeats:
            return args.repeats
        if args.quick:
            return 7
        return {500: 15, 1000: 9, 2000: 4}.get(n, 2)

    rows = []
    for kernel_name in args.kernels.split(","):
        for d in (int(x) for x in args.dims.split(",")):
            for n in sizes:
                run_case(kernel_name, d, n, repeats_for(n), rows)
    print_table(rows)


if __name__ == "__main__":
    sys.exit(main())
