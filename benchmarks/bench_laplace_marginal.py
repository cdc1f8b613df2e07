"""Laplace marginal + gradient vs n, against a raw-JAX baseline that differentiates an unrolled Newton loop;
and NUTS over hyperparameters (Laplace marginal) vs NUTS on the whitened latent field.

Part 1: Poisson GP on n = 100 .. 2000 points (Matérn-3/2). Both compute the
Laplace log marginal and its gradient in (log lengthscale, log variance, mean):
``bayeskern`` by Newton in a ``while_loop`` and the implicit-function-theorem
VJP; the baseline by R&W Alg. 3.1 (``B = I + W½KW½``) for a fixed number of
Newton steps in ``fori_loop`` with reverse-mode autodiff through every step.
The values and gradients are checked to agree before timing.

Part 2 (``--nuts``): coal-mining yearly counts (n = 112), wall time and
ESS/s of the hyperparameters for both NUTS runs.

Run: ``.venv/bin/python benchmarks/bench_laplace_marginal.py [--quick] [--nuts] [--threads N]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_util import (
    configure_threads,
    environment_report,
    fmt_s,
    fmt_x,
    interleaved,
    median,
)

THREADS = configure_threads()

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

import bayeskern  # noqa: F401
from bayeskern.gp.laplace.distributions import LaplaceMarginal
from bayeskern.kernels import Matern32

BASELINE_STEPS = 12


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 10, n))
    y = rng.poisson(np.exp(np.sin(x) + 0.5)).astype(float)
    return jnp.asarray(x), jnp.asarray(y)


def gram(theta, x):
    K = Matern32(lengthscale=jnp.exp(theta[0]), variance=jnp.exp(theta[1]))(x[:, None])
    return K + 1e-8 * jnp.mean(jnp.diag(K)) * jnp.eye(x.shape[0])


def ours(theta, x, y):
    d = LaplaceMarginal(lambda f: dist.Poisson(jnp.exp(f)), gram(theta, x), jnp.full(x.shape, theta[2]), tol=1e-10)
    return d.log_prob(y)


def baseline(theta, x, y):
    """R&W Alg. 3.1 for a Poisson likelihood, a fixed number of Newton steps, autodiff through all of them."""
    K = gram(theta, x)
    m = jnp.full(x.shape, theta[2])
    n = x.shape[0]

    def step(_, f):
        W = jnp.exp(f)
        sW = jnp.sqrt(W)
        Lb = jnp.linalg.cholesky(jnp.eye(n) + sW[:, None] * K * sW[None, :])
        b = W * (f - m) + (y - jnp.exp(f))
        c = jax.scipy.linalg.cho_solve((Lb, True), sW * (K @ b))
        a = b - sW * c
        return m + K @ a

    f = jax.lax.fori_loop(0, BASELINE_STEPS, step, m)
    W = jnp.exp(f)
    sW = jnp.sqrt(W)
    Lb = jnp.linalg.cholesky(jnp.eye(n) + sW[:, None] * K * sW[None, :])
    a = jnp.linalg.solve(K, f - m)
    ll = jnp.sum(y * f - jnp.exp(f) - jax.scipy.special.gammaln(y + 1))
    return ll - 0.5 * jnp.dot(a, f - m) - jnp.sum(jnp.log(jnp.diag(Lb)))


def part1(sizes, repeats):
    vg_ours = jax.jit(jax.value_and_grad(ours))
    vg_base = jax.jit(jax.value_and_grad(baseline))
    theta = jnp.array([np.log(1.0), np.log(0.7), 0.4])
    print(f"\n{'n':>6} {'bayeskern (IFT)':>16} {'raw JAX unrolled':>17} {'ratio':>7}  {'|dvalue|':>9} {'max|dgrad|':>10}")
    for n in sizes:
        x, y = data(n)
        v1, g1 = vg_ours(theta, x, y)
        v2, g2 = vg_base(theta, x, y)
        times = interleaved({"ours": (vg_ours, (theta, x, y)), "base": (vg_base, (theta, x, y))}, repeats)
        t1, t2 = median(times["ours"]), median(times["base"])
        print(f"{n:>6} {fmt_s(t1):>16} {fmt_s(t2):>17} {fmt_x(t1 / t2):>7}  {abs(float(v1 - v2)):9.1e} "
              f"{float(jnp.max(jnp.abs(g1 - g2))):10.1e}")


def part2(num_warmup, num_samples):
    import time

    import arviz as az
    import numpyro

    from bayeskern.gp import laplace_marginal, latent
    from bayeskern.infer import nuts

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models.gp_counts_laplace import coal_yearly

    _, x, y = coal_yearly()

    def priors():
        ls = numpyro.sample("ls", dist.LogNormal(np.log(2.0), 0.5))
        var = numpyro.sample("var", dist.LogNormal(np.log(0.5), 0.5))
        b = numpyro.sample("b", dist.Normal(0.0, 2.0))
        return Matern32(lengthscale=ls, variance=var), b

    def marginal_model(x, y):
        k, b = priors()
        laplace_marginal("f", k, x, lambda f: dist.Poisson(jnp.exp(f)), y, mean=b)

    def latent_model(x, y):
        k, b = priors()
        f = latent("f", k, x, mean=b)
        numpyro.sample("y", dist.Poisson(jnp.exp(f)), obs=y)

    print(f"\nNUTS on coal-mining yearly counts (n = {len(y)}), 2 chains x {num_samples} draws, {num_warmup} warm-up")
    print(f"{'model':>22} {'wall':>9} {'min ESS (ls,var,b)':>19} {'ESS/s':>8}")
    for label, m in (("Laplace marginal", marginal_model), ("latent field (whitened)", latent_model)):
        t0 = time.perf_counter()
        fit = nuts(m, x, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=2, progress_bar=False)
        wall = time.perf_counter() - t0
        ess = az.ess(fit.to_arviz(log_likelihood=False), var_names=["ls", "var", "b"])
        mins = min(float(ess[v].values) for v in ("ls", "var", "b"))
        print(f"{label:>22} {fmt_s(wall):>9} {mins:>19.0f} {mins / wall:>8.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="n up to 500, fewer repeats")
    ap.add_argument("--nuts", action="store_true", help="also run the NUTS comparison (minutes)")
    ap.add_argument("--threads", default=None)
    args = ap.parse_args()
    print(environment_report(THREADS, ["numpyro"]))
    sizes = [100, 250, 500] if args.quick else [100, 250, 500, 1000, 2000]
    part1(sizes, repeats=3 if args.quick else 5)
    if args.nuts:
        part2(300 if args.quick else 500, 300 if args.quick else 1000)


if __name__ == "__main__":
    main()
