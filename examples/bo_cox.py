"""Cox-process Bayesian optimisation: find where events concentrate by opening one window at a time.

Run: ``python examples/bo_cox.py [--windows 12] [--out bo_cox.png]``.

A simulated 1-D intensity (a broad bump and a narrow, higher one) is searched
with ``CoxSearch`` (UCB on the window-averaged log intensity). Each
evaluation observes the events of a window of width 0.1. The figure shows, at
chosen iterations, the true intensity, the posterior mean intensity with a
90% band (mixture over the kernel-hyperparameter components), the windows
opened so far, and the acquisition over candidate window centres.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import bayeskern  # noqa: F401
from bayeskern.optimize import CoxSearch


def intensity(x):
    return 20 + 400 * np.exp(-0.5 * ((x - 0.72) / 0.03) ** 2) + 150 * np.exp(-0.5 * ((x - 0.25) / 0.05) ** 2)


def observe(window, rng, lmax=570.0):
    """Events of the inhomogeneous Poisson process in ``window`` by thinning (Lewis & Shedler 1979)."""
    lo, hi = window[0]
    n = rng.poisson(lmax * (hi - lo))
    x = rng.uniform(lo, hi, n)
    return x[rng.uniform(size=n) < intensity(x) / lmax][:, None]


def main(windows=12, out="bo_cox.png", snapshots=(3, 6, 12)):
    rng = np.random.default_rng(0)
    s = CoxSearch([[0.0, 1.0]], 0.05, acquisition="ucb", seed=0)
    snaps = {}
    for k in range(1, windows + 1):
        w = s.ask()
        ev = observe(w, rng)
        s.tell(w, ev)
        post = s.fit()
        print(f"window {k:2d}: [{w[0, 0]:.3f}, {w[0, 1]:.3f}]  {len(ev):3d} events  best {s.best()[0]:.3f}")
        if k in snapshots:
            wts = np.exp(np.asarray(post.log_weight))
            mu, sd = np.asarray(post.mean), np.sqrt(np.asarray(post.var))
            # 90% band of the mixture of log-normals, by sampling its components
            draws = np.concatenate([np.exp(mu[h] + sd[h] * rng.standard_normal((int(2000 * wts[h]) + 1, mu.shape[1])))
                                    for h in range(len(wts))])
            snaps[k] = (np.asarray(s.intensity(post)), np.percentile(draws, [5, 95], axis=0),
                        np.asarray(s.scores(post)), list(s.windows))
    x = s.surrogate.centres[:, 0]
    fig, axes = plt.subplots(2, len(snaps), figsize=(4.5 * len(snaps), 6), sharex=True)
    for j, (k, (mean, band, score, wins)) in enumerate(sorted(snaps.items())):
        a = axes[0, j]
        grid = np.linspace(0, 1, 400)
        a.plot(grid, intensity(grid), "k", lw=1, label="true λ")
        a.plot(x, mean, "C0", label="posterior mean")
        a.fill_between(x, band[0], band[1], color="C0", alpha=0.25, label="90% band")
        for w in wins:
            a.axvspan(w[0, 0], w[0, 1], color="C1", alpha=0.15)
        a.set(title=f"after {k} windows", ylim=(0, 700), ylabel="intensity")
        a.legend(fontsize=7)
        axes[1, j].plot(s.candidates[:, 0], score, "C2")
        axes[1, j].set(xlabel="window centre", ylabel="UCB of window log intensity")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"located peak at {s.best()[0]:.3f} (true 0.72); figure written to {out}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--windows", type=int, default=12)
    p.add_argument("--out", default="bo_cox.png")
    a = p.parse_args()
    main(a.windows, a.out)
