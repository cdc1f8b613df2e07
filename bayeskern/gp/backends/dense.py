"""Dense back end: one Cholesky factorisation of ``K + diag(noise)``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from bayeskern._checks import is_concrete
from bayeskern.gp.posterior import GPPosterior
from bayeskern.linalg import add_jitter, cholesky, default_jitter, gaussian_logpdf, inverse_from_cholesky

#: Settings this back end reads from ``GaussianProcess(..., **structure_options)``: none.
OPTIONS: tuple[str, ...] = ()


def applicable(process):
    """Always usable (memory ``O(n²)``, time ``O(n³)``)."""
    return None


def log_prob(process, value):
    """Gaussian log density with the analytic gradient of ``bayeskern.linalg.gaussian_logpdf``.

    On concrete values a covariance that no allowed jitter makes positive
    definite raises ``CholeskyError``; under ``jit`` (inside samplers) it
    gives ``-inf``.
    """
    K = process.covariance_matrix
    if is_concrete(K):
        cholesky(K, name="GP covariance")
    return gaussian_logpdf(value - process.loc, K)


def pointwise_log_prob(process, value):
    """Exact LOO terms from ``K_y⁻¹`` (Rasmussen & Williams eqs. 5.10-5.12)."""
    K = process.covariance_matrix
    # Same jittered matrix as log_prob, so both describe one model.
    L = jnp.linalg.cholesky(add_jitter(K, default_jitter(K.dtype)))
    Kinv = inverse_from_cholesky(L)
    alpha = jnp.einsum("ij,...j->...i", Kinv, value - process.loc)
    var = 1.0 / jnp.diagonal(Kinv)
    return -0.5 * (jnp.log(2 * math.pi * var) + alpha * alpha * var)


def sample(process, key, sample_shape):
    """Draws ``sample_shape + (n,)`` through the Cholesky factor."""
    L = cholesky(process.covariance_matrix, name="GP covariance")
    z = jax.random.normal(key, tuple(sample_shape) + process.event_shape, dtype=L.dtype)
    return process.loc + z @ L.T


def condition(process, y):
    """A ``GPPosterior`` holding the factor and ``α``."""
    return GPPosterior.from_process(process, y)
