"""Bayesian quadrature on the Genz test families vs Monte Carlo, scrambled Sobol, kernel herding and kernel thinning.

Point sets first: the MMD (RBF, lengthscale 0.2·√d, closed-form kernel mean of
U[0, 1]^d) of n i.i.d., scrambled-Sobol, kernel-herding (4096 Sobol candidates)
and kernel-thinning points (KT-SPLIT + KT-SWAP of num·2^m i.i.d. points, at most
4096), medians over seeds.

Relative error |estimate - truth| / |truth| against the number of evaluations
n, medians over seeds (each seed redraws the Genz offsets u and the random
designs). BQ: the library's default kernel (``default_kernel``: Matérn 3/2, a product of
1-D factors with ARD lengthscales) plus a constant offset, MAP hyperparameters
(``bayeskern.quadrature.fit_kernel``, default priors ``bq_priors``), on a scrambled-Sobol design; z-scores
(error / posterior sd) for MAP and, at the ``--nuts d:n`` pairs, for the same
points with hyperparameters marginalised by NUTS (the integral's posterior a
mixture). Herding and thinning (KT): the equal-weight mean of f on those points
(same kernel as the MMD table; KT redrawn per seed). Markdown tables.

``--calibration``: z-scores of MAP vs NUTS-marginalised hyperparameters on the
smooth Genz families (oscillatory, product peak, corner peak, Gaussian), d = 1, 2, 3,
n = 16·d Sobol points, ``--calib-repeats`` repeats (Genz offsets and Sobol scrambling redrawn), NUTS
through ``integrate(..., hyper="nuts")`` (``bq_model`` + ``bayeskern.infer.nuts``) with small
settings; prints the fraction of |z| < 2 per cell, per d and overall, and median relative errors.
``--kernel`` and ``--prior`` pick the kernel family and lengthscale prior (default: the library's).

Then the 1-D integrand exp(-x² - sin²(3x)) on [-3, 3] (Emukit's BQ tutorial
integrand, ``hennig1D``) with 20 points chosen by integral-variance reduction:
MAP vs NUTS hyperparameters, RBF vs Matérn 5/2 vs Matérn 3/2, against the value from
``scipy.integrate.quad``.

Run: ``python benchmarks/bench_quadrature.py [--quick] [--threads N] [--dims 1,2] [--ns 16,64]
[--seeds 3] [--families gaussian,oscillatory] [--nuts 1:16,2:32] [--emukit-seeds 3]
[--emukit-kernels rbf,matern52,matern32] [--no-mmd] [--no-genz]
[--no-emukit]``; calibration only: ``python benchmarks/bench_quadrature.py --calibration --threads 1
[--calib-dims 1,2,3] [--calib-ns 16,32,48] [--calib-repeats 5] [--calib-first 0] [--calib-nuts 200,200,1]
[--kernel default|matern52|matern32|rbf] [--prior bq|generic] [--map-only]`` (warm-up, draws, chains; repeats
are seeds first..first+repeats-1; priors: see ``calib_priors``).
"""

from __future__ import annotations

import itertools
import math
import sys
import time

from _bench_util import configure_threads, environment_report

THREADS = configure_threads()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import quad  # noqa: E402
from scipy.special import erf  # noqa: E402

import bayeskern  # noqa: E402,F401
from bayeskern.kernels import RBF, Matern32, Matern52  # noqa: E402
from bayeskern.priors import default_priors  # noqa: E402
from bayeskern.quadrature import (  # noqa: E402
    Uniform,
    integrate,
    kernel_herding,
    kernel_thinning,
    mmd,
    monte_carlo,
    sobol,
)

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


def _z(est, sd, exact):
    return (est - exact) / sd if sd > 0 else np.inf


def _bq(f_or_data, meas, n, hyper, seed, kernel=None, **kw):
    """(estimate, sd) of one BQ run; NaNs (reported) if the fit fails."""
    try:
        r = integrate(f_or_data, meas, n, design="sobol", hyper=hyper, seed=seed, kernel=kernel, **kw)
        return float(r.mean), float(r.sd), r
    except Exception as err:  # report, do not hide, a failed fit
        print(f"  BQ ({hyper}) failed: {err}")
        return np.nan, np.nan, None


def _design_kernel(d):
    """The kernel herding and thinning minimise the MMD of (and the MMD table measures)."""
    return RBF(lengthscale=0.2 * math.sqrt(d))


_HERD, _KT = {}, {}


def _herding(d, n_max):
    """Greedy: the first n points of the longest run are the n-point design."""
    if _HERD.get(d, np.zeros((0, d))).shape[0] < n_max:
        _HERD[d] = kernel_herding(_design_kernel(d), Uniform(np.zeros(d), np.ones(d)), n_max, candidates=4096)
    return _HERD[d]


def _thinning(d, n, seed):
    """Kernel thinning is not nested: one run per (d, n, seed)."""
    if (d, n, seed) not in _KT:
        _KT[d, n, seed] = kernel_thinning(_design_kernel(d), Uniform(np.zeros(d), np.ones(d)), n, seed=seed)
    return _KT[d, n, seed]


def mmd_table(dims, ns, seeds):
    """MMD of the equal-weight rules to U[0, 1]^d: i.i.d., Sobol, herding, kernel thinning (KT)."""
    print("\nMMD to U[0,1]^d, RBF lengthscale 0.2·sqrt(d), closed-form kernel mean; medians over seeds "
          "(herding is deterministic); KT input num·2^m i.i.d. points (m = ceil(log2 num), input <= 4096)")
    print("\n| d | n | MC | Sobol | herding | KT | KT / MC | KT / Sobol | KT / herding | KT s |")
    print("|" + "---|" * 10)
    for d, n in itertools.product(dims, ns):
        meas, k = Uniform(np.zeros(d), np.ones(d)), _design_kernel(d)
        mc = np.median([float(mmd(k, meas, monte_carlo(meas, n, seed=s))) for s in range(seeds)])
        qm = np.median([float(mmd(k, meas, sobol(meas, n, seed=s + 1000))) for s in range(seeds)])
        hd = float(mmd(k, meas, _herding(d, max(ns))[:n]))
        t0 = time.perf_counter()
        kt = np.median([float(mmd(k, meas, _thinning(d, n, s))) for s in range(seeds)])
        sec = (time.perf_counter() - t0) / seeds
        print(f"| {d} | {n} | {mc:.2e} | {qm:.2e} | {hd:.2e} | {kt:.2e} | {kt / mc:.3f} | {kt / qm:.3f} | "
              f"{kt / hd:.3f} | {sec:.2f} |", flush=True)


def genz_table(families, dims, ns, seeds, nuts_cases):
    print("\n| family | d | n | BQ-MAP rel err | MC rel err | Sobol rel err | herding rel err | KT rel err | MC/BQ | "
          "MAP \\|z\\|<2 | MAP med \\|z\\| | NUTS \\|z\\|<2 | NUTS rel err | BQ s |")
    print("|" + "---|" * 14)
    for family, d, n in itertools.product(families, dims, ns):
        meas = Uniform(np.zeros(d), np.ones(d))
        bq, mc, qm, hd, kt, zs, zn, bqn, times = [], [], [], [], [], [], [], [], []
        run_nuts = (family, d, n) in nuts_cases or ("*", d, n) in nuts_cases
        for s in range(seeds):
            f, exact = genz(family, d, np.random.default_rng(100 * s + d))
            fx = jax.jit(jax.vmap(f))
            scale = abs(exact)
            t0 = time.perf_counter()
            est, sd, r = _bq(f, meas, n, "map", s)
            times.append(time.perf_counter() - t0)
            bq.append(abs(est - exact) / scale)
            zs.append(_z(est, sd, exact))
            if run_nuts and r is not None:
                en, sn, _ = _bq((r.X, r.fX), meas, None, "nuts", s, num_warmup=300, num_samples=300, num_chains=2)
                zn.append(_z(en, sn, exact))
                bqn.append(abs(en - exact) / scale)
            mc.append(abs(float(fx(monte_carlo(meas, n, seed=s)).mean()) - exact) / scale)
            qm.append(abs(float(fx(sobol(meas, n, seed=s + 1000)).mean()) - exact) / scale)
            hd.append(abs(float(fx(_herding(d, max(ns))[:n]).mean()) - exact) / scale)
            kt.append(abs(float(fx(_thinning(d, n, s)).mean()) - exact) / scale)
        b, m, q, h = np.nanmedian(bq), np.median(mc), np.median(qm), np.median(hd)
        z = np.abs(np.asarray(zs))
        nz = f"{np.mean(np.abs(zn) < 2):.2f}" if zn else "-"
        ne = f"{np.nanmedian(bqn):.2e}" if bqn else "-"
        print(f"| {family} | {d} | {n} | {b:.2e} | {m:.2e} | {q:.2e} | {h:.2e} | {np.median(kt):.2e} | {m / b:.1f} | "
              f"{np.mean(z < 2):.2f} | "
              f"{np.nanmedian(z):.2f} | {nz} | {ne} | {np.median(times):.2f} |", flush=True)


SMOOTH = ("oscillatory", "product_peak", "corner_peak", "gaussian")


KERNELS = {"default": None, "rbf": RBF, "matern52": Matern52, "matern32": Matern32}


def _lengthscales(k):
    """All lengthscales in a kernel tree (sums, products of 1-D Matérns, the offset term has none)."""
    if hasattr(k, "k1"):
        return _lengthscales(k.k1) + _lengthscales(k.k2)
    return list(np.atleast_1d(np.asarray(k.lengthscale))) if hasattr(k, "lengthscale") else []


def _ell_map(r):
    """Geometric mean of the MAP kernel's (ARD) lengthscales."""
    return float(np.exp(np.mean(np.log(_lengthscales(r.kernel)))))


def _default_name():
    from bayeskern.quadrature.model import default_kernel

    return default_kernel(Uniform(0.0, 1.0)).__name__


def calib_priors(spec, kernel, X, y):
    """Hyperparameter priors for a calibration run: ``bq`` gives None (the library default, ``bq_priors``);
    ``generic`` gives ``bayeskern.priors.default_priors`` (lengthscale inverse gamma between the smallest
    1-D spacing and the range: the BQ default before the change)."""
    if spec == "bq":
        return None
    if spec == "generic":
        X = np.asarray(X)
        return dict(default_priors(kernel, X, y, ard=X.shape[1] > 1))
    raise SystemExit(f"--prior must be bq or generic, got {spec!r}")


def _ell_nuts(r):
    """Posterior median of the geometric-mean lengthscale."""
    L = np.asarray(r.fit.samples["f_lengthscale"])
    return float(np.median(np.exp(np.mean(np.log(L.reshape(L.shape[0], -1)), axis=1))))


def calibration(dims, ns, repeats, warmup, samples, chains, kernel="default", prior="bq", first=0, run_nuts=True):
    """|z| < 2 fractions for MAP vs NUTS-marginalised hyperparameters on the smooth Genz families."""
    kern = KERNELS[kernel]
    name = kernel if kern is not None else f"default ({_default_name()})"
    print(f"\nCalibration: smooth Genz families, n Sobol points, kernel {name} (ARD; Matérn as a product of 1-D "
          f"factors) + constant offset, lengthscale prior {prior!r}; MAP (L-BFGS) vs NUTS "
          f"({warmup} warm-up, {samples} draws, {chains} chain(s)) on the same points; z = (estimate - truth) / sd, "
          "the NUTS sd from the mixture over draws; repeats s = "
          f"{first}..{first + repeats - 1} redraw the Genz offsets u (rng 100 s + d) and the Sobol scrambling (seed s); "
          "ℓ: geometric mean of the ARD lengthscales (MAP value, NUTS posterior median)")
    print("\n| family | d | n | repeats | MAP \\|z\\|<2 | NUTS \\|z\\|<2 | MAP med \\|z\\| | NUTS med \\|z\\| | "
          "MAP med rel err | NUTS med rel err | med sd NUTS/MAP | med ℓ MAP | med ℓ NUTS | divergences | NUTS s |")
    print("|" + "---|" * 15)
    allz = {"MAP": [], "NUTS": []}
    alle = {"MAP": [], "NUTS": []}
    byd = {}
    failed = {"MAP": 0, "NUTS": 0}
    for family, (d, n) in itertools.product(SMOOTH, zip(dims, ns, strict=True)):
        meas = Uniform(np.zeros(d), np.ones(d))
        zm, zn, em, en, ratio, lm, ln, div, secs = [], [], [], [], [], [], [], 0, []
        for s in range(first, first + repeats):
            f, exact = genz(family, d, np.random.default_rng(100 * s + d))
            scale = abs(exact)
            X = sobol(meas, n, seed=s)
            y = jax.vmap(f)(X)
            priors = calib_priors(prior, kern or KERNELS[_default_name().lower()], X, y)
            est, sd, r = _bq((X, y), meas, None, "map", s, kernel=kern, priors=priors)
            if r is None:
                failed["MAP"] += 1
                continue
            zm.append(_z(est, sd, exact))
            em.append(abs(est - exact) / scale)
            lm.append(_ell_map(r))
            if not run_nuts:
                continue
            t0 = time.perf_counter()
            e2, s2, r2 = _bq((X, y), meas, None, "nuts", s, kernel=kern, priors=priors, num_warmup=warmup,
                             num_samples=samples, num_chains=chains)
            secs.append(time.perf_counter() - t0)
            if r2 is None:
                failed["NUTS"] += 1
                continue
            zn.append(_z(e2, s2, exact))
            en.append(abs(e2 - exact) / scale)
            ratio.append(s2 / sd)
            ln.append(_ell_nuts(r2))
            div += int(np.sum(r2.fit.sample_stats.get("diverging", 0)))
        # Every NUTS run compiles a new model closure; free the executables once per cell (a long run
        # otherwise exhausts the process's memory maps: "LLVM ERROR: Unable to allocate section memory").
        jax.clear_caches()
        am, an = np.abs(zm), np.abs(zn)
        for h, z, e in (("MAP", zm, em), ("NUTS", zn, en)):
            allz[h] += list(z)
            alle[h] += list(e)
            byd.setdefault(d, {"MAP": [], "NUTS": []})[h] += list(z)
        print(f"| {family} | {d} | {n} | {repeats} | {np.mean(am < 2):.2f} ({np.sum(am < 2)}/{am.size}) | "
              f"{np.mean(an < 2):.2f} ({np.sum(an < 2)}/{an.size}) | {np.median(am):.2f} | {np.median(an):.2f} | "
              f"{np.median(em):.2e} | {np.median(en):.2e} | {np.median(ratio):.2f} | {np.median(lm):.3f} | "
              f"{np.median(ln) if ln else np.nan:.3f} | {div} | {np.median(secs) if secs else np.nan:.1f} |",
              flush=True)
    print()
    for d in byd:
        print(f"d = {d}: " + ", ".join(f"{h} |z| < 2 in {np.mean(np.abs(z) < 2):.2f} ({np.sum(np.abs(z) < 2)}/{len(z)})"
                                       for h, z in byd[d].items()))
    for h, z in allz.items():
        z = np.abs(np.asarray(z))
        print(f"all: {h} |z| < 2 in {np.mean(z < 2):.2f} ({np.sum(z < 2)}/{z.size}), median |z| {np.median(z):.2f}, "
              f"|z| > 5 in {np.sum(z > 5)}; median rel err {np.median(alle[h]) if alle[h] else np.nan:.2e}; "
              f"failed fits {failed[h]} "
              "(nominal for a calibrated Gaussian: 0.95)")


def emukit(seeds, kernels=("rbf", "matern52")):
    """exp(-x² - sin²(3x)) on [-3, 3] (Lebesgue), 20 IVR points from 5 Sobol points; MAP vs NUTS, per kernel family."""
    truth, abserr = quad(lambda x: np.exp(-x * x - np.sin(3 * x) ** 2), -3, 3, limit=200, epsabs=1e-14, epsrel=1e-13)
    print(f"\nexp(-x^2 - sin^2 3x) on [-3, 3]: truth {truth:.12f} (scipy.integrate.quad, abs err {abserr:.1e}); "
          "20 points: 5 Sobol + 15 by integral-variance reduction, MAP refits every 5")
    print("\n| kernel | seed | hyper | estimate | sd | 95% interval | rel err | z | s |")
    print("|" + "---|" * 9)
    meas = Uniform(-3.0, 3.0, normalized=False)
    f = lambda x: jnp.exp(-x[0] ** 2 - jnp.sin(3 * x[0]) ** 2)  # noqa: E731
    zs = {}
    for kern, seed in itertools.product([KERNELS[k] for k in kernels], range(seeds)):
        t0 = time.perf_counter()
        r = integrate(f, meas, 20, design="ivr", initial=5, kernel=kern, seed=seed)
        runs = [("MAP", r, time.perf_counter() - t0)]
        t0 = time.perf_counter()
        rn = integrate((r.X, r.fX), meas, kernel=kern, hyper="nuts", num_warmup=500, num_samples=500, seed=seed)
        runs.append(("NUTS", rn, time.perf_counter() - t0))
        for hyper, res, sec in runs:
            lo, hi = res.interval(0.95)
            z = _z(float(res.mean), float(res.sd), truth)
            zs.setdefault((kern.__name__, hyper), []).append(z)
            print(f"| {kern.__name__} | {seed} | {hyper} | {float(res.mean):.5f} | {float(res.sd):.5f} | "
                  f"[{lo:.5f}, {hi:.5f}] | {abs(float(res.mean) - truth) / truth:.2e} | {z:.2f} | {sec:.1f} |",
                  flush=True)
    for (k, hyper), z in zs.items():
        print(f"{k} {hyper}: |z| < 2 in {np.mean(np.abs(z) < 2):.2f} of {len(z)} designs, median |z| "
              f"{np.median(np.abs(z)):.2f}")


def main():
    quick = "--quick" in sys.argv
    dims = _opt("--dims", (1, 2, 5) if quick else (1, 2, 3, 5, 10))
    ns = _opt("--ns", (16, 64) if quick else (16, 32, 64, 128))
    seeds = _opt("--seeds", (3,) if quick else (5,))[0]
    families = [f for f in H if f in _opt("--families", tuple(H), str)]
    # NUTS-marginalised z-scores at (d, n) pairs, every family: --nuts 1:16,2:32
    nuts_cases = {("*", int(a), int(b)) for a, b in (c.split(":") for c in _opt("--nuts", (), str))}
    print(environment_report(THREADS))
    if "--calibration" in sys.argv:
        dims_c = _opt("--calib-dims", (1, 2, 3))
        warmup, samples, chains = _opt("--calib-nuts", (200, 200, 1))
        calibration(dims_c, _opt("--calib-ns", tuple(16 * d for d in dims_c)), _opt("--calib-repeats", (5,))[0],
                    warmup, samples, chains, kernel=_opt("--kernel", ("default",), str)[0],
                    prior=_opt("--prior", ("bq",), str)[0], first=_opt("--calib-first", (0,))[0],
                    run_nuts="--map-only" not in sys.argv)
        return
    if "--no-mmd" not in sys.argv:
        mmd_table(dims, ns, seeds)
    if "--no-genz" not in sys.argv:
        genz_table(families, dims, ns, seeds, nuts_cases)
    if "--no-emukit" not in sys.argv:
        emukit(_opt("--emukit-seeds", (1,) if quick else (3,))[0],
               _opt("--emukit-kernels", ("rbf", "matern52", "matern32"), str))


if __name__ == "__main__":
    main()
