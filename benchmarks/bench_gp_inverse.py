"""Where bayeskern's GP gradient spends its time: the K⁻¹ in the custom VJP, and cheaper ways to form it.

bayeskern's analytic gradient (``bayeskern/linalg/gaussian.py``) needs
``K⁻¹ = L⁻ᵀ L⁻¹``; ``inverse_from_cholesky`` forms it as

    Linv = solve_triangular(L, I)        # TRSM, n³ flops
    Kinv = Linv.T @ Linv                 # dense GEMM, 2n³ flops (ignores the triangles)

i.e. 3n³ flops = 9 Cholesky-equivalents of flops (a Cholesky is n³/3).
Candidates measured here (same inputs, results checked against NumPy):

  two_trsm   Kinv = solve_triangular(L, Linv, trans="T")  (= cho_solve(L, I)), 2n³ flops
  recursive  blocked triangular inverse + LᵀL product by 2×2 recursion down to
             256×256 leaves (LAPACK trtri/lauum in pure JAX): ≈ 4n³/3 flops, all GEMM

Rows: one Cholesky; each K⁻¹ variant from L; and the full bayeskern
value_and_grad (RBF, d = 1) with ``bayeskern.linalg.gaussian.inverse_from_cholesky``
monkeypatched to each variant (bayeskern itself is not modified). Interleaved
rounds, medians, ratios as medians of per-round ratios.

Usage:
  python benchmarks/bench_gp_inverse.py [--quick] [--sizes 1000,2000] [--repeats R] [--threads N]
"""

from __future__ import annotations

import argparse
import sys

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.scipy.linalg import solve_triangular  # noqa: E402

import bayeskern  # noqa: E402,F401
import bayeskern.linalg.gaussian as bk_gaussian  # noqa: E402
from _bench_util import environment_report, fmt_s, fmt_x, interleaved, median, round_ratio  # noqa: E402
from bayeskern.linalg.triangular import inverse_from_cholesky as current_inverse  # noqa: E402

jax.config.update("jax_enable_x64", True)
LEAF = 256


def two_trsm_inverse(L):
    """``K⁻¹ = L⁻ᵀ (L⁻¹ I)`` by two triangular solves."""
    Linv = solve_triangular(L, jnp.eye(L.shape[-1], dtype=L.dtype), lower=True)
    return solve_triangular(L, Linv, lower=True, trans="T")


def _tri_inv(L):
    n = L.shape[0]
    if n <= LEAF:
        return solve_triangular(L, jnp.eye(n, dtype=L.dtype), lower=True)
    h = n // 2
    Ai, Ci = _tri_inv(L[:h, :h]), _tri_inv(L[h:, h:])
    lower_left = -(Ci @ (L[h:, :h] @ Ai))
    return jnp.block([[Ai, jnp.zeros((h, n - h), L.dtype)], [lower_left, Ci]])


def _lower_gram(M):
    """``Mᵀ M`` for lower-triangular ``M``."""
    n = M.shape[0]
    if n <= LEAF:
        return M.T @ M
    h = n // 2
    P, Q, R = M[:h, :h], M[h:, :h], M[h:, h:]
    top_left = _lower_gram(P) + Q.T @ Q
    lower_left = R.T @ Q
    return jnp.block([[top_left, lower_left.T], [lower_left, _lower_gram(R)]])


def recursive_inverse(L):
    """``K⁻¹ = (L⁻¹)ᵀ L⁻¹`` with a blocked triangular inverse and triangular product."""
    return _lower_gram(_tri_inv(L))


VARIANTS = {"current": current_inverse, "two_trsm": two_trsm_inverse, "recursive": recursive_inverse}


def bk_value_and_grad(variant, X, y):
    """jit(value_and_grad) of bayeskern's GP log_prob with the K⁻¹ routine swapped in at trace time."""
    from bayeskern.gp import GaussianProcess
    from bayeskern.kernels import RBF

    def f(theta):
        k = RBF(lengthscale=jnp.exp(theta[0]), variance=jnp.exp(theta[1]))
        return GaussianProcess(k, X, noise=jnp.exp(theta[2])).log_prob(y)

    theta = jnp.log(jnp.array([1.3, 1.5, 0.1]))
    bk_gaussian.inverse_from_cholesky = VARIANTS[variant]
    try:
        compiled = jax.jit(jax.value_and_grad(f)).lower(theta).compile()
    finally:
        bk_gaussian.inverse_from_cholesky = current_inverse
    return compiled, theta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", type=str, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="pin XLA and BLAS to N threads (default 1; 0 = defaults)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([600] if args.quick else [1000, 2000, 4000])
    print("# bench_gp_inverse: cost of K⁻¹ in bayeskern's analytic GP gradient, and alternatives")
    print(environment_report(THREADS))
    rows = []
    for n in sizes:
        R = args.repeats or (5 if n <= 2000 else 3)
        rng = np.random.default_rng(0)
        X = jnp.asarray(rng.uniform(0, 10, (n, 1)))
        y = jnp.asarray(np.sin(X[:, 0]) + 0.3 * rng.standard_normal(n))
        d2 = (X - X.T) ** 2
        K = 1.5 * jnp.exp(-0.5 * d2 / 1.3**2) + 0.1 * jnp.eye(n)
        L = jnp.linalg.cholesky(K)
        ref = np.linalg.inv(np.asarray(K))
        methods = {"cholesky": (jax.jit(jnp.linalg.cholesky).lower(K).compile(), (K,))}
        for name, fn in VARIANTS.items():
            c = jax.jit(fn).lower(L).compile()
            err = float(np.max(np.abs(np.asarray(c(L)) - ref)) / np.max(np.abs(ref)))
            print(f"n={n}: K⁻¹ via {name:9s} max rel error vs numpy.linalg.inv {err:.1e}")
            methods[f"Kinv:{name}"] = (c, (L,))
        grads = {}
        for name in VARIANTS:
            c, theta = bk_value_and_grad(name, X, y)
            grads[name] = jax.block_until_ready(c(theta))
            methods[f"grad:{name}"] = (c, (theta,))
        for name in VARIANTS:
            dv = abs(float(grads[name][0] - grads["current"][0]))
            dg = float(jnp.max(jnp.abs(grads[name][1] - grads["current"][1]) / jnp.abs(grads["current"][1])))
            print(f"n={n}: value_and_grad with {name:9s}: |Δlogp| {dv:.1e}, max rel Δgrad {dg:.1e}")
        for fn, a in methods.values():
            jax.block_until_ready(fn(*a))
        times = interleaved(methods, R)
        for name in methods:
            rows.append((n, name, median(times[name]), round_ratio(times, name, "cholesky")))
            print(f"n={n} {name:16s} {fmt_s(median(times[name])):>10s}  {fmt_x(round_ratio(times, name, 'cholesky')):>7s} Cholesky",
                  flush=True)
    print("\n| n | computation | time | in Cholesky units |")
    print("|---|---|---|---|")
    for n, name, t, r in rows:
        print(f"| {n} | {name} | {fmt_s(t)} | {fmt_x(r)} |")


if __name__ == "__main__":
    sys.exit(main())
