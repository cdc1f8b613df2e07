"""Worked example: coal-mining disasters as a log-Gaussian Cox process, three ways.

Fits the 191 disaster dates with the embedded Laplace marginal, SVI, and
NUTS on the whitened field, prints the intensity before and after 1890 for
each, and fits the Japanese pines point pattern by SVI.

Run: ``python examples/cox_coal_mining.py [--quick] [--out DIR] [--seed S]``
(defaults: 56 cells, 1 chain x (300 warm-up + 300 draws) for NUTS and the
Laplace path's hyperparameters, 3000 SVI steps, pines on 16 x 16 cells with
2000 SVI steps; ``--quick``: 28 cells, 100 + 100 draws, 1000 and 500 SVI steps
and 12 x 12 pines cells). Writes into ``DIR`` (default
``./cox_coal_mining-output``): ``cox_coal_mining.png`` (intensity over time
with a rug of events, NUTS), ``cox_pines.png`` (intensity map of the pines)
and ``result.json`` (rates 1855-85 and 1900-60 per method, expected counts).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: find models/

import bayeskern  # noqa: E402,F401
from bayeskern.cox import fit  # noqa: E402
from bayeskern.datasets import load_coal_mining  # noqa: E402
from bayeskern.datasets.pines import load_japanese_pines  # noqa: E402
from models import _cli  # noqa: E402


def main(*, quick: bool = False, seed: int = 0, out: str = "cox_coal_mining-output") -> dict:
    """Fit both data sets; returns per method the mean rates 1855-85 and 1900-60 and the expected total,
    and the pines' expected count, plus ``fits`` and ``pines_fit``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    shape, draws, svi_steps = (28, 100, 1000) if quick else (56, 300, 3000)
    data = load_coal_mining()
    fits, result = {}, {"methods": {}}
    for method in ("laplace", "svi", "nuts"):
        t = time.perf_counter()
        fits[method] = fit(data.X, data.window, shape=shape, method=method, num_warmup=draws, num_samples=draws,
                           num_chains=1, steps=svi_steps, seed=seed)
        seconds = time.perf_counter() - t
        before = float(fits[method].intensity(np.linspace(1855, 1885, 7)).mean())
        after = float(fits[method].intensity(np.linspace(1900, 1960, 13)).mean())
        result["methods"][method] = {"rate_1855_1885": before, "rate_1900_1960": after, "seconds": seconds,
                                     "expected_total": float(np.mean(fits[method].expected_count()))}
        print(f"{method:8s} {seconds:6.1f} s   rate 1855-85: {before:.2f}/yr   1900-60: {after:.2f}/yr")
    result["observed_total"] = len(data.X)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    fits["nuts"].plot(ax=ax)
    ax.set_title("Coal-mining disasters: posterior intensity (LGCP, NUTS)")
    fig.savefig(folder / "cox_coal_mining.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    pines = load_japanese_pines()
    pf = fit(pines.X, pines.window, shape=(12, 12) if quick else (16, 16), method="svi",
             steps=500 if quick else 2000, seed=seed)
    result["pines_expected_count"] = float(np.mean(pf.expected_count()))
    result["pines_observed_count"] = len(pines.X)
    print(f"pines: expected count {result['pines_expected_count']:.1f} (observed {len(pines.X)})")
    fig, ax = plt.subplots(figsize=(5, 4.5))
    pf.plot(ax=ax)
    ax.set_title("Japanese pines: posterior mean intensity")
    fig.savefig(folder / "cox_pines.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    _cli.write_result(folder, result)
    return {**result, "fits": fits, "pines_fit": pf}


if __name__ == "__main__":
    _cli.run(main, _cli.parser(__doc__, "cox_coal_mining"))
