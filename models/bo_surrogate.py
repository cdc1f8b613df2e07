"""The Bayesian-optimisation surrogate as a NumPyro model: Matérn-5/2 ARD GP with dimension-scaled or SAAS priors.

Run: ``python -m models.bo_surrogate [--saas]`` fits the surrogate by NUTS to
20 Sobol evaluations of Hartmann-6 (inputs already in the unit cube,
outputs standardised), prints the ArviZ-backed diagnostic verdict and the
posterior lengthscales (under SAAS most should be long: few of the six
dimensions matter much), then runs 5 fully Bayesian BO steps.
"""

from __future__ import annotations

import sys

import numpy as np

import bayeskern  # noqa: F401  (float64)
from bayeskern.optimize import GPSurrogate, Optimizer
from bayeskern.optimize.test_functions import PROBLEMS


def model(X, y=None, mask=None, prior: str = "dimension_scaled", prefix: str = "gp"):
    """``y ~ GP(mean, Matern52_ARD) + N(0, noise)`` at unit-cube ``X`` ``(n, d)``, ``y`` ``(n,)`` standardised.

    Sites: ``{prefix}_lengthscale`` ``(d,)`` (deterministic under SAAS, with ``{prefix}_tau``,
    ``{prefix}_rho``), ``{prefix}_variance``, ``{prefix}_noise``, ``{prefix}_mean``, ``y``.
    """
    return GPSurrogate(prior=prior, prefix=prefix).model(X, y, mask)


def main(saas: bool = False, num_samples: int = 256):
    from scipy.stats import qmc

    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    f, bounds, fmin = PROBLEMS["hartmann6"]
    X = qmc.Sobol(6, seed=0).random(20)
    y = f(X)
    ys = (y - y.mean()) / y.std()
    prior = "saas" if saas else "dimension_scaled"
    fit = nuts(model, X, ys, None, prior, num_warmup=num_samples, num_samples=num_samples, num_chains=2,
               progress_bar=False)
    print(check(fit))
    if saas:
        ls = 1 / np.sqrt(fit.samples["gp_rho"])
    else:
        ls = fit.samples["gp_lengthscale"]
    print("posterior median lengthscales:", np.round(np.median(ls, axis=0), 3))
    opt = Optimizer(bounds, seed=0, inference="nuts", surrogate=GPSurrogate(prior=prior), nuts_warmup=128,
                    nuts_samples=128, nuts_thinning=8)
    opt.tell(X, y)
    for i in range(5):
        x = opt.ask(1)
        opt.tell(x, f(x))
        print(f"step {i}: y = {float(f(x)[0]):.4f}, regret {opt.best()[1] - fmin:.4f}")


if __name__ == "__main__":
    main(saas="--saas" in sys.argv)
