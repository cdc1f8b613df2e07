"""Bayes factor of a quadratic vs a linear trend for two years of Mauna Loa CO2, by Bayesian quadrature.

Each model's evidence is the integral of its likelihood over its Gaussian
prior (``models/bq_evidence.py``); WSABI-L estimates it from a few dozen
likelihood evaluations, and the conjugate closed form checks the result.

Run: ``python examples/bq_co2_evidence.py`` (a few minutes on a laptop CPU).
"""

from __future__ import annotations


import bayeskern  # noqa: F401
from bayeskern.quadrature import evidence
from models.bq_evidence import exact_log_evidence, load, model


def main(n: int = 40):
    t, y = load(1995)
    rows = {}
    for degree in (1, 2):
        res = evidence(model, t, y=y, degree=degree, n=n)
        rows[degree] = (res.log_evidence, res.log_sd, exact_log_evidence(t, y, degree))
        print(f"degree {degree}: log p(y) BQ {res.log_evidence:.4f} ± {res.log_sd:.3f} (relative), "
              f"exact {rows[degree][2]:.4f}")
    bq_bf = rows[2][0] - rows[1][0]
    exact_bf = rows[2][2] - rows[1][2]
    print(f"log Bayes factor quadratic vs linear: BQ {bq_bf:.3f}, exact {exact_bf:.3f}")
    return rows


if __name__ == "__main__":
    main()
