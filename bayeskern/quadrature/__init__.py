"""Bayesian quadrature: measures, kernel mean embeddings, the BQ posterior, BQ as a NumPyro model,
point designs, warped BQ (WSABI-L) and model evidence."""

from bayeskern.quadrature.design import (
    ACQUISITIONS,
    acquisition,
    kernel_herding,
    maximize,
    mmd,
    select_batch,
)
from bayeskern.quadrature.embeddings import (
    Embedding,
    QuadratureFallbackWarning,
    embed,
    has_closed_form,
    initial_error,
    kernel_mean,
)
from bayeskern.quadrature.evidence import EvidenceResult, evidence, prior_measure
from bayeskern.quadrature.hyper import fit_kernel
from bayeskern.quadrature.integrate import BQResult, integrate
from bayeskern.quadrature.measures import Empirical, Gaussian, Measure, Uniform
from bayeskern.quadrature.model import bq_model, integral_posterior, model_defaults
from bayeskern.quadrature.posterior import (
    IntegralPosterior,
    VarianceClippedWarning,
    bq_posterior,
)
from bayeskern.quadrature.qmc import monte_carlo, sobol
from bayeskern.quadrature.thinning import kernel_thinning
from bayeskern.quadrature.warped import WSABIState, wsabi_l

__all__ = [
    "Measure", "Uniform", "Gaussian", "Empirical",
    "Embedding", "QuadratureFallbackWarning", "embed", "has_closed_form", "initial_error", "kernel_mean",
    "IntegralPosterior", "VarianceClippedWarning", "bq_posterior", "monte_carlo", "sobol",
    "ACQUISITIONS", "acquisition", "kernel_herding", "kernel_thinning", "maximize", "mmd", "select_batch",
    "fit_kernel",
    "bq_model", "integral_posterior", "model_defaults", "BQResult", "integrate", "WSABIState", "wsabi_l",
    "EvidenceResult", "evidence", "prior_measure",
]
