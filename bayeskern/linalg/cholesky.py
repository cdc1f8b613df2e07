"""Cholesky factorisation with an explicit, reported jitter policy.

Policy:
  * a small default jitter, relative to the mean diagonal and set by dtype
    (``1e-10`` in float64, ``1e-6`` in float32), is always added;
  * on concrete (non-traced) matrices a failed factorisation is retried
    with the jitter multiplied by 10 up to ``max_jitter``; success after
    escalation issues a ``JitterWarning`` stating the jitter used, failure
    raises ``CholeskyError`` (never NaN);
  * under ``jit``/``grad``/``vmap`` (e.g. inside NUTS) no escalation is
    attempted: the factor of a matrix that is not positive definite is
    non-finite and the log densities built on it return ``-inf``, which
    the sampler treats as a rejected proposal. Growing jitter silently
    inside a sampler would change the model between iterations.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np

from bayeskern._checks import is_concrete


class CholeskyError(ValueError):
    """The matrix is not positive definite even with the largest allowed jitter."""


class JitterWarning(UserWarning):
    """The default jitter was not enough and a larger one was used."""


def default_jitter(dtype) -> float:
    """Relative jitter (multiplies the mean diagonal) used first for ``dtype``."""
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-6


def max_jitter(dtype) -> float:
    """Largest relative jitter tried before giving up."""
    return 1e-4 if jnp.finfo(dtype).bits >= 64 else 1e-2


def add_jitter(K, relative_jitter):
    """``K + relative_jitter · mean(diag K) · I`` for ``K`` ``(..., n, n)``."""
    diag_mean = jnp.mean(jnp.diagonal(K, axis1=-2, axis2=-1), axis=-1)
    n = K.shape[-1]
    return K + (relative_jitter * diag_mean)[..., None, None] * jnp.eye(n, dtype=K.dtype)


def cholesky(K, *, jitter: float | None = None, name: str = "K"):
    """Lower Cholesky factor ``(..., n, n)`` of ``K`` ``(..., n, n)`` under the jitter policy.

    Args:
        K: symmetric positive (semi-)definite matrix or batch of them.
        jitter: relative jitter to start from; defaults to ``default_jitter(K.dtype)``.
        name: what to call ``K`` in errors and warnings.

    Raises:
        ValueError: if ``K`` is not square.
        CholeskyError: (concrete ``K`` only) if no jitter up to ``max_jitter`` works.
    """
    K = jnp.asarray(K)
    if K.ndim < 2 or K.shape[-1] != K.shape[-2]:
        raise ValueError(f"{name} must be a square matrix (..., n, n), got shape {K.shape}")
    first = default_jitter(K.dtype) if jitter is None else float(jitter)
    L = jnp.linalg.cholesky(add_jitter(K, first))
    if not is_concrete(L):
        return L
    if bool(jnp.all(jnp.isfinite(L))):
        return L
    if not bool(jnp.all(jnp.isfinite(K))):
        raise CholeskyError(f"{name} contains NaN or infinite entries")
    current, top = first, max_jitter(K.dtype)
    while current < top:
        current = min(current * 10.0, top)
        L = jnp.linalg.cholesky(add_jitter(K, current))
        if bool(jnp.all(jnp.isfinite(L))):
            warnings.warn(
                f"{name} was not numerically positive definite; Cholesky needed a relative jitter of "
                f"{current:.1e} (x mean diagonal) instead of {first:.1e}. Consider a larger noise "
                f"variance or a longer lengthscale.",
                JitterWarning,
                stacklevel=2,
            )
            return L
    eig = np.linalg.eigvalsh(np.asarray(K, dtype=np.float64))
    raise CholeskyError(
        f"{name} is not positive definite even with a relative jitter of {top:.1e}: smallest eigenvalue "
        f"{eig.min():.3e}, largest {eig.max():.3e}. The kernel or its hyperparameters do not define "
        f"a valid covariance for these inputs."
    )


def cholesky_is_finite(L):
    """Boolean (batch) mask: factor ``L`` ``(..., n, n)`` has only finite entries."""
    return jnp.all(jnp.isfinite(L), axis=(-2, -1))

