"""Bayesian optimisation of Branin with the ask/tell loop, with plots.

Run: ``python examples/bo_branin.py [--evals 40] [--out bo_branin.png]``.

Writes one figure: (top left) log10 simple regret per evaluation against
Sobol search; (other panels) the surrogate's posterior mean and the log EI
acquisition over the box at chosen iterations, with the evaluated points.
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import qmc

import bayeskern  # noqa: F401
from bayeskern.optimize import Analytic, Optimizer
from bayeskern.optimize.test_functions import PROBLEMS


def surface(opt, n_grid=60):
    """Posterior mean (original units) and log EI on an ``n_grid²`` grid of the box."""
    g = np.linspace(0, 1, n_grid)
    U = np.array(np.meshgrid(g, g)).reshape(2, -1).T
    params, cache, _, (loc, scale) = opt.fit()
    mu, _ = opt.surrogate.predict(cache, jnp.asarray(U))
    Xu, yu, _, _ = opt._training_data()
    acq = Analytic(opt.surrogate, cache, yu.max(), "log_ei", chunk=1)(jnp.asarray(U)[:, None, :])
    mean = -(np.asarray(mu[0]) * scale + loc)  # back to the minimised objective
    X = np.asarray(opt.from_unit(U))
    return X[:, 0].reshape(n_grid, n_grid), X[:, 1].reshape(n_grid, n_grid), mean.reshape(n_grid, n_grid), \
        np.asarray(acq).reshape(n_grid, n_grid)


def main(evals=40, out="bo_branin.png", snapshots=(8, 15, 30)):
    f, bounds, fmin = PROBLEMS["branin"]
    opt = Optimizer(bounds, seed=0, acquisition="log_ei")
    regret, snaps = [], {}
    for i in range(evals):
        if len(opt.state.y) in snapshots:
            snaps[len(opt.state.y)] = (surface(opt), np.asarray(opt.state.X))
        x = opt.ask(1)
        opt.tell(x, f(x))
        regret.append(opt.best()[1] - fmin)
        print(f"eval {i + 1:3d}: f = {float(f(x)[0]):9.4f}   regret = {regret[-1]:.2e}", flush=True)
    sob = f(qmc.scale(qmc.Sobol(2, seed=0).random(evals), bounds[:, 0], bounds[:, 1]))
    sob_regret = np.minimum.accumulate(sob) - fmin
    fig, axes = plt.subplots(2, 1 + len(snaps), figsize=(4 * (1 + len(snaps)), 7))
    ax = axes[0, 0]
    ax.plot(np.arange(1, evals + 1), np.log10(np.maximum(regret, 1e-12)), label="BO (log EI)")
    ax.plot(np.arange(1, evals + 1), np.log10(np.maximum(sob_regret, 1e-12)), label="Sobol")
    ax.set(xlabel="evaluations", ylabel="log10 simple regret", title="Branin")
    ax.legend()
    axes[1, 0].axis("off")
    for j, (n, ((A, B, mean, acq), X)) in enumerate(sorted(snaps.items())):
        for row, (Z, title) in enumerate([(mean, f"posterior mean, n = {n}"), (acq, f"log EI, n = {n}")]):
            a = axes[row, j + 1]
            cs = a.contourf(A, B, Z, levels=30)
            fig.colorbar(cs, ax=a)
            a.scatter(X[:, 0], X[:, 1], c="w", s=10, edgecolors="k")
            a.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"final regret {regret[-1]:.2e}; figure written to {out}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--evals", type=int, default=40)
    p.add_argument("--out", default="bo_branin.png")
    a = p.parse_args()
    main(a.evals, a.out)
