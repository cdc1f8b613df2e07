"""Cox-process benchmark: fit time and accuracy of laplace / nuts / svi on coal mining and Japanese pines,
plus the cost of one log density + gradient of the grid LGCP against a hand-written raw-JAX version.

Accuracy: each method's posterior mean intensity per cell against a long NUTS reference
(4 chains x 1000 draws), as the max over cells of |mean - ref mean| / ref sd, and the
mean absolute relative error of the mean.

Run: ``python benchmarks/bench_cox.py [--threads N] [--quick]``.
"""

from __future__ import annotations

import sys

from _bench_util import configure_threads, environment_report

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
                            model_kwargs={"method": "dense"})
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
    ref = fit(events, window, shape=shape, method="nuts", field=field, num_warmup=n_ref, num_samples=n_ref,
              num_chains=2 if QUICK else 4)
    t_ref = time.perf_counter() - t
    print(f"reference NUTS ({field}) {t_ref:.1f} s")
    for method in ("laplace", "svi", "nuts"):
        t = time.perf_counter()
        res = fit(events, window, shape=shape, method=method, field=None if method == "laplace" else field,
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


def main():
    print(environment_report(THREADS))
    coal = load_coal_mining()
    run("coal mining", coal.X, coal.window, 56, "dense")
    pines = load_japanese_pines()
    run("Japanese pines", pines.X, pines.window, (12, 12) if QUICK else (16, 16), "dense")


if __name__ == "__main__":
    main()
