"""Boundary checks shared by every layer: clear ``ValueError``s before tracing.

Each check runs only on concrete values; under ``jit``/``vmap``/``grad`` the
arguments are tracers and the checks step aside (shape checks still run,
since shapes are static).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds real values (not a JAX tracer)."""
    return not isinstance(x, jax.core.Tracer)


def _all_finite(x) -> bool:
    """Check a concrete value on the host; ``jnp.asarray`` inside a trace would make it a tracer."""
    return bool(np.all(np.isfinite(np.asarray(x))))


def as_float_array(value, name: str):
    """``value`` as a JAX floating array; integers become the default float type."""
    if is_concrete(value) and not _all_finite(value):
        raise ValueError(f"{name} must be finite, got {np.asarray(value)!r}")
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def check_positive(arr, name: str, owner: str = "") -> None:
    """Raise if a concrete ``arr`` has entries <= 0."""
    if is_concrete(arr):
        values = np.asarray(arr)
        if np.any(~(values > 0)):
            where = f"{owner}: " if owner else ""
            raise ValueError(f"{where}{name} must be positive, got {values!r}")


def check_nonnegative(arr, name: str, owner: str = "") -> None:
    """Raise if a concrete ``arr`` has entries < 0 or NaN."""
    if is_concrete(arr):
        values = np.asarray(arr)
        if np.any(~(values >= 0)):
            where = f"{owner}: " if owner else ""
            raise ValueError(f"{where}{name} must be non-negative, got {values!r}")


def as_inputs(X, name: str = "X"):
    """Inputs as a 2-D array ``(n, d)``; a 1-D ``(n,)`` array becomes ``(n, 1)``.

    Raises:
        ValueError: if ``X`` has more than two dimensions or contains NaN/inf.
    """
    if is_concrete(X) and np.ndim(X) > 0 and not _all_finite(X):
        raise ValueError(f"{name} contains NaN or infinite values")
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.result_type(float))
    if X.ndim == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got a scalar")
    if X.ndim == 1:
        X = X[:, None]
    elif X.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {X.shape}")
    return X


def as_observations(y, name: str = "y"):
    """Observations as a floating array, rejecting NaN/inf when concrete."""
    if is_concrete(y) and not _all_finite(y):
        raise ValueError(f"{name} contains NaN or infinite values; drop or impute them before fitting")
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    return y
