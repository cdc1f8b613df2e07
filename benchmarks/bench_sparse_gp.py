"""Sparse GP regression at scale: SGPR (collapsed VFE bound) and minibatched SVGP vs an exact-GP subsample.

Data: synthetic regression with n training points (10^5; ``--quick``: 10^4)
and 5000 test points from the same distribution, in 1-D and 2-D:

  1-D  x ~ U(0, 10),        f(x) = sin(3x) + 0.5 sin(7x + 1),          noise sd 0.3
  2-D  x ~ U(-3, 3)^2,      f(x) = sin(2 x1) cos(1.5 x2) + 0.3 x1,    noise sd 0.2

Methods (RBF kernel, ARD in 2-D; every method starts from the same
data-scaled hyperparameters: lengthscale 1, variance var(y), noise 0.1 var(y)):

  exact-2000   exact GP on a random subsample of 2000 training points;
               hyperparameters by Adam on its exact log marginal likelihood.
  SGPR M       structure="sgpr" (Titsias VFE bound), M = 100, 300, 500 inducing
               inputs initialised by k-means++ (select_inducing); kernel
               hyperparameters, noise and Z by Adam on the bound. The bound costs
               O(n M^2) per step, so the Adam steps first run on the bound of a
               random subsample of ``--fit-subsample`` points (default 5000;
               the whole data set when n is smaller) and then ``--full-steps``
               steps run on the bound of all n points.
  SVGP M       bayeskern.gp.svgp.fit_svgp, M = 300, Gaussian likelihood,
               minibatches of 1000, natural-gradient steps (gamma 0.1) for
               q(v) and Adam for hyperparameters, noise and Z.

Reported: test RMSE (predictive mean vs noisy test y), test NLPD (mean
negative log predictive density of test y), fit wall time (compilation
included) and prediction wall time for the 5000 test points (SGPR: conditioning
on all n points plus predicting; compiled beforehand).

First section (per-evaluation timing): one objective value + gradient at fixed
hyperparameters for n = 10^3 .. 10^5: exact dense (n <= --dense-max), SGPR,
one SVGP minibatch, and GPJax's collapsed SGPR bound and minibatch SVGP ELBO
in the same process when GPJax is importable (run with .bench-venv/bin/python,
whose JAX is older: the report names the versions). Medians, ratios, and
SGPR's bound gap and predictive differences against exact dense.

Usage:
  .bench-venv/bin/python benchmarks/bench_sparse_gp.py [--quick] [--threads N] [--timing-only]
      [--timing-sizes 1000,3000,10000,100000] [--timing-m 100] [--dense-max 3000] [--repeats 5] [--no-gpjax]
      [--dims 1,2] [--steps 100] [--full-steps 5] [--svgp-steps 1500] [--fit-subsample 5000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

# Import the checkout this script lives in, whatever the environment's editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bench_util import configure_threads

THREADS = configure_threads(default=1)

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
from numpyro.distributions import constraints

import bayeskern  # noqa: F401  (turns on float64)
from _bench_util import block, environment_report, fmt_s, fmt_x
from bayeskern.gp import GaussianProcess
from bayeskern.gp.svgp import fit_svgp, select_inducing
from bayeskern.kernels import RBF

N_TEST = 5000
SUBSAMPLE = 2000
LOG2PI = math.log(2 * math.pi)


def make_data(d: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed + d)

    def draw(m):
        if d == 1:
            X = rng.uniform(0, 10, (m, 1))
            f = np.sin(3 * X[:, 0]) + 0.5 * np.sin(7 * X[:, 0] + 1)
            sd = 0.3
        else:
            X = rng.uniform(-3, 3, (m, 2))
            f = np.sin(2 * X[:, 0]) * np.cos(1.5 * X[:, 1]) + 0.3 * X[:, 0]
            sd = 0.2
        return X, f + sd * rng.standard_normal(m)

    X, y = draw(n)
    Xt, yt = draw(N_TEST)
    return X, y, Xt, yt


def init_params(y, d):
    v = float(np.var(y))
    return {"log_ls": jnp.zeros(d), "log_var": jnp.log(v), "log_noise": jnp.log(0.1 * v)}


def kernel_of(p):
    return RBF(lengthscale=jnp.exp(p["log_ls"]), variance=jnp.exp(p["log_var"]))


def adam_fit(loss, params, args, steps, lr):
    """``steps`` Adam updates of ``loss(params, *args)``; returns params and the last loss."""
    opt = optax.adam(lr)

    @jax.jit
    def step(params, state, *args):
        value, grads = jax.value_and_grad(loss)(params, *args)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    state = opt.init(params)
    value = None
    for _ in range(steps):
        params, state, value = step(params, state, *args)
    return params, float(value)


def timed_twice(fn, *args):
    """``fn(*args)`` and the wall time of a second call (the first compiles)."""
    jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def gaussian_scores(mean, var, yt):
    mean, var = np.asarray(mean), np.asarray(var)
    rmse = float(np.sqrt(np.mean((mean - yt) ** 2)))
    nlpd = float(np.mean(0.5 * (LOG2PI + np.log(var) + (yt - mean) ** 2 / var)))
    return rmse, nlpd


# ----------------------------------------------------------------- methods
def run_exact(X, y, Xt, yt, steps, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(SUBSAMPLE, len(X)), replace=False)
    Xs, ys = jnp.asarray(X[idx]), jnp.asarray(y[idx])
    t0 = time.perf_counter()

    def loss(p, Xs, ys):
        return -GaussianProcess(kernel_of(p), Xs, noise=jnp.exp(p["log_noise"])).log_prob(ys) / Xs.shape[0]

    p, _ = adam_fit(loss, init_params(y, X.shape[1]), (Xs, ys), steps, 0.05)
    fit_t = time.perf_counter() - t0

    @jax.jit
    def predict(p, Xs, ys, Xt):
        post = GaussianProcess(kernel_of(p), Xs, noise=jnp.exp(p["log_noise"])).condition(ys, Xt, include_noise=True)
        return post.mean, post.variance

    (mean, var), pred_t = timed_twice(predict, p, Xs, ys, jnp.asarray(Xt))
    return gaussian_scores(mean, var, yt) + (fit_t, pred_t, p)


def run_sgpr(X, y, Xt, yt, M, steps, full_steps, fit_subsample, seed=0):
    t0 = time.perf_counter()
    n = len(X)
    Z0 = jnp.asarray(select_inducing(X, M, seed=seed))
    params = dict(init_params(y, X.shape[1]), Z=Z0)

    def loss(p, Xb, yb):
        gp = GaussianProcess(kernel_of(p), Xb, noise=jnp.exp(p["log_noise"]), structure="sgpr", inducing=p["Z"])
        return -gp.log_prob(yb) / Xb.shape[0]

    Xa, ya = jnp.asarray(X), jnp.asarray(y)
    if fit_subsample < n:
        idx = np.random.default_rng(seed + 1).choice(n, size=fit_subsample, replace=False)
        params, _ = adam_fit(loss, params, (Xa[idx], ya[idx]), steps, 0.05)
        params, last = adam_fit(loss, params, (Xa, ya), full_steps, 0.01)
    else:
        params, last = adam_fit(loss, params, (Xa, ya), steps + full_steps, 0.05)
    fit_t = time.perf_counter() - t0

    @jax.jit
    def predict(p, X, y, Xt):
        gp = GaussianProcess(kernel_of(p), X, noise=jnp.exp(p["log_noise"]), structure="sgpr", inducing=p["Z"])
        post = gp.condition(y, Xt, include_noise=True)
        return post.mean, post.variance

    (mean, var), pred_t = timed_twice(predict, params, Xa, ya, jnp.asarray(Xt))
    return gaussian_scores(mean, var, yt) + (fit_t, pred_t, dict(params, bound=-last * n))


def run_svgp(X, y, Xt, yt, M, steps, batch_size=1000, seed=0):
    t0 = time.perf_counter()
    d = X.shape[1]
    v = float(np.var(y))
    pos = constraints.positive

    def kernel():
        return RBF(lengthscale=numpyro.param("ls", jnp.ones(d), constraint=pos),
                   variance=numpyro.param("var", v, constraint=pos))

    def lik(f):
        return dist.Normal(f, numpyro.param("noise_sd", math.sqrt(0.1 * v), constraint=pos))

    fit = fit_svgp(kernel, X, y, lik, select_inducing(X, M, seed=seed), steps=steps, batch_size=batch_size,
                   natgrad_step=0.1, optimizer=optax.adam(0.01), seed=seed)
    jax.block_until_ready(fit.q_loc)
    fit_t = time.perf_counter() - t0
    pred, pred_t = timed_twice(fit.predict, Xt)
    lpd = fit.log_predictive_density(Xt, yt)
    rmse = float(np.sqrt(np.mean((np.asarray(pred.y_mean) - yt) ** 2)))
    return rmse, float(-np.mean(np.asarray(lpd))), fit_t, pred_t, fit.hyperparameters


# ----------------------------------------------------------------- per-evaluation timing
def _try_gpjax():
    try:
        import equinox as eqx
        import gpjax as gpx
    except Exception:  # noqa: BLE001 - any import failure means "peer not available"
        return None, None
    return gpx, eqx


def timing_section(sizes, M, batch, dense_max, repeats, use_gpjax, seed=0):
    """Median wall time of one objective value + gradient, 1-D data, fixed hyperparameters (lengthscale 0.5,
    variance 1, noise 0.09), RBF kernel; plus the accuracy of SGPR against exact dense at the same
    hyperparameters where the dense GP is run.

    Objectives: exact log marginal likelihood (dense Cholesky) w.r.t. the 3 hyperparameters; SGPR collapsed
    bound w.r.t. hyperparameters and Z; SVGP minibatch ELBO (batch ``batch``) w.r.t. hyperparameters, Z
    and q; GPJax's ``collapsed_elbo`` and minibatch ``elbo`` (WhitenedVariationalGaussian) w.r.t. all
    their parameters. GPJax's jitter is absolute 1e-6; ours is relative 1e-6 of mean(diag K_mm) = 1e-6 here.
    GPJax also adds its jitter to the variance of q(f_i), which lowers its SVGP ELBO by
    n · 1e-6 / (2 σ²) (0.0056 at n = 1000, σ² = 0.09): the only expected difference in the values.
    """
    from _bench_util import interleaved, median, round_ratio
    from bayeskern.gp.svgp import optimal_gaussian_q, svgp_elbo

    gpx, eqx = _try_gpjax() if use_gpjax else (None, None)
    theta = {"log_ls": jnp.log(jnp.array([0.5])), "log_var": jnp.asarray(0.0), "log_noise": jnp.log(0.09)}
    rows, acc = [], []
    for n in sizes:
        X, y, Xt, _ = make_data(1, n, seed)
        Xa, ya = jnp.asarray(X), jnp.asarray(y)
        Z = jnp.asarray(select_inducing(X, M, seed=seed))
        bidx = np.random.default_rng(seed).choice(n, size=min(batch, n), replace=False)
        Xb, yb = Xa[bidx], ya[bidx]
        methods = {}

        def exact(p, X, y):
            return GaussianProcess(kernel_of(p), X, noise=jnp.exp(p["log_noise"])).log_prob(y)

        def sgpr(p, Z, X, y):
            return GaussianProcess(kernel_of(p), X, noise=jnp.exp(p["log_noise"]), structure="sgpr",
                                   inducing=Z).log_prob(y)

        def svgp(p, Z, q_loc, q_tril, Xb, yb, n=n):
            sd = jnp.exp(0.5 * p["log_noise"])
            return svgp_elbo(kernel_of(p), Xb, yb, lambda f: dist.Normal(f, sd), Z, q_loc, q_tril, num_data=n)

        if n <= dense_max:
            methods["exact dense"] = (jax.jit(jax.value_and_grad(exact)), (theta, Xa, ya))
        methods["SGPR"] = (jax.jit(jax.value_and_grad(sgpr, argnums=(0, 1))), (theta, Z, Xa, ya))
        q = optimal_gaussian_q(kernel_of(theta), Xa[:2000], ya[:2000], 0.09, Z)
        methods["SVGP batch"] = (jax.jit(jax.value_and_grad(svgp, argnums=(0, 1, 2, 3))),
                                 (theta, Z, q[0], q[1], Xb, yb))
        if gpx is not None:
            kern = gpx.kernels.RBF(lengthscale=jnp.asarray(0.5), variance=jnp.asarray(1.0))
            prior = gpx.gps.Prior(mean_function=gpx.mean_functions.Zero(), kernel=kern, jitter=1e-6)
            post = prior * gpx.likelihoods.Gaussian(obs_stddev=jnp.asarray(0.3))
            qc = gpx.variational_families.CollapsedVariationalGaussian(model=post, inducing_inputs=Z)
            qw = gpx.variational_families.WhitenedVariationalGaussian(
                model=post, inducing_inputs=Z, variational_mean=q[0][:, None], variational_root_covariance=q[1])
            pc, sc = eqx.partition(qc, eqx.is_array)
            pw, sw = eqx.partition(qw, eqx.is_array)

            def gc(params, X, y2, sc=sc):
                return gpx.objectives.collapsed_elbo(eqx.combine(params, sc), gpx.Dataset(X=X, y=y2))

            def gw(params, X, y2, sw=sw, n=n):
                return gpx.objectives.elbo(eqx.combine(params, sw), gpx.Dataset(X=X, y=y2, n_total=n))

            methods["GPJax SGPR"] = (jax.jit(jax.value_and_grad(gc)), (pc, Xa, ya[:, None]))
            methods["GPJax SVGP batch"] = (jax.jit(jax.value_and_grad(gw)), (pw, Xb, yb[:, None]))
        values = {}
        for name, (fn, args) in methods.items():
            values[name] = float(block(fn(*args))[0])  # compile + warm
        times = interleaved(methods, repeats)
        for name in methods:
            ref = "exact dense" if name in ("SGPR", "SVGP batch") else name.replace("GPJax ", "")
            rows.append((n, name, median(times[name]),
                         round_ratio(times, name, ref) if ref != name else float("nan"), values[name]))
        if n <= dense_max:
            gp_exact = GaussianProcess(kernel_of(theta), Xa, noise=0.09)
            gp_sparse = GaussianProcess(kernel_of(theta), Xa, noise=0.09, structure="sgpr", inducing=Z)
            Xq = jnp.asarray(Xt[:1000])
            pe, ps = gp_exact.condition(ya, Xq), gp_sparse.condition(ya, Xq)
            acc.append((n, (values["exact dense"] - values["SGPR"]) / n,
                        float(jnp.max(jnp.abs(pe.mean - ps.mean))),
                        float(jnp.max(jnp.abs(jnp.sqrt(pe.variance) - jnp.sqrt(ps.variance))))))
        print(f"  timed n = {n}", flush=True)
    print(f"\nOne objective value + gradient, 1-D, M = {M} inducing inputs, SVGP batch {batch}; median of "
          f"{repeats} interleaved rounds. Ratio: SGPR / SVGP over exact dense; GPJax rows over the bayeskern "
          "row of the same name (same round). Value: the objective (GPJax, given the same q, should agree with "
          "bayeskern; the SVGP rows are the ELBO estimate on one minibatch at a q fitted to 2000 points).")
    print("\n| n | method | median time | ratio | value |")
    print("|---|---|---|---|---|")
    for n, name, t, r, v in rows:
        print(f"| {n} | {name} | {fmt_s(t)} | {fmt_x(r)} | {v:.4f} |")
    if acc:
        print("\nSGPR vs exact dense at the same hyperparameters (1000 test inputs):")
        print("\n| n | (exact log ML − bound) / n | max abs mean diff | max abs sd diff |")
        print("|---|---|---|---|")
        for n, gap, dm, ds in acc:
            print(f"| {n} | {gap:.2e} | {dm:.2e} | {ds:.2e} |")


def describe(p):
    if "log_ls" in p:
        ls = np.round(np.exp(np.asarray(p["log_ls"])), 3).tolist()
        return f"ls={ls} var={float(jnp.exp(p['log_var'])):.3f} noise_sd={float(jnp.exp(0.5 * p['log_noise'])):.3f}"
    ls = np.round(np.asarray(p["ls"]), 3).tolist()
    return f"ls={ls} var={float(p['var']):.3f} noise_sd={float(p['noise_sd']):.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n = 10^4 instead of 10^5")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dims", default="1,2")
    ap.add_argument("--sizes", default="100,300,500", help="SGPR inducing-point counts")
    ap.add_argument("--steps", type=int, default=100, help="Adam steps (exact GP; SGPR on the fit subsample)")
    ap.add_argument("--full-steps", type=int, default=None, help="SGPR Adam steps on the full-data bound")
    ap.add_argument("--fit-subsample", type=int, default=5000)
    ap.add_argument("--svgp-m", type=int, default=300)
    ap.add_argument("--svgp-steps", type=int, default=None)
    ap.add_argument("--timing-sizes", default=None, help="n for the per-evaluation timing (default 1000,3000,"
                    "10000,100000; --quick: 1000,3000)")
    ap.add_argument("--timing-m", type=int, default=100, help="inducing inputs in the timing section")
    ap.add_argument("--dense-max", type=int, default=3000, help="largest n timed with the exact dense GP")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-gpjax", action="store_true", help="skip GPJax even when it is importable")
    ap.add_argument("--timing-only", action="store_true", help="skip the fitting (accuracy) section")
    args = ap.parse_args(argv)
    n = 10_000 if args.quick else 100_000
    full_steps = args.full_steps if args.full_steps is not None else (10 if args.quick else 3)
    svgp_steps = args.svgp_steps if args.svgp_steps is not None else (1000 if args.quick else 2000)
    print(environment_report(THREADS, extra_modules=("numpyro", "optax", "gpjax")))
    sizes = args.timing_sizes or ("1000,3000" if args.quick else "1000,3000,10000,100000")
    timing_section([int(v) for v in sizes.split(",")], args.timing_m, 1000, args.dense_max, args.repeats,
                   not args.no_gpjax)
    if args.timing_only:
        return 0
    print(f"n = {n}, test points = {N_TEST}, exact reference on {SUBSAMPLE} points; Adam steps {args.steps} "
          f"(SGPR: {args.steps} on a {min(args.fit_subsample, n)}-point subsample bound, then {full_steps} on the "
          f"full bound); SVGP: M = {args.svgp_m}, batch 1000, {svgp_steps} steps\n", flush=True)
    rows = []
    for d in [int(s) for s in args.dims.split(",")]:
        X, y, Xt, yt = make_data(d, n)
        res = run_exact(X, y, Xt, yt, args.steps)
        rows.append((d, f"exact GP, {SUBSAMPLE}-point subsample") + res[:4])
        print(f"  d={d} exact-{SUBSAMPLE}: {describe(res[4])}", flush=True)
        for M in [int(s) for s in args.sizes.split(",")]:
            res = run_sgpr(X, y, Xt, yt, M, args.steps, full_steps, args.fit_subsample)
            rows.append((d, f"SGPR (VFE), M = {M}") + res[:4])
            print(f"  d={d} SGPR M={M}: {describe(res[4])} bound={res[4]['bound']:.1f}", flush=True)
        res = run_svgp(X, y, Xt, yt, args.svgp_m, svgp_steps)
        rows.append((d, f"SVGP, M = {args.svgp_m}, batch 1000") + res[:4])
        print(f"  d={d} SVGP M={args.svgp_m}: {describe(res[4])}", flush=True)

    print("\n| d | method | test RMSE | test NLPD | fit time | predict time |")
    print("|---|---|---|---|---|---|")
    for d, name, rmse, nlpd, fit_t, pred_t in rows:
        print(f"| {d} | {name} | {rmse:.4f} | {nlpd:.4f} | {fmt_s(fit_t)} | {fmt_s(pred_t)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
