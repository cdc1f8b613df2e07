"""Bayesian optimisation of Branin with the ask/tell loop, with plots.

Run: ``python examples/bo_branin.py [--evals 40] [--quick] [--out DIR] [--seed S]``
(``--quick``: 20 evaluations, snapshots at 8 and 15, a coarser grid).

Writes ``DIR/bo_branin.png`` (default ``DIR``: ``./bo_branin-output``):
(top left) log10 simple regret per evaluation against Sobol search; (other
panels) the surrogate's posterior mean and the log EI acquisition over the
box at chosen iterations, with the evaluated points; and ``DIR/result.json``
(best value found, its location, the regret of BO and of Sobol search).
Branin's minimum is 0.397887, at three points.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import qmc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: find models/

import bayeskern  # noqa: E402,F401
from bayeskern.optimize import Analytic, Optimizer  # noqa: E402
from bayeskern.optimize.test_functions import PROBLEMS  # noqa: E402
from models import _cli  # noqa: E402


def surface(opt: Optimizer, n_grid: int = 60) -> tuple:
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


def main(*, evals: int | None = None, quick: bool = False, snapshots: tuple[int, ...] | None = None,
         n_grid: int | None = None, seed: int = 0, out: str = "bo_branin-output") -> dict:
    """Run BO for ``evals`` evaluations; returns the best value and point, the final BO and Sobol regrets."""
    evals = evals or (20 if quick else 40)
    snapshots = tuple(snapshots or ((8, 15) if quick else (8, 15, 30)))
    n_grid = n_grid or (30 if quick else 60)
    f, bounds, fmin = PROBLEMS["branin"]
    opt = Optimizer(bounds, seed=seed, acquisition="log_ei")
    regret, snaps = [], {}
    for i in range(evals):
        if len(opt.state.y) in snapshots:
            snaps[len(opt.state.y)] = (surface(opt, n_grid), np.asarray(opt.state.X))
        x = opt.ask(1)
        opt.tell(x, f(x))
        regret.append(opt.best()[1] - fmin)
        print(f"eval {i + 1:3d}: f = {float(f(x)[0]):9.4f}   regret = {regret[-1]:.2e}", flush=True)
    sob = f(qmc.scale(qmc.Sobol(2, seed=seed).random(evals), bounds[:, 0], bounds[:, 1]))
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
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / "bo_branin.png", dpi=110)
    plt.close(fig)
    x_best, y_best = opt.best()
    result = {"evals": evals, "best_value": float(y_best), "best_x": np.asarray(x_best), "fmin": float(fmin),
              "final_regret": float(regret[-1]), "sobol_regret": float(sob_regret[-1])}
    _cli.write_result(folder, result)
    print(f"best f = {y_best:.5f} at {np.round(np.asarray(x_best), 4)} (minimum {fmin:.6f}); final regret "
          f"{regret[-1]:.2e} (Sobol {sob_regret[-1]:.2e}); figure written to {folder / 'bo_branin.png'}")
    return result


if __name__ == "__main__":
    p = _cli.parser(__doc__, "bo_branin")
    p.add_argument("--evals", type=int, default=None, help="objective evaluations (default 40; --quick 20)")
    _cli.run(main, p)
