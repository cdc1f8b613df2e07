"""State-space GP: log likelihood + gradient, n = 10^3 .. 10^6, against tinygp's quasiseparable solver.

Both compute the exact Matérn-5/2 log marginal likelihood and its gradient
with respect to (lengthscale, variance, noise) on the same data. Run in
the environment that has tinygp (see README.md), e.g.
``.bench-venv/bin/python benchmarks/bench_kalman.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import bayeskern  # noqa: F401  (float64)
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import Matern52


def median_time(fn, *args, repeats=5):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# Data are jit arguments for both libraries: closed-over arrays of 1e5+ points make XLA
# constant-fold sorts and gathers at compile time, which would time the compiler, not the method.
def bayeskern_vg(parallel):
    def lp(p, t, y):
        k = Matern52(lengthscale=p[0], variance=p[1])
        return GaussianProcess(k, t, noise=p[2], structure="kalman", parallel_scan=parallel).log_prob(y)

    return jax.jit(jax.value_and_grad(lp))


def tinygp_vg():
    try:
        import tinygp
    except ImportError:
        return None

    def lp(p, t, y):
        k = tinygp.kernels.quasisep.Matern52(scale=p[0], sigma=jnp.sqrt(p[1]))
        return tinygp.GaussianProcess(k, t, diag=p[2]).log_probability(y)

    return jax.jit(jax.value_and_grad(lp))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="n up to 10^5")
    args = ap.parse_args()
    sizes = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} jax {jax.__version__} on {jax.devices()[0].device_kind}, "
          f"{os.cpu_count()} cores ({platform.machine()}), XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    print(f"{'n':>8} {'bayeskern seq (s)':>18} {'bk parallel (s)':>16} {'tinygp qsep (s)':>16} {'tinygp/bk':>10}")
    rng = np.random.default_rng(0)
    p = jnp.array([1.3, 0.7, 0.05])
    for n in sizes:
        t = np.sort(rng.uniform(0.0, n / 10.0, n))
        y = np.sin(t) + 0.2 * rng.standard_normal(n)
        reps = 5 if n <= 10**5 else 3
        t, y = jnp.asarray(t), jnp.asarray(y)
        f_seq = bayeskern_vg(False)
        v_seq = f_seq(p, t, y)
        t_seq = median_time(f_seq, p, t, y, repeats=reps)
        f_par = bayeskern_vg(True)
        np.testing.assert_allclose(f_par(p, t, y)[0], v_seq[0], rtol=1e-7)
        t_par = median_time(f_par, p, t, y, repeats=reps)
        f_tiny = tinygp_vg()
        if f_tiny is None:
            t_tiny, ratio = float("nan"), "n/a"
        else:
            v_tiny = f_tiny(p, t, y)
            # Same quantity: values and gradients agree before timing.
            np.testing.assert_allclose(v_tiny[0], v_seq[0], rtol=1e-6)
            np.testing.assert_allclose(v_tiny[1], v_seq[1], rtol=1e-5)
            t_tiny = median_time(f_tiny, p, t, y, repeats=reps)
            ratio = f"{t_tiny / t_seq:.2f}"
        print(f"{n:>8} {t_seq:>18.4f} {t_par:>16.4f} {t_tiny:>16.4f} {ratio:>10}", flush=True)
    print("# target: value+grad at n=1e5 under 1 s on 2 cores, linear growth; tinygp/bk >= 1")


if __name__ == "__main__":
    main()
