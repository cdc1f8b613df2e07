"""Bayes factor of a quadratic vs a linear trend for two years of Mauna Loa CO2, by Bayesian quadrature.

Each model's evidence is the integral of its likelihood over its Gaussian
prior (``models/bq_evidence.py``); WSABI-L estimates it from a few dozen
likelihood evaluations, and the conjugate closed form checks the result.

Run: ``python examples/bq_co2_evidence.py`` (30 likelihood evaluations per model).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: find models/

import bayeskern  # noqa: E402,F401
from bayeskern.quadrature import evidence  # noqa: E402
from models.bq_evidence import exact_log_evidence, load, model  # noqa: E402


def main(n: int = 30):
    t, y = load(1995)
    t0 = time.perf_counter()
    rows = {}
    for degree in (1, 2):
        res = evidence(model, t, y=y, degree=degree, n=n)
        rows[degree] = (res.log_evidence, res.log_sd, exact_log_evidence(t, y, degree))
        print(f"degree {degree}: log p(y) by WSABI-L BQ {res.log_evidence:.4f} (sd of p(y) / mean: {res.log_sd:.3f}), "
              f"exact {rows[degree][2]:.4f}, {res.X.shape[0]} likelihood evaluations")
    bq_bf = rows[2][0] - rows[1][0]
    exact_bf = rows[2][2] - rows[1][2]
    print(f"log Bayes factor, quadratic vs linear trend, Mauna Loa CO2 {len(t)} months from 1995 (standardised): "
          f"BQ {bq_bf:.3f}, exact {exact_bf:.3f}  ({time.perf_counter() - t0:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
