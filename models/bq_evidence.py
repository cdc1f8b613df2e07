"""Model evidence by Bayesian quadrature: Bayesian linear trend for one year of Mauna Loa CO2.

``y_t = w0 + w1 t + ε``, ``w ~ N(0, I)``, ``ε ~ N(0, σ²)`` with ``σ`` fixed, on
standardised data. The prior is the integration measure; WSABI-L integrates
the likelihood. The evidence of this conjugate model is also known exactly
(``y ~ N(0, σ²I + ΦΦᵀ)``), which ``main`` prints as the reference.

Run: ``python -m models.bq_evidence``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401  (float64)
from bayeskern.quadrature import evidence

NOISE_SD = 0.5


def model(t, y=None, degree: int = 1):
    """Polynomial trend of ``degree`` in ``t`` ``(n,)`` with ``N(0, 1)`` coefficients ``w`` ``(degree + 1,)``."""
    w = numpyro.sample("w", dist.Normal(jnp.zeros(degree + 1), 1.0).to_event(1))
    mean = jnp.polyval(w[::-1], t)
    numpyro.sample("y", dist.Normal(mean, NOISE_SD), obs=y)


def exact_log_evidence(t, y, degree: int = 1) -> float:
    """``log N(y | 0, σ² I + Φ Φᵀ)`` with ``Φ = [1, t, ..., t^degree]``."""
    Phi = np.stack([t**j for j in range(degree + 1)], 1)
    C = NOISE_SD**2 * np.eye(len(t)) + Phi @ Phi.T
    _, logdet = np.linalg.slogdet(C)
    return float(-0.5 * (y @ np.linalg.solve(C, y) + logdet + len(t) * np.log(2 * np.pi)))


def load(year: int = 1995):
    from bayeskern.datasets import load_co2

    data = load_co2(start=year, end=year + 2)
    t = np.asarray(data.X, dtype=float).ravel()
    t = (t - t.mean()) / t.std()
    y = np.asarray(data.y, dtype=float)
    return t, (y - y.mean()) / y.std()


def main(n: int = 40, degree: int = 1):
    t, y = load()
    res = evidence(model, t, y=y, degree=degree, n=n)
    exact = exact_log_evidence(t, y, degree)
    print(f"log evidence (degree {degree}): BQ {res.log_evidence:.4f} (sd of p(y)/E p(y): {res.log_sd:.3f}), "
          f"exact {exact:.4f}, {res.X.shape[0]} likelihood evaluations")
    return res, exact


if __name__ == "__main__":
    main()
