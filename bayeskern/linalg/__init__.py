"""Stable linear algebra: Cholesky with a jitter policy, solves, Gaussian log densities."""

from bayeskern.linalg.cholesky import (
    CholeskyError,
    JitterWarning,
    add_jitter,
    cholesky,
    default_jitter,
    max_jitter,
)
from bayeskern.linalg.gaussian import gaussian_logpdf, gaussian_logpdf_from_cholesky
from bayeskern.linalg.triangular import cho_solve, inverse_from_cholesky, logdet_from_cholesky, whiten

__all__ = [
    "CholeskyError", "JitterWarning", "add_jitter", "cholesky", "default_jitter", "max_jitter",
    "gaussian_logpdf", "gaussian_logpdf_from_cholesky", "cho_solve", "inverse_from_cholesky",
    "logdet_from_cholesky", "whiten",
]
