"""GP log marginal likelihood + gradient on a Cartesian grid: Kronecker back end vs dense Cholesky.

Problem: a 2-D grid of m × m points on [0, 10]², y = sin(x0) cos(x1) + 0.3 ε,
and two kernels whose Gram matrix is a Kronecker product:

  rbf_ard    RBF(lengthscale=(ℓ0, ℓ1), variance=s) (separable ARD form)
  m32xrbf    s · Matern32(ℓ0, active_dims=[0]) · RBF(ℓ1, active_dims=[1])

For each, jit(value_and_grad) of GaussianProcess(..., structure="kronecker").log_prob(y)
w.r.t. the log-hyperparameters (ℓ0, ℓ1, s, noise) is timed on the big grid
(256 × 256 = 65,536 points; --quick: 64 × 64), median over rounds. In the
same run the Kronecker value and gradient are checked against the dense
back end on a 32 × 32 grid (n = 1024), whose timings are printed as well.
Inside jit the inputs are traced, so the grid is passed as
grid=grid_axes(X) (found once, outside).

Usage:
  python benchmarks/bench_kronecker.py [--quick] [--threads N] [--size M] [--repeats R]
"""

from __future__ import annotations

import argparse
import time

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import bayeskern  # noqa: E402,F401  (turns on float64)
from _bench_util import environment_report, fmt_s, interleaved, median  # noqa: E402
from bayeskern.gp import GaussianProcess  # noqa: E402
from bayeskern.gp.backends.kronecker_grid import grid_axes  # noqa: E402
from bayeskern.kernels import RBF, Matern32  # noqa: E402
from bayeskern.linalg.grid import grid_points  # noqa: E402

THETA = jnp.log(jnp.array([1.3, 0.9, 1.5, 0.1]))  # log (ℓ0, ℓ1, variance, noise)


def make_problem(m: int, seed: int = 0):
    axis = np.linspace(0.0, 10.0, m)
    X = grid_points([axis, axis])
    rng = np.random.default_rng(seed)
    X = X[rng.permutation(len(X))]  # any row order
    y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.3 * rng.standard_normal(len(X))
    return X, y


def kernel(name, p):
    ls0, ls1, var = p[0], p[1], p[2]
    if name == "rbf_ard":
        return RBF(lengthscale=jnp.stack([ls0, ls1]), variance=var)
    return var * (Matern32(lengthscale=ls0, active_dims=[0]) * RBF(lengthscale=ls1, active_dims=[1]))


def value_and_grad(name, X, y, method):
    opts = {"grid": grid_axes(X)} if method == "kronecker" else {}

    def f(theta):
        p = jnp.exp(theta)
        return GaussianProcess(kernel(name, p), X, noise=p[3], structure=method, **opts).log_prob(y)

    return jax.jit(jax.value_and_grad(f))


def first_call(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="64 x 64 instead of 256 x 256")
    ap.add_argument("--size", type=int, default=None, help="grid points per axis of the big grid")
    ap.add_argument("--check-size", type=int, default=32, help="grid points per axis of the dense check")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--kernels", default="rbf_ard,m32xrbf")
    ap.add_argument("--threads", default=None, help="(read before JAX import; see _bench_util)")
    args = ap.parse_args()
    m = args.size or (64 if args.quick else 256)
    mc = args.check_size
    print(environment_report(THREADS))
    print(f"\nbig grid {m} x {m} = {m * m} points; dense check on {mc} x {mc} = {mc * mc} points; "
          f"{args.repeats} timed rounds\n")

    rows = []
    for name in args.kernels.split(","):
        # -- accuracy (and small-grid timings) against dense
        Xc, yc = make_problem(mc)
        kron_c, dense_c = value_and_grad(name, Xc, yc, "kronecker"), value_and_grad(name, Xc, yc, "dense")
        (vk, gk), ck = first_call(kron_c, THETA)
        (vd, gd), cd = first_call(dense_c, THETA)
        err_v, err_g = abs(float(vk - vd)) / abs(float(vd)), rel(gk, gd)
        tc = interleaved({"kron": (kron_c, (THETA,)), "dense": (dense_c, (THETA,))}, args.repeats)
        # -- the big grid
        X, y = make_problem(m)
        kron_b = value_and_grad(name, X, y, "kronecker")
        (vb, gb), cb = first_call(kron_b, THETA)
        tb = interleaved({"kron": (kron_b, (THETA,))}, args.repeats)
        assert np.isfinite(float(vb)) and np.all(np.isfinite(np.asarray(gb)))
        rows.append((name, mc * mc, median(tc["kron"]), median(tc["dense"]), err_v, err_g, m * m,
                     median(tb["kron"]), cb, float(vb)))
        print(f"{name}: check n={mc * mc}: log p kron {float(vk):.10f} dense {float(vd):.10f}; "
              f"grad kron {np.asarray(gk)} dense {np.asarray(gd)}")
        print(f"{name}: big n={m * m}: log p {float(vb):.6f}, grad {np.asarray(gb)}; "
              f"first call (compile + run) {fmt_s(cb)}; all rounds {[round(t, 3) for t in tb['kron']]}")

    print("\n| kernel | check n | kron (check) | dense (check) | rel. err. value | rel. err. grad "
          "| big n | kron value+grad (big) | first call (big) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, nc, tk, td, ev, eg, nb, tbk, cb, _ in rows:
        print(f"| {name} | {nc} | {fmt_s(tk)} | {fmt_s(td)} | {ev:.1e} | {eg:.1e} | {nb} | {fmt_s(tbk)} "
              f"| {fmt_s(cb)} |")


if __name__ == "__main__":
    main()
