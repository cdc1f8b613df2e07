"""Worked example: coal-mining disasters as a log-Gaussian Cox process, three ways.

Fits the 191 disaster dates with NUTS on the whitened field, SVI, and the
embedded Laplace marginal, prints the intensity before and after 1890 and
writes ``cox_coal_mining.png`` (intensity over time with a rug of events)
and ``cox_pines.png`` (intensity map of the Japanese pines).

Run: ``python examples/cox_coal_mining.py [outdir]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import bayeskern  # noqa: F401
from bayeskern.cox import fit
from bayeskern.datasets import load_coal_mining
from bayeskern.datasets.pines import load_japanese_pines


def main(outdir="."):
    out = Path(outdir)
    data = load_coal_mining()
    fits = {}
    for method in ("laplace", "svi", "nuts"):
        t = time.perf_counter()
        fits[method] = fit(data.X, data.window, shape=56, method=method, num_warmup=300, num_samples=300,
                           num_chains=1)
        before = fits[method].intensity(np.linspace(1855, 1885, 7)).mean()
        after = fits[method].intensity(np.linspace(1900, 1960, 7)).mean()
        print(f"{method:8s} {time.perf_counter() - t:6.1f} s   rate 1855-85: {before:.2f}/yr   1900-60: {after:.2f}/yr")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    fits["nuts"].plot(ax=ax)
    ax.set_title("Coal-mining disasters: posterior intensity (LGCP, NUTS)")
    fig.savefig(out / "cox_coal_mining.png", dpi=120, bbox_inches="tight")
    pines = load_japanese_pines()
    pf = fit(pines.X, pines.window, shape=(16, 16), method="svi", steps=2000)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    pf.plot(ax=ax)
    ax.set_title("Japanese pines: posterior mean intensity")
    fig.savefig(out / "cox_pines.png", dpi=120, bbox_inches="tight")
    return fits, pf


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["."]))
