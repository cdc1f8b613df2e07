"""Cox-process benchmark: fit time and accuracy of laplace / nuts / svi on coal mining and Japanese pines,
plus the cost of one log density + gradient of the grid LGCP against a hand-written raw-JAX version.

Accuracy: each method's posterior mean intensity per cell against a long NUTS reference
(4 chains x 1000 draws), as the max over cells of |mean - ref mean| / ref sd, and the
mean absolute relative error of the mean.

Structured embedded Laplace (``--laplace``, issue 6 figures):
(a) time of one Laplace mode + log marginal + gradient on 64², 128², 256² LGCP grids (Kronecker
field: the default SLQ with 8 probes and the Kronecker preconditioner / control variate, the Fiedler
log det, and the previous Jacobi SLQ with 16 probes x 30 steps up to 128²), median of repeats, with the
dense Laplace at 32² for a ratio;
run once with ``--threads 1`` and once with ``--threads 0`` (default threading).
(b) 32 x 32 grid: embedded Laplace (Kronecker) + NUTS over the hyperparameters against NUTS on the
whitened Kronecker field, 1 chain x 300 warmup / 300 draws each (modest, so it finishes in minutes):
min bulk ESS/s over the hyperparameters, the ratio, and max |difference of posterior intensity
means| in units of the Monte-Carlo standard error of that difference.

Run: ``python benchmarks/bench_cox.py [--threads N] [--quick] [--laplace | --vs-field] [--events-scale S]``
(``--vs-field``: only the Laplace+NUTS vs field-NUTS comparison; ``--events-scale S`` thins S times as many
uniform candidates with the same acceptance, i.e. the same intensity surface times S: about 1654·S events,
to see how the ratio moves with the strength of the data).
"""

from __future__ import annotations

import sys

from _bench_util import CompileTimer, configure_threads, environment_report

THREADS = configure_threads(default=0)

import time

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.util import initialize_model

import bayeskern  # noqa: F401
from bayeskern.cox import bin_events, cox_grid_model, fit
from bayeskern.datasets import load_coal_mining
from bayeskern.datasets.pines import load_japanese_pines

QUICK = "--quick" in sys.argv


def timed(fn, repeat=5):
    fn()  # compile
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def density_and_gradient(grid, counts):
    """bayeskern model potential + gradient vs the same log joint written in raw JAX (dense whitened field)."""
    info = initialize_model(jax.random.PRNGKey(0), cox_grid_model, model_args=(grid, counts),
                            model_kwargs={"structure": "dense"})
    pe = jax.jit(jax.value_and_grad(info.potential_fn))
    z0 = info.param_info.z
    X = jnp.asarray(grid.centres)
    y = jnp.asarray(counts)
    expo = jnp.asarray(grid.exposure)

    def raw(p):  # log-normal lengthscale/variance priors omitted: same cost class (a few scalars)
        ls, var, mu, z = jnp.exp(p["f_lengthscale"]), jnp.exp(p["f_variance"]), p["f_mean"], p["f_z"]
        d = jnp.sqrt(jnp.sum((X[:, None] - X[None]) ** 2, -1) + 1e-30) * jnp.sqrt(5.0) / ls
        K = var * (1 + d + d * d / 3) * jnp.exp(-d) + 1e-6 * var * jnp.eye(X.shape[0])
        f = mu + jnp.linalg.cholesky(K) @ z
        return -(jnp.sum(y * (f + jnp.log(expo)) - expo * jnp.exp(f)) - 0.5 * jnp.sum(z * z))

    rg = jax.jit(jax.value_and_grad(raw))
    return timed(lambda: pe(z0)), timed(lambda: rg(z0))


def accuracy(res, ref):
    m, r = res.intensity_summary()["mean"], ref.intensity_summary()
    ok = np.isfinite(m)
    return float(np.max(np.abs(m[ok] - r["mean"][ok]) / r["sd"][ok])), float(np.mean(np.abs(m[ok] / r["mean"][ok] - 1)))


def run(label, events, window, shape, field):
    print(f"\n== {label}: {len(events)} events, grid {shape}")
    grid, counts = bin_events(events, window, shape)
    t_bk, t_raw = density_and_gradient(grid, counts)
    print(f"log density + gradient (dense field, n={grid.size}): bayeskern {t_bk * 1e3:.2f} ms, "
          f"raw JAX {t_raw * 1e3:.2f} ms, ratio {t_bk / t_raw:.2f}")
    n_ref = 300 if QUICK else 1000
    t = time.perf_counter()
    ref = fit(events, window, shape=shape, method="nuts", structure=field, num_warmup=n_ref, num_samples=n_ref,
              num_chains=2 if QUICK else 4)
    t_ref = time.perf_counter() - t
    print(f"reference NUTS ({field}) {t_ref:.1f} s")
    for method in ("laplace", "svi", "nuts"):
        t = time.perf_counter()
        res = fit(events, window, shape=shape, method=method, structure="auto" if method == "laplace" else field,
                  num_warmup=300, num_samples=300, num_chains=1, seed=1)
        el = time.perf_counter() - t
        z, rel = accuracy(res, ref)
        ess = ""
        if method in ("laplace", "nuts"):
            import arviz as az

            hyp = [k for k in res.samples if k.endswith(("_lengthscale", "_variance", "_mean"))]
            e = min(float(np.min(az.ess(res.samples_by_chain[k][..., None] if res.samples_by_chain[k].ndim == 2
                                        else res.samples_by_chain[k]))) for k in hyp)
            ess = f"  min hyper ESS {e:.0f} ({e / el:.1f}/s)"
        print(f"{method:8s} {el:7.1f} s   max |mean-ref|/sd {z:.2f}   mean rel err {rel:.3f}{ess}")


def laplace_timing(sizes=(64, 128, 256), repeat=3):
    """Figure (a): Laplace mode + log marginal + gradient on an n x n LGCP grid (Kronecker field)."""
    import numpyro.distributions as dist

    from bayeskern.gp.laplace.kronecker import KronLaplaceOptions, kron_log_marginal
    from bayeskern.gp.laplace.newton import log_marginal

    def setup(n):
        x = jnp.linspace(0.0, 1.0, n)
        rng = np.random.default_rng(0)
        X1, X2 = np.meshgrid(np.asarray(x), np.asarray(x), indexing="ij")
        lam = 2000.0 * np.exp(np.sin(6 * X1) * np.cos(5 * X2))
        lam = lam / lam.mean() * 2000.0
        y = jnp.asarray(rng.poisson(lam / n**2).ravel(), float)
        off = jnp.full(n * n, -2.0 * np.log(n))
        return x, y, off

    def ll(f, y, off):
        return dist.Poisson(jnp.exp(f + off)).log_prob(y)

    def axis(x, ls, var):
        return var * jnp.exp(-0.5 * (x[:, None] - x[None]) ** 2 / ls**2) + 1e-6 * var * jnp.eye(x.shape[0])

    th = jnp.array([0.15, 1.0, np.log(2000.0)])
    variants = (("slq-8 kron-precond (default)", KronLaplaceOptions()),
                ("fiedler", KronLaplaceOptions(logdet="fiedler")),
                ("slq-16x30 jacobi (previous)", KronLaplaceOptions(num_probes=16, lanczos_steps=30,
                                                                   precondition="jacobi")))
    rows = []
    for n in sizes:
        x, y, off = setup(n)

        for label, opts in variants:
            @jax.jit
            def vg(t, x=x, y=y, off=off, opts=opts):
                def val(t):
                    Ls = (jnp.linalg.cholesky(axis(x, t[0], t[1])), jnp.linalg.cholesky(axis(x, t[0], 1.0)))
                    return kron_log_marginal(ll, Ls, jnp.full(x.shape[0] ** 2, t[2]), (y, off), opts)
                return jax.value_and_grad(val)(t)

            if n > 128 and "jacobi" in label:
                continue  # ~76 s per call at 256² (measured before the Kronecker preconditioner)
            rows.append((f"kronecker {label} {n}x{n}", n * n, timed(lambda: vg(th), repeat)))
    x, y, off = setup(32)

    @jax.jit
    def vg_dense(t):
        def val(t):
            K = jnp.kron(axis(x, t[0], t[1]), axis(x, t[0], 1.0))
            return log_marginal(ll, K, jnp.full(32 * 32, t[2]), (y, off), (100, 1e-9))
        return jax.value_and_grad(val)(t)

    t_dense = timed(lambda: vg_dense(th), repeat)
    print("\n== Laplace mode + log marginal + gradient (LGCP, ~2000 events)")
    print("| field | cells | median s |\n|---|---|---|")
    for label, N, t in rows:
        print(f"| {label} | {N} | {t:.3f} |")
    print(f"| dense 32x32 | 1024 | {t_dense:.3f} |")
    return rows, t_dense


def laplace_vs_field_nuts(n=32, warmup=300, draws=300, scale=1.0):
    """Figure (b): ESS/s of hyperparameters, embedded Laplace + NUTS vs NUTS on the whitened field."""
    import arviz as az

    rng = np.random.default_rng(1)
    num = int(round(4000 * scale))
    pts = rng.uniform(0, 1, (num, 2))
    keep = rng.uniform(size=num) < np.exp(np.sin(5 * pts[:, 0]) * np.cos(4 * pts[:, 1]) - 1.0)
    ev, win = pts[keep], ((0.0, 1.0), (0.0, 1.0))
    out = {}
    for method in ("laplace", "nuts"):
        with CompileTimer() as ct:
            t = time.perf_counter()
            res = fit(ev, win, shape=(n, n), method=method, structure="kronecker", num_warmup=warmup, num_samples=draws,
                      num_chains=1, seed=2)
            wall = time.perf_counter() - t
        # Compile time is excluded: it is a fixed cost per process (cached across runs with the
        # persistent cache) and at 300 draws it would dominate the comparison.
        el = wall - ct.seconds
        hyp = [k for k in res.samples if k.endswith(("_lengthscale", "_variance", "_mean"))]
        ess = min(float(np.min(az.ess(np.asarray(res.samples_by_chain[k]).reshape(1, draws, -1)[..., i]
                                      .reshape(1, draws))))
                  for k in hyp for i in range(np.asarray(res.samples_by_chain[k]).reshape(1, draws, -1).shape[-1]))
        lam = res.cell_intensity
        bm = lam[: draws - draws % 10].reshape(10, -1, lam.shape[1]).mean(1)  # batch means: MCSE of the mean
        mcse = bm.std(0, ddof=1) / np.sqrt(10)
        out[method] = (el, ess, lam.mean(0), mcse)
        st = res.sample_stats
        steps = float(np.mean(st["n_steps"])) if "n_steps" in st else float("nan")
        div = int(np.sum(st["diverging"])) if "diverging" in st else -1
        print(f"{method:8s} {len(ev)} events, {wall:.1f} s wall, compile {ct.seconds:.1f} s, {el:.1f} s excl. compile "
              f"(Laplace: includes the latent draws), min hyper bulk ESS {ess:.0f} "
              f"({ess / el:.2f}/s); mean leapfrog steps/draw {steps:.1f}, divergences {div}")
    (el_l, e_l, m_l, s_l), (el_n, e_n, m_n, s_n) = out["laplace"], out["nuts"]
    z = np.abs(m_l - m_n) / np.sqrt(s_l**2 + s_n**2)
    print(f"ESS/s ratio laplace/nuts (excl. compile): {(e_l / el_l) / (e_n / el_n):.1f}x; max |mean diff|/MCSE {z.max():.2f} "
          f"(mean {z.mean():.2f}; 1 chain x {warmup}+{draws} each)")


def main():
    print(environment_report(THREADS))
    if "--laplace" in sys.argv or "--vs-field" in sys.argv:
        if "--vs-field" not in sys.argv:
            laplace_timing()
        scale = float(sys.argv[sys.argv.index("--events-scale") + 1]) if "--events-scale" in sys.argv else 1.0
        laplace_vs_field_nuts(scale=scale)
        return
    coal = load_coal_mining()
    run("coal mining", coal.X, coal.window, 56, "dense")
    pines = load_japanese_pines()
    run("Japanese pines", pines.X, pines.window, (12, 12) if QUICK else (16, 16), "dense")


if __name__ == "__main__":
    main()
