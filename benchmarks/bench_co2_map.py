"""Type-II maximum likelihood on Mauna Loa CO2: scikit-learn's GaussianProcessRegressor vs bayeskern + optax.

Data: ``bayeskern.datasets.load_co2()`` (monthly means, X in decimal years,
y in ppm); y is centred by its mean and not scaled, identically for both.

Kernel: the composite kernel of scikit-learn's example "Forecasting of CO2
level on Mona Loa dataset using Gaussian process regression (GPR)", with its
initial values:

    50²·RBF(50)                                  long-term trend
  + 2²·RBF(100)·ExpSineSquared(1, periodicity=1 fixed)   seasonal
  + 0.5²·RationalQuadratic(1, α=1)               medium-term irregularities
  + 0.1²·RBF(0.1) + WhiteKernel(0.1²)            noise

mapped to bayeskern as RBF(lengthscale=l, variance=c), Periodic(lengthscale=l,
period=1, variance=1 — both held fixed), RationalQuadratic(lengthscale=l,
alpha=α, variance=c), and the white noise as ``GaussianProcess(..., noise=w)``.

scikit-learn: GaussianProcessRegressor(kernel, normalize_y=False, default
optimizer (L-BFGS-B), n_restarts_optimizer=2, random_state=0); the per-start
results are recorded by wrapping (not replacing) its optimiser call.

bayeskern: maximise GaussianProcess(kernel, X, noise=w).log_prob(y) over the 11
log-hyperparameters with optax.lbfgs (zoom line search), jitted step, from (1)
the example's initial values, (2) scikit-learn's best start, (3) its other
starts. Reported: optimum log marginal likelihood, difference to
scikit-learn's ``log_marginal_likelihood_value_`` (target ≥ −0.01), wall time.

Equivalence check: our log_prob at scikit-learn's optimum equals its
log-likelihood there, (a) as is (bayeskern adds a relative jitter of
1e-10·mean diag, sklearn an absolute 1e-10: the expected difference is
printed), and (b) with the noise adjusted so both diagonals are identical
(must agree to ~1e-8).

Usage:
  python benchmarks/bench_co2_map.py [--quick] [--threads N]
  (--quick: every 3rd month, no restarts, max 200 L-BFGS iterations)
"""

from __future__ import annotations

import argparse
import sys
import time

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import bayeskern  # noqa: E402,F401  (float64)
from _bench_util import CompileTimer, environment_report  # noqa: E402
from bayeskern.datasets import load_co2  # noqa: E402
from bayeskern.gp import GaussianProcess  # noqa: E402
from bayeskern.kernels import RBF, Periodic, RationalQuadratic, White  # noqa: E402

jax.config.update("jax_enable_x64", True)

try:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF as skRBF
    from sklearn.gaussian_process.kernels import ExpSineSquared, WhiteKernel
    from sklearn.gaussian_process.kernels import RationalQuadratic as skRQ
except Exception as e:  # noqa: BLE001
    GaussianProcessRegressor = None
    SK_ERR = f"{type(e).__name__}: {e}"

# Our parameter vector (all log-values), in this order.
NAMES = ("c1", "l1", "c2", "l2", "l_per", "c3", "l3", "alpha", "c4", "l4", "w")
INIT = dict(c1=50.0**2, l1=50.0, c2=2.0**2, l2=100.0, l_per=1.0, c3=0.5**2, l3=1.0, alpha=1.0,
            c4=0.1**2, l4=0.1, w=0.1**2)
# scikit-learn hyperparameter names of the example kernel -> ours.
SK_NAMES = {
    "k1__k1__k1__k1__constant_value": "c1", "k1__k1__k1__k2__length_scale": "l1",
    "k1__k1__k2__k1__k1__constant_value": "c2", "k1__k1__k2__k1__k2__length_scale": "l2",
    "k1__k1__k2__k2__length_scale": "l_per",
    "k1__k2__k1__constant_value": "c3", "k1__k2__k2__length_scale": "l3", "k1__k2__k2__alpha": "alpha",
    "k2__k1__k1__constant_value": "c4", "k2__k1__k2__length_scale": "l4", "k2__k2__noise_level": "w",
}


def sklearn_kernel():
    long_term = 50.0**2 * skRBF(length_scale=50.0)
    seasonal = 2.0**2 * skRBF(length_scale=100.0) * ExpSineSquared(
        length_scale=1.0, periodicity=1.0, periodicity_bounds="fixed")
    irregular = 0.5**2 * skRQ(length_scale=1.0, alpha=1.0)
    noise = 0.1**2 * skRBF(length_scale=0.1) + WhiteKernel(noise_level=0.1**2, noise_level_bounds=(1e-5, 1e5))
    return long_term + seasonal + irregular + noise


def sk_theta_to_ours(kernel, theta) -> np.ndarray:
    """scikit-learn log-theta (free hyperparameters, its order) -> our log-parameter vector."""
    free = [h.name for h in kernel.hyperparameters if not h.fixed]
    assert set(free) == set(SK_NAMES), free
    ours = dict(zip((SK_NAMES[nm] for nm in free), np.asarray(theta), strict=True))
    return np.array([ours[k] for k in NAMES])


def bk_kernel(p):
    """Our composite kernel (without the white noise) from a dict of positive values."""
    return (
        RBF(lengthscale=p["l1"], variance=p["c1"])
        + RBF(lengthscale=p["l2"], variance=p["c2"]) * Periodic(lengthscale=p["l_per"], period=1.0, variance=1.0)
        + RationalQuadratic(lengthscale=p["l3"], alpha=p["alpha"], variance=p["c3"])
        + RBF(lengthscale=p["l4"], variance=p["c4"])
    )


def log_prob(logp, X, y):
    p = dict(zip(NAMES, jnp.exp(logp), strict=True))
    return GaussianProcess(bk_kernel(p), X, noise=p["w"]).log_prob(y)


_OPT = optax.lbfgs()


@jax.jit
def _lbfgs_step(lp, state, X, y):
    fun = lambda l: -log_prob(l, X, y)  # noqa: E731
    value, grad = optax.value_and_grad_from_state(fun)(lp, state=state)
    updates, state = _OPT.update(grad, state, lp, value=value, grad=grad, value_fn=fun)
    return optax.apply_updates(lp, updates), state, value, grad


def fit_bayeskern(logp0, X, y, maxiter=500, gtol=1e-6):
    """Minimise -log_prob with optax L-BFGS; returns (logp, value, iterations, wall, compile).

    The jitted step is shared by all starts (compiled once per data shape).
    """
    with CompileTimer() as ct:
        t0 = time.perf_counter()
        lp = jnp.asarray(logp0)
        state = _OPT.init(lp)
        prev = np.inf
        it = 0
        for it in range(1, maxiter + 1):  # noqa: B007  (the count is returned after the loop)
            lp, state, value, grad = _lbfgs_step(lp, state, X, y)
            value, gmax = float(value), float(jnp.max(jnp.abs(grad)))
            if not np.isfinite(value):
                break
            # converged: tiny gradient, or no progress over an iteration (as L-BFGS-B's ftol)
            if gmax < gtol or abs(prev - value) <= 1e-12 * max(1.0, abs(value)):
                break
            prev = value
        final = float(log_prob(lp, X, y))
        wall = time.perf_counter() - t0
    return np.asarray(lp), final, it, wall, ct.seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="pin XLA and BLAS to N threads (default 1; 0 = defaults)")
    args = ap.parse_args()

    print("# bench_co2_map: type-II ML of the scikit-learn CO2 kernel, sklearn vs bayeskern + optax L-BFGS")
    print(environment_report(THREADS, ("sklearn", "scipy", "optax", "numpyro")))
    if GaussianProcessRegressor is None:
        print(f"scikit-learn: not installed ({SK_ERR}); nothing to compare against")
        return
    ds = load_co2(subsample=3 if args.quick else None)
    X = np.asarray(ds.X, dtype=float)
    y_raw = np.asarray(ds.y, dtype=float)
    y = y_raw - y_raw.mean()
    restarts = 0 if args.quick else 2
    maxiter = 200 if args.quick else 500
    print(f"data: n = {X.size} months, {X[0]:.2f}-{X[-1]:.2f}; y = CO2 - {y_raw.mean():.3f} ppm (not scaled)\n")

    # -- scikit-learn -------------------------------------------------------
    class RecordingGPR(GaussianProcessRegressor):
        """The default optimiser, with each start and its result recorded."""

        def _constrained_optimization(self, obj_func, initial_theta, bounds):
            t0 = time.perf_counter()
            theta_opt, func_min = super()._constrained_optimization(obj_func, initial_theta, bounds)
            self.starts_.append((np.array(initial_theta), np.array(theta_opt), float(func_min),
                                 time.perf_counter() - t0))
            return theta_opt, func_min

    sk_kernel = sklearn_kernel()
    gpr = RecordingGPR(kernel=sk_kernel, normalize_y=False, n_restarts_optimizer=restarts, random_state=0)
    gpr.starts_ = []
    t0 = time.perf_counter()
    gpr.fit(X[:, None], y)
    sk_wall = time.perf_counter() - t0
    sk_lml = float(gpr.log_marginal_likelihood_value_)
    best = int(np.argmin([s[2] for s in gpr.starts_]))
    print(f"scikit-learn: log_marginal_likelihood_value_ = {sk_lml:.6f}, fit wall {sk_wall:.1f} s, "
          f"{restarts} restarts; best start #{best}")
    print(f"  fitted kernel: {gpr.kernel_}")
    for i, (_th0, _th, f, t) in enumerate(gpr.starts_):
        print(f"  start #{i}: LML {-f:.4f}, optimiser wall {t:.1f} s")

    # -- equivalence at sklearn's optimum ----------------------------------------
    lp_sk = sk_theta_to_ours(sk_kernel, gpr.kernel_.theta)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    ours_at_sk = float(jax.jit(log_prob)(jnp.asarray(lp_sk), Xj, yj))
    sk_at_sk = float(gpr.log_marginal_likelihood(gpr.kernel_.theta))
    # Same diagonal: sklearn has K + w + 1e-10; bayeskern K + w' + 1e-10·mean(diag K + w').
    p = dict(zip(NAMES, np.exp(lp_sk), strict=True))
    kdiag = p["c1"] + p["c2"] + p["c3"] + p["c4"]
    w_adj = (p["w"] + 1e-10 - 1e-10 * kdiag) / (1 + 1e-10)
    lp_adj = lp_sk.copy()
    lp_adj[NAMES.index("w")] = np.log(w_adj)
    ours_adj = float(jax.jit(log_prob)(jnp.asarray(lp_adj), Xj, yj))
    # The same model written with White instead of noise=.
    white = float(GaussianProcess(bk_kernel({k: jnp.asarray(v) for k, v in p.items()}) + White(variance=w_adj), Xj)
                  .log_prob(yj))
    print("\nEquivalence at scikit-learn's optimum:")
    print(f"  sklearn log_marginal_likelihood(theta_opt) = {sk_at_sk:.9f}")
    print(f"  bayeskern log_prob (its default jitter 1e-10·mean diag = {1e-10 * (kdiag + p['w']):.2e} "
          f"vs sklearn alpha 1e-10) = {ours_at_sk:.9f}  (Δ = {ours_at_sk - sk_at_sk:+.2e})")
    print(f"  bayeskern log_prob, noise adjusted for identical diagonals    = {ours_adj:.9f}  "
          f"(Δ = {ours_adj - sk_at_sk:+.2e}) {'OK' if abs(ours_adj - sk_at_sk) < 1e-6 else 'MISMATCH'}")
    print(f"  same with White(w) in the kernel instead of noise=            = {white:.9f}  "
          f"(Δ = {white - sk_at_sk:+.2e})")

    # -- bayeskern + optax -------------------------------------------------------
    starts = {"example init": np.log([INIT[k] for k in NAMES])}
    if best != 0:
        starts[f"sklearn best start (#{best})"] = sk_theta_to_ours(sk_kernel, gpr.starts_[best][0])
    else:
        print("\n(scikit-learn's best start is #0, the example's initial values)")
    for i, s in enumerate(gpr.starts_):
        if i not in (0, best):
            starts[f"sklearn start #{i}"] = sk_theta_to_ours(sk_kernel, s[0])
    assert np.allclose(sk_theta_to_ours(sk_kernel, gpr.starts_[0][0]), starts["example init"])
    print("\nbayeskern (optax.lbfgs, jitted step):")
    results = []
    for label, lp0 in starts.items():
        lp, val, its, wall, comp = fit_bayeskern(lp0, Xj, yj, maxiter=maxiter)
        results.append((label, val, its, wall, comp, lp))
        print(f"  from {label:26s}: LML {val:.6f} (ours − sklearn = {val - sk_lml:+.2e}), {its} iterations, "
              f"wall {wall:.1f} s (compile {comp:.1f} s)", flush=True)
    best_ours = max(results, key=lambda r: r[1])
    total_wall = sum(r[3] for r in results)
    print(f"\n  best optimum: {dict(zip(NAMES, np.round(np.exp(best_ours[5]), 4), strict=True))}")

    total_comp = sum(r[4] for r in results)
    print("\n| fit | log marginal likelihood | ours − sklearn (target ≥ −0.01) | wall time | wall excl. JAX compile |")
    print("|---|---|---|---|---|")
    print(f"| scikit-learn ({restarts} restarts, best of {restarts + 1}) | {sk_lml:.4f} | — | {sk_wall:.1f} s | — |")
    for i, (_, _, f, t) in enumerate(gpr.starts_):
        print(f"| scikit-learn from start #{i}{' (example init)' if i == 0 else ''} | {-f:.4f} | {-f - sk_lml:+.2e} | "
              f"{t:.1f} s | — |")
    for label, val, its, wall, comp, _ in results:
        print(f"| bayeskern from {label} ({its} L-BFGS its) | {val:.4f} | {val - sk_lml:+.2e} | {wall:.1f} s | "
              f"{wall - comp:.1f} s |")
    print(f"| bayeskern, best of the {len(results)} starts | {best_ours[1]:.4f} | {best_ours[1] - sk_lml:+.2e} | "
          f"{total_wall:.1f} s (all starts) | {total_wall - total_comp:.1f} s |")
    first = results[0]
    print(f"\nfrom the example's initial values: ours − sklearn = {first[1] - sk_lml:+.2e} "
          f"({'met' if first[1] - sk_lml >= -0.01 else 'NOT met'}); best of the same starts: "
          f"{best_ours[1] - sk_lml:+.2e} ({'met' if best_ours[1] - sk_lml >= -0.01 else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
