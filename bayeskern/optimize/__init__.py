"""Bayesian optimisation: acquisitions in JAX, multi-start acquisition optimisation, an ask/tell loop.

* :class:`Optimizer` / :class:`BOState`: the ask/tell loop (pytree state, ``save``/``load``).
* :class:`GPSurrogate`: the GP surrogate (Matérn-5/2 ARD, dimension-scaled or SAAS priors; MAP or NUTS).
* closed forms (:mod:`bayeskern.optimize.acquisitions`): ``expected_improvement``,
  ``log_expected_improvement``, ``probability_of_improvement``, ``upper_confidence_bound``, ...
* acquisition objects (:mod:`bayeskern.optimize.acqf`): analytic, Monte-Carlo batch (qEI/qPI/qUCB),
  noisy EI, Thompson sampling (pathwise), max-value entropy search.
* :func:`maximize_acquisition`: jit/vmap multi-start Adam from Sobol raw candidates.
* Cox-process BO (:mod:`bayeskern.optimize.cox`, :class:`CoxSearch`): windows of events, intensity
  acquisitions, on the Gaussian Cox-process surrogate :class:`CoxSurrogate` built from ``bayeskern.cox``.
* :mod:`bayeskern.optimize.test_functions`: Branin, Hartmann-6, Ackley.
"""

from bayeskern.optimize.acqf import (
    Analytic,
    MaxValueEntropy,
    MonteCarlo,
    NoisyEI,
    Thompson,
)
from bayeskern.optimize.acquisitions import (
    expected_improvement,
    log_expected_improvement,
    log_probability_of_improvement,
    probability_of_improvement,
    upper_confidence_bound,
)
from bayeskern.optimize.cox import COX_ACQUISITIONS, CoxSearch
from bayeskern.optimize.cox_surrogate import CoxSurrogate
from bayeskern.optimize.maximize import maximize_acquisition, raw_candidates
from bayeskern.optimize.optimizer import ACQUISITIONS, BOState, Optimizer
from bayeskern.optimize.surrogate import GPSurrogate

__all__ = [
    "ACQUISITIONS",
    "COX_ACQUISITIONS",
    "Analytic",
    "BOState",
    "CoxSearch",
    "CoxSurrogate",
    "GPSurrogate",
    "MaxValueEntropy",
    "MonteCarlo",
    "NoisyEI",
    "Optimizer",
    "Thompson",
    "expected_improvement",
    "log_expected_improvement",
    "log_probability_of_improvement",
    "maximize_acquisition",
    "probability_of_improvement",
    "raw_candidates",
    "upper_confidence_bound",
]
