"""Coal-mining disasters 1851-1962 as a 1-D log-Gaussian Cox process (Matérn-5/2 field, binned yearly).

Run: ``python -m models.cox_coal [nuts|svi|laplace] [--quick] [--out DIR] [--seed S]``
(``nuts``: NUTS on the whitened field; ``svi``: a variational fit;
``laplace``: the field integrated out by Laplace's method, NUTS over the
hyperparameters). Defaults: 56 yearly-ish cells (2 years each), 4 chains x
(500 warm-up + 500 draws); ``--quick``: 28 cells, 2 chains x (100 + 100) (SVI:
3000 steps, ``--quick`` 1000). Prints the
posterior intensity per decade; the well-known drop around 1890 (about 3
disasters a year before, under 1 after) should be visible. Writes
``DIR/result.json`` (rates before/after, expected total, verdict numbers) and
``DIR/cox_coal.png`` (posterior intensity with a rug of the events); default
``DIR`` is ``./cox_coal-output``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import bayeskern  # noqa: F401
from bayeskern.cox import cox_grid_model  # noqa: F401  (the model piece used by fit)

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]

METHODS = ("nuts", "svi", "laplace")


def main(method: str = "nuts", *, quick: bool = False, shape: int | None = None, num_warmup: int | None = None,
         num_samples: int | None = None, num_chains: int | None = None, steps: int | None = None, seed: int = 0,
         out: str | None = "cox_coal-output") -> dict:
    """Fit by ``method``; returns mean rates 1855-85 and 1900-60 (per year), expected and observed totals,
    verdict numbers (NUTS and Laplace) (and ``fit``)."""
    from bayeskern.cox import fit
    from bayeskern.datasets import load_coal_mining
    from bayeskern.diagnostics import check

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    shape = shape or (28 if quick else 56)
    num_warmup = num_warmup or (100 if quick else 500)
    num_samples = num_samples or (100 if quick else 500)
    num_chains = num_chains or (2 if quick else 4)
    steps = steps or (1000 if quick else 3000)
    data = load_coal_mining()
    t0 = time.perf_counter()
    res = fit(data.X, data.window, shape=shape, method=method, num_warmup=num_warmup, num_samples=num_samples,
              num_chains=num_chains, steps=steps, seed=seed)
    seconds = time.perf_counter() - t0
    years = np.arange(1855, 1962, 10.0)
    s = np.quantile(res.intensity(years), [0.05, 0.5, 0.95], axis=0)
    for y, lo, med, hi in zip(years, *s, strict=True):
        print(f"{y:.0f}: {med:5.2f} per year  (90% {lo:4.2f}-{hi:4.2f})")
    before = res.intensity(np.linspace(1855.0, 1885.0, 7)).mean(1)
    after = res.intensity(np.linspace(1900.0, 1960.0, 13)).mean(1)
    total = res.expected_count()
    result = {
        "method": method, "seconds": seconds, "rate_1855_1885": float(before.mean()),
        "rate_1900_1960": float(after.mean()), "prob_rate_dropped": float(np.mean(before > after)),
        "expected_total": float(np.mean(total)), "observed_total": len(data.X),
    }
    print(f"expected total {result['expected_total']:.1f} (observed {len(data.X)}); mean rate 1855-85 "
          f"{result['rate_1855_1885']:.2f}/yr, 1900-60 {result['rate_1900_1960']:.2f}/yr; {method} {seconds:.1f} s")
    if method != "svi":
        verdict = check(res)
        print(verdict)
        result["verdict"] = _cli.verdict_numbers(verdict)
    if out is not None:
        _cli.write_result(out, result)
        plt = _cli.pyplot()
        fig, ax = plt.subplots(figsize=(8, 3.5))
        res.plot(ax=ax)
        ax.set_title(f"Coal-mining disasters: posterior intensity (LGCP, {method})")
        fig.savefig(Path(out) / "cox_coal.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
    return {**result, "fit": res}


def parser():
    p = _cli.parser(__doc__, "cox_coal")
    p.add_argument("method", nargs="?", default="nuts", choices=METHODS, help="inference method (default nuts)")
    return p


if __name__ == "__main__":
    _cli.run(main, parser())
