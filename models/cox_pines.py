"""Japanese pines (65 saplings, unit square) as a 2-D log-Gaussian Cox process on a Kronecker grid.

Run: ``python -m models.cox_pines [nuts|svi|laplace] [--quick] [--out DIR] [--seed S]``.
Defaults: a 16 x 16 grid, 4 chains x (500 warm-up + 500 draws); ``--quick``:
a 12 x 12 grid, 2 chains x (150 + 150) (SVI: 3000 steps, ``--quick`` 1000).
Prints the posterior intensity range, the expected count and the implied
pair correlation; writes ``DIR/result.json`` and ``DIR/cox_pines.png`` (the
posterior mean intensity map with the saplings); default ``DIR`` is
``./cox_pines-output``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import bayeskern  # noqa: F401

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]

METHODS = ("nuts", "svi", "laplace")


def main(method: str = "nuts", *, quick: bool = False, shape: tuple[int, int] | None = None,
         num_warmup: int | None = None, num_samples: int | None = None, num_chains: int | None = None,
         steps: int | None = None, seed: int = 0, out: str | None = "cox_pines-output") -> dict:
    """Fit by ``method``; returns the intensity range, expected and observed counts, the pair correlation at
    r = 0, 0.1, 0.3 and (NUTS, Laplace) verdict numbers (and ``fit``)."""
    from bayeskern.cox import fit
    from bayeskern.datasets.pines import load_japanese_pines
    from bayeskern.diagnostics import check

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    shape = tuple(shape) if shape else ((12, 12) if quick else (16, 16))
    num_warmup = num_warmup or (150 if quick else 500)
    num_samples = num_samples or (150 if quick else 500)
    num_chains = num_chains or (2 if quick else 4)
    steps = steps or (1000 if quick else 3000)
    data = load_japanese_pines()
    structure = "auto" if method == "laplace" else "kronecker"
    t0 = time.perf_counter()
    res = fit(data.X, data.window, shape=shape, method=method, structure=structure, num_warmup=num_warmup,
              num_samples=num_samples, num_chains=num_chains, steps=steps, seed=seed)
    seconds = time.perf_counter() - t0
    s = res.intensity_summary(threshold=100.0)
    g = np.median(res.pair_correlation([0.0, 0.1, 0.3]), axis=0)
    result = {
        "method": method, "seconds": seconds, "shape": list(shape),
        "intensity_min": float(s["mean"].min()), "intensity_max": float(s["mean"].max()),
        "cells_above_100": int(np.sum(s["exceedance"] > 0.5)), "n_cells": int(res.grid.size),
        "expected_count": float(np.mean(res.expected_count())), "observed_count": len(data.X),
        "pair_correlation": [float(v) for v in g],
    }
    print(f"posterior mean intensity per unit area: min {result['intensity_min']:.1f}, "
          f"max {result['intensity_max']:.1f}")
    print(f"cells with P(intensity > 100) > 0.5: {result['cells_above_100']} of {res.grid.size}")
    print(f"expected count {result['expected_count']:.1f} (observed {len(data.X)}); {method} {seconds:.1f} s")
    print("pair correlation at r = 0, 0.1, 0.3:", np.round(g, 3))
    if method != "svi":
        verdict = check(res)
        print(verdict)
        result["verdict"] = _cli.verdict_numbers(verdict)
    if out is not None:
        _cli.write_result(out, result)
        plt = _cli.pyplot()
        fig, ax = plt.subplots(figsize=(5, 4.5))
        res.plot(ax=ax)
        ax.set_title(f"Japanese pines: posterior mean intensity ({method})")
        fig.savefig(Path(out) / "cox_pines.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
    return {**result, "fit": res}


def parser():
    p = _cli.parser(__doc__, "cox_pines")
    p.add_argument("method", nargs="?", default="nuts", choices=METHODS, help="inference method (default nuts)")
    return p


if __name__ == "__main__":
    _cli.run(main, parser())
