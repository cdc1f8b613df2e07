"""Bayesian quadrature on the Genz test families vs Monte Carlo and scrambled Sobol.

Relative error |estimate - truth| / |truth| against the number of evaluations
n, medians over seeds (each seed redraws the Genz offsets u and the random
designs), BQ z-scores (error / posterior sd) and wall time per BQ fit. BQ:
RBF with ARD, MAP hyperparameters (``bayeskern.quadrature.fit_kernel``), a
flat-prior-free constant offset, on a scrambled-Sobol design.

Also the 1-D integrand exp(-x² - sin²(3x)) on [-3, 3] with 20 points chosen
by integral-variance reduction (the Emukit tutorial's example).

Run: ``python benchmarks/bench_quadrature.py [--quick] [--threads N] [--dims 1,2] [--ns 16,64]
[--seeds 3] [--families gaussian,oscillatory]``.
"""

from __future__ import annotations

import itertools
import math
import sys
import time

from _bench_util import configure_threads, environment_report

THREADS = configure_threads()

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import quad  # noqa: E402
from scipy.special import erf  # noqa: E402

import bayeskern  # noqa: E402,F401
from bayeskern.quadrature import Uniform, integrate, monte_carlo, sobol  # noqa: E402

H = {"oscillatory": 9.0, "product_peak": 7.25, "corner_peak": 1.85, "gaussian": 7.03, "continuous": 20.4,
     "discontinuous": 4.3}


def genz(family, d, rng):
    """(f, exact integral over [0, 1]^d) with a_i = h / d^{1/2} and u ~ U[0, 1]^d."""
    a = np.full(d, H[family] / math.sqrt(d)) if family != "corner_peak" else np.full(d, H[family] / d)
    u = rng.random(d)
    aj, uj = jnp.asarray(a), jnp.asarray(u)
    if family == "oscillatory":
        f = lambda x: jnp.cos(2 * jnp.pi * uj[0] + jnp.sum(aj * x))  # noqa: E731
        exact = np.real(np.exp(2j * np.pi * u[0]) * np.prod((np.exp(1j * a) - 1) / (1j * a)))
    elif family == "product_peak":
        f = lambda x: jnp.prod(1.0 / (aj**-2 + (x - uj) ** 2))  # noqa: E731
        exact = np.prod(a * (np.arctan(a * (1 - u)) + np.arctan(a * u)))
    elif family == "corner_peak":
        f = lambda x: (1 + jnp.sum(aj * x)) ** (-(d + 1))  # noqa: E731
        exact = sum((-1) ** sum(v) / (1 + a @ np.array(v)) for v in itertools.product((0, 1), repeat=d))
        exact /= math.factorial(d) * np.prod(a)
    elif family == "gaussian":
        f = lambda x: jnp.exp(-jnp.sum(aj**2 * (x - uj) ** 2))  # noqa: E731
        exact = np.prod(np.sqrt(np.pi) / (2 * a) * (erf(a * (1 - u)) + erf(a * u)))
    elif family == "continuous":
        f = lambda x: jnp.exp(-jnp.sum(aj * jnp.abs(x - uj)))  # noqa: E731
        exact = np.prod((2 - np.exp(-a * u) - np.exp(-a * (1 - u))) / a)
    else:
        k = min(d, 2)
        f = lambda x: jnp.where(jnp.all(x[:k] <= uj[:k]), jnp.exp(jnp.sum(aj * x)), 0.0)  # noqa: E731
        w = np.where(np.arange(d) < k, u, 1.0)
        exact = np.prod((np.exp(a * w) - 1) / a)
    return f, float(exact)


def _opt(flag, default, cast=int):
    """``--flag a,b,c`` from the command line, else ``default``."""
    for i, a in enumerate(sys.argv):
        if a == flag and i + 1 < len(sys.argv):
            return tuple(cast(v) for v in sys.argv[i + 1].split(","))
    return default


def main():
    quick = "--quick" in sys.argv
    dims = _opt("--dims", (1, 2, 5) if quick else (1, 2, 3, 5, 10))
    ns = _opt("--ns", (16, 64) if quick else (16, 32, 64, 128))
    seeds = _opt("--seeds", (3,) if quick else (5,))[0]
    families = [f for f in H if f in _opt("--families", tuple(H), str)]
    print(environment_report(THREADS))
    print(f"{'family':14s} {'d':>2s} {'n':>4s} {'BQ rel err':>11s} {'MC rel err':>11s} {'Sobol rel err':>13s} "
          f"{'MC/BQ':>8s} {'|z|<2':>6s} {'med |z|':>8s} {'BQ s':>6s}")
    for family, d, n in itertools.product(families, dims, ns):
        bq, mc, qm, zs, times = [], [], [], [], []
        for s in range(seeds):
            f, exact = genz(family, d, np.random.default_rng(100 * s + d))
            meas = Uniform(np.zeros(d), np.ones(d))
            t0 = time.perf_counter()
            try:
                r = integrate(f, meas, n, design="sobol", seed=s)
                est, sd = float(r.mean), float(r.sd)
            except Exception as err:  # report, do not hide, a failed fit
                print(f"  BQ failed for {family} d={d} n={n} seed={s}: {err}")
                est, sd = np.nan, np.nan
            times.append(time.perf_counter() - t0)
            scale = abs(exact)
            bq.append(abs(est - exact) / scale)
            zs.append((est - exact) / sd if sd > 0 else np.inf)
            fx = lambda X: np.asarray([float(f(x)) for x in X])  # noqa: E731
            mc.append(abs(fx(monte_carlo(meas, n, seed=s)).mean() - exact) / scale)
            qm.append(abs(fx(sobol(meas, n, seed=s + 1000)).mean() - exact) / scale)
        b, m, q = np.nanmedian(bq), np.median(mc), np.median(qm)
        z = np.abs(np.asarray(zs))
        print(f"{family:14s} {d:2d} {n:4d} {b:11.2e} {m:11.2e} {q:13.2e} {m / b:8.1f} {np.mean(z < 2):6.2f} "
              f"{np.nanmedian(z):8.2f} {np.median(times):6.2f}")
    # The Emukit tutorial integrand with a 20-point IVR design.
    truth = quad(lambda x: np.exp(-x * x - np.sin(3 * x) ** 2), -3, 3, limit=200)[0]
    meas = Uniform(-3.0, 3.0, normalized=False)
    f = lambda x: jnp.exp(-x[0] ** 2 - jnp.sin(3 * x[0]) ** 2)  # noqa: E731
    t0 = time.perf_counter()
    r = integrate(f, meas, 20, design="ivr", initial=5)
    lo, hi = r.interval(0.95)
    print(f"\nexp(-x^2 - sin^2 3x) on [-3, 3], 20 IVR points: estimate {float(r.mean):.5f} +- {float(r.sd):.5f} "
          f"(95% [{lo:.5f}, {hi:.5f}]), truth {truth:.5f}, rel err {abs(float(r.mean) - truth) / truth:.2e}, "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
