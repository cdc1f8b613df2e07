"""Model evidence by Bayesian quadrature: Bayesian linear trend for one year of Mauna Loa CO2.

``y_t = w0 + w1 t + ε``, ``w ~ N(0, I)``, ``ε ~ N(0, σ²)`` with ``σ`` fixed, on
standardised data. The prior is the integration measure; WSABI-L integrates
the likelihood. The evidence of this conjugate model is also known exactly
(``y ~ N(0, σ²I + ΦΦᵀ)``), which ``main`` prints as the reference.

Run: ``python -m models.bq_evidence [--n 40] [--degree 1] [--quick] [--out DIR] [--seed S]``
(``--quick``: 24 likelihood evaluations). Prints the BQ and the exact log
evidence; writes ``DIR/result.json`` (default ``DIR``: ``./bq_evidence-output``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401  (float64)
from bayeskern.quadrature import evidence

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]

NOISE_SD = 0.5


def model(t, y=None, degree: int = 1):
    """Polynomial trend of ``degree`` in ``t`` ``(n,)`` with ``N(0, 1)`` coefficients ``w`` ``(degree + 1,)``."""
    w = numpyro.sample("w", dist.Normal(jnp.zeros(degree + 1), 1.0).to_event(1))
    mean = jnp.polyval(w[::-1], t)
    numpyro.sample("y", dist.Normal(mean, NOISE_SD), obs=y)


def exact_log_evidence(t: np.ndarray, y: np.ndarray, degree: int = 1) -> float:
    """``log N(y | 0, σ² I + Φ Φᵀ)`` with ``Φ = [1, t, ..., t^degree]``."""
    Phi = np.stack([t**j for j in range(degree + 1)], 1)
    C = NOISE_SD**2 * np.eye(len(t)) + Phi @ Phi.T
    _, logdet = np.linalg.slogdet(C)
    return float(-0.5 * (y @ np.linalg.solve(C, y) + logdet + len(t) * np.log(2 * np.pi)))


def load(year: int = 1995) -> tuple[np.ndarray, np.ndarray]:
    from bayeskern.datasets import load_co2

    data = load_co2(start=year, end=year + 2)
    t = np.asarray(data.X, dtype=float).ravel()
    t = (t - t.mean()) / t.std()
    y = np.asarray(data.y, dtype=float)
    return t, (y - y.mean()) / y.std()


def main(*, n: int | None = None, degree: int = 1, quick: bool = False, seed: int = 0,
         out: str | None = "bq_evidence-output") -> dict:
    """Estimate the log evidence with ``n`` likelihood evaluations; returns the BQ estimate, its relative sd,
    the exact value and the number of evaluations (and ``res``, the ``EvidenceResult``)."""
    n = n or (24 if quick else 40)
    t, y = load()
    res = evidence(model, t, y=y, degree=degree, n=n, seed=seed)
    exact = exact_log_evidence(t, y, degree)
    print(f"log evidence (degree {degree}): BQ {res.log_evidence:.4f} (sd of p(y)/E p(y): {res.log_sd:.3f}), "
          f"exact {exact:.4f}, {res.X.shape[0]} likelihood evaluations")
    result = {"degree": degree, "log_evidence_bq": float(res.log_evidence), "log_sd": float(res.log_sd),
              "log_evidence_exact": exact, "evaluations": int(res.X.shape[0])}
    if out is not None:
        _cli.write_result(out, result)
    return {**result, "res": res}


def parser():
    p = _cli.parser(__doc__, "bq_evidence")
    p.add_argument("--n", type=int, default=None, help="likelihood evaluations (default 40; --quick 24)")
    p.add_argument("--degree", type=int, default=1, help="degree of the polynomial trend (default 1)")
    return p


if __name__ == "__main__":
    _cli.run(main, parser())
