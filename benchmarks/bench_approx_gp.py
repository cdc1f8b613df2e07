"""Accuracy versus time of the finite-basis GP back ends (HSGP, RFF i.i.d./orthogonal) against exact GPs.

Data: synthetic regression with fixed, known hyperparameters (no fitting, so
every method computes the same model up to its approximation):

  1-D  x ~ U(0, 10),      f(x) = sin(3x) + 0.5 sin(7x + 1),          noise var 0.05
  2-D  x ~ U(-3, 3)^2,    f(x) = sin(2 x1) cos(1.5 x2) + 0.3 x1,     noise var 0.05

Kernel: Matérn 5/2 with lengthscale 0.6 (1-D) / (0.8, 1.0) (2-D), variance 1.
Test inputs: 1000 points inside the data range.

Methods
  raw-dense   hand-written raw-JAX Cholesky baseline (log density + gradient,
              posterior mean and variance); only for n <= --dense-max.
  dense       bayeskern ``structure="dense"``; only for n <= --dense-max.
  hsgp        ``structure="hsgp"``: m and c from ``hsgp_settings`` (Riutort-Mayol
              rules with a 1 % edge tolerance), and the same c with m halved
              (and, in 1-D, doubled).
  hsgp-auto   the back end's default m and c (the rules, grown until the prior
              variance missed at the data is 2 % of the noise variance).
  rff-iid     ``structure="rff", rff_kind="iid"`` with M frequencies (2M columns).
  rff-orth    ``structure="rff", rff_kind="orthogonal"``.

Accuracy reference ("exact"): in 1-D the Kalman smoother (``structure="kalman"``,
the exact GP in O(n) for Matérn 5/2) at every n, cross-checked against the dense
back end where that runs; in 2-D the dense GP, so n > --dense-max has no
accuracy figures there. Reported against it: mean marginal KL(exact || approx)
over the test points, max |Δmean| and max |Δvar|, and |Δ log density| / n.

Times (median over --repeats interleaved rounds, compiled beforehand):
  lp+grad   value and gradient of the log density w.r.t. (lengthscale, variance, noise)
  predict   posterior mean and variance at the 1000 test points (conditioning included)
Ratios are to raw-dense in the same round where it runs, else to hsgp.

Usage:
  python benchmarks/bench_approx_gp.py [--quick] [--threads N] [--dims 1,2] [--sizes 1000,10000,100000]
                                       [--dense-max 4000] [--repeats 5] [--features 128,512]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import jax
import jax.numpy as jnp
import numpy as np

import bayeskern  # noqa: F401  (turns on float64)
from _bench_util import (
    block,
    environment_report,
    fmt_s,
    fmt_x,
    interleaved,
    median,
    round_ratio,
)
from bayeskern.features import hsgp_settings
from bayeskern.gp import GaussianProcess
from bayeskern.gp.backends import hsgp as hsgp_backend
from bayeskern.kernels import Matern52

NOISE = 0.05
N_TEST = 1000
LOG2PI = math.log(2 * math.pi)


def make_data(d: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed + 10 * d)
    if d == 1:
        X = rng.uniform(0, 10, (n, 1))
        f = np.sin(3 * X[:, 0]) + 0.5 * np.sin(7 * X[:, 0] + 1)
        Xs = np.linspace(0.05, 9.95, N_TEST)[:, None]
        ls = np.array([0.6])
    else:
        X = rng.uniform(-3, 3, (n, 2))
        f = np.sin(2 * X[:, 0]) * np.cos(1.5 * X[:, 1]) + 0.3 * X[:, 0]
        Xs = rng.uniform(-2.9, 2.9, (N_TEST, 2))
        ls = np.array([0.8, 1.0])
    y = f + math.sqrt(NOISE) * rng.normal(size=n)
    return X, y, Xs, ls


# -- the raw-JAX dense baseline ---------------------------------------------
def _matern52(X1, X2, ls, var):
    D = (X1[:, None, :] - X2[None, :, :]) / ls
    r = jnp.sqrt(jnp.maximum(jnp.sum(D * D, -1), 1e-36))
    s5 = math.sqrt(5.0) * r
    return var * (1 + s5 + s5 * s5 / 3) * jnp.exp(-s5)


def raw_logprob(theta, X, y):
    ls, var, noise = theta[:-2], theta[-2], theta[-1]
    K = _matern52(X, X, ls, var) + noise * jnp.eye(X.shape[0])
    L = jnp.linalg.cholesky(K)
    a = jax.scipy.linalg.cho_solve((L, True), y)
    return -0.5 * y @ a - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * X.shape[0] * LOG2PI


def raw_predict(theta, X, y, Xs):
    ls, var, noise = theta[:-2], theta[-2], theta[-1]
    L = jnp.linalg.cholesky(_matern52(X, X, ls, var) + noise * jnp.eye(X.shape[0]))
    Ks = _matern52(X, Xs, ls, var)
    mean = Ks.T @ jax.scipy.linalg.cho_solve((L, True), y)
    V = jax.scipy.linalg.solve_triangular(L, Ks, lower=True)
    return mean, var - jnp.sum(V * V, 0)


# -- bayeskern back ends -----------------------------------------------------
def _gp(theta, X, method, opts):
    return GaussianProcess(Matern52(lengthscale=theta[:-2], variance=theta[-2]), X, noise=theta[-1],
                           structure=method, **opts)


def bk_logprob(theta, X, y, method, opts):
    return _gp(theta, X, method, opts).log_prob(y)


def bk_predict(theta, X, y, Xs, method, opts):
    post = _gp(theta, X, method, opts).condition(y, Xs)
    return post.mean, post.variance


def methods_for(d, n, ls, dense_max, features, half_range, X):
    """name -> (method, options) for this problem; ``None`` method = the raw-JAX baseline."""
    st = hsgp_settings(half_range=half_range, lengthscale=ls, kernel="matern52", edge_tolerance=0.01)
    m, c = st.num_basis, st.boundary_factor
    # the back end's own default (rules grown until the missed prior variance is 2 % of the noise), resolved
    # outside jit where the hyperparameters are concrete
    auto = hsgp_backend.spec(GaussianProcess(Matern52(lengthscale=ls), X, noise=NOISE, structure="hsgp"))
    out = {}
    if n <= dense_max:
        out["raw-dense"] = (None, {})
        out["dense"] = ("dense", {})
    out[f"hsgp m={'x'.join(map(str, m))}"] = ("hsgp", {"num_basis": m, "boundary_factor": c})
    out[f"hsgp-auto m={'x'.join(map(str, auto.num_basis))}"] = (
        "hsgp", {"num_basis": auto.num_basis, "boundary_factor": auto.boundary_factor})
    half = tuple(max(2, v // 2) for v in m)
    out[f"hsgp m={'x'.join(map(str, half))}"] = ("hsgp", {"num_basis": half, "boundary_factor": c})
    if d == 1:  # the rules target the prior covariance; dense data resolve finer detail than that
        out[f"hsgp m={2 * m[0]}"] = ("hsgp", {"num_basis": (2 * m[0],), "boundary_factor": c})
    for M in features:
        out[f"rff-iid M={M}"] = ("rff", {"num_features": M, "rff_kind": "iid"})
        out[f"rff-orth M={M}"] = ("rff", {"num_features": M, "rff_kind": "orthogonal"})
    return out


def accuracy(mean, var, ref_mean, ref_var):
    var = np.maximum(var, 1e-300)
    kl = 0.5 * (np.log(var / ref_var) + (ref_var + (ref_mean - mean) ** 2) / var - 1)
    return float(np.mean(kl)), float(np.max(np.abs(mean - ref_mean))), float(np.max(np.abs(var - ref_var)))


def run_case(d, n, args, features):
    X, y, Xs, ls = make_data(d, n)
    theta = jnp.asarray(np.concatenate([ls, [1.0, NOISE]]))
    Xj, yj, Xsj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(Xs)
    half_range = 0.5 * (X.max(0) - X.min(0))
    meths = methods_for(d, n, ls, args.dense_max, features, half_range, X)

    # exact reference (not timed)
    ref, ref_name = None, None
    if d == 1:
        ref_lp = float(bk_logprob(theta, Xj, yj, "kalman", {}))
        ref = tuple(np.asarray(v) for v in bk_predict(theta, Xj, yj, Xsj, "kalman", {})) + (ref_lp,)
        ref_name = "kalman"
    elif n <= args.dense_max:
        ref_lp = float(raw_logprob(theta, Xj, yj))
        ref = tuple(np.asarray(v) for v in raw_predict(theta, Xj, yj, Xsj)) + (ref_lp,)
        ref_name = "dense"

    lp_fns, pred_fns, rows = {}, {}, {}
    for name, (method, opts) in meths.items():
        if method is None:
            lp_f = jax.jit(jax.value_and_grad(raw_logprob))
            pr_f = jax.jit(raw_predict)
        else:
            lp_f = jax.jit(jax.value_and_grad(lambda t, X_, y_, m=method, o=opts: bk_logprob(t, X_, y_, m, o)))
            pr_f = jax.jit(lambda t, X_, y_, Xs_, m=method, o=opts: bk_predict(t, X_, y_, Xs_, m, o))
        lp, _ = block(lp_f(theta, Xj, yj))  # compile
        mean, var = block(pr_f(theta, Xj, yj, Xsj))
        lp_fns[name] = (lp_f, (theta, Xj, yj))
        pred_fns[name] = (pr_f, (theta, Xj, yj, Xsj))
        if ref is not None:
            kl, dm, dv = accuracy(np.asarray(mean), np.asarray(var), ref[0], ref[1])
            rows[name] = (kl, dm, dv, abs(float(lp) - ref[2]) / n)
        else:
            rows[name] = (math.nan,) * 4
    t_lp = interleaved(lp_fns, args.repeats)
    t_pr = interleaved(pred_fns, args.repeats)
    base = "raw-dense" if "raw-dense" in meths else next(k for k in meths if k.startswith("hsgp"))
    print(f"\n## d={d}, n={n}  (accuracy reference: {ref_name or 'none (no exact GP at this size)'};"
          f" ratios to {base})")
    print(f"{'method':<18} {'KL/pt':>10} {'max|Δmean|':>11} {'max|Δvar|':>10} {'|Δlp|/n':>9} "
          f"{'lp+grad':>10} {'ratio':>7} {'predict':>10} {'ratio':>7}")
    for name in meths:
        kl, dm, dv, dlp = rows[name]
        f = (lambda v: "—" if math.isnan(v) else f"{v:.2e}")
        print(f"{name:<18} {f(kl):>10} {f(dm):>11} {f(dv):>10} {f(dlp):>9} "
              f"{fmt_s(median(t_lp[name])):>10} {fmt_x(round_ratio(t_lp, name, base)):>7} "
              f"{fmt_s(median(t_pr[name])):>10} {fmt_x(round_ratio(t_pr, name, base)):>7}")
    if d == 1 and "dense" in meths:
        m_d, v_d = (np.asarray(v) for v in pred_fns["raw-dense"][0](*pred_fns["raw-dense"][1]))
        print(f"(check: kalman vs raw-dense max|Δmean| {np.abs(m_d - ref[0]).max():.1e}, "
              f"max|Δvar| {np.abs(v_d - ref[1]).max():.1e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 1000, 10000 and 2 repeats")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dims", default="1,2")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--dense-max", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--features", default="128,512", help="RFF frequencies M (2M columns)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.repeats = [s for s in sizes if s <= 10000], 2
    features = [int(s) for s in args.features.split(",")]
    print(environment_report(THREADS, ("numpyro",)))
    print("kernel: Matern52, fixed hyperparameters; times are medians over", args.repeats, "rounds")
    for d in (int(s) for s in args.dims.split(",")):
        for n in sizes:
            run_case(d, n, args, features)


if __name__ == "__main__":
    main()
