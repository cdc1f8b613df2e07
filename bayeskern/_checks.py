"""Boundary checks shared by every layer: clear ``ValueError``s before tracing.

Each check runs only on concrete values; under ``jit``/``vmap``/``grad`` the
arguments are tracers and the checks step aside (shape checks still run,
since shapes are static).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds real values (not a JAX tracer)."""
    return not isinstance(x, jax.core.Tracer)


def _all_finite(x) -> bool:
    """Check a concrete value on the host; ``jnp.asarray`` inside a trace would make it a tracer."""
    return bool(np.all(np.isfinite(np.asarray(x))))


def _is_real_dtype(dtype, allow_bool: bool) -> bool:
    if jnp.issubdtype(dtype, jnp.bool_):
        return allow_bool
    return bool(jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer))


def _describe(value, arr=None) -> str:
    """A short phrase for what a refused value is ("the string '1.0'", "complex values", ...)."""
    if value is None:
        return "None"
    if isinstance(value, (str, bytes)):
        return f"the string {value!r}"
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {value!r}"
    dtype = getattr(arr if arr is not None else value, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jnp.complexfloating):
        return "complex values"
    if dtype is not None and jnp.issubdtype(dtype, jnp.bool_):
        return "booleans"
    if dtype is not None and dtype.kind in "US":
        return f"strings (dtype {dtype})"
    if dtype is not None and dtype != object:
        return f"values of dtype {dtype}"
    if isinstance(arr, np.ndarray) and arr.dtype == object and arr.ndim > 0:
        bad = next((v for v in arr.ravel() if not isinstance(v, numbers.Real) or isinstance(v, (bool, np.bool_))), None)
        return f"an array holding {_describe(bad)}"
    text, kind = repr(value), type(value).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"{article} {kind} ({text if len(text) <= 40 else text[:37] + '...'})"


def _hint(value) -> str:
    if isinstance(value, (str, bytes)):
        try:
            return f"; pass the number itself, e.g. {float(value)!r}, not a string"
        except ValueError:
            return ""
    dtype = getattr(value, "dtype", None)
    if isinstance(value, complex) or (dtype is not None and jnp.issubdtype(dtype, jnp.complexfloating)):
        return "; pass the real part (np.real(...)) if that is what you mean"
    return ""


def as_real(
    value,
    name: str,
    *,
    allow_bool: bool = True,
    accepted: str = "real numbers (floats or ints)",
):
    """Refuse, with a ``TypeError`` naming ``name``, a value that does not hold real numbers.

    Strings, ``None``, arbitrary objects, complex numbers (and booleans when
    ``allow_bool`` is False) are refused. A JAX array or tracer comes back
    unchanged (its dtype is checked: dtypes are static under a trace); any
    other value comes back as a NumPy array (an object array of real Python
    numbers becomes a float array).
    """

    def refuse(arr=None, err=None):
        raise TypeError(f"{name} must be {accepted}, got {_describe(value, arr)}{_hint(value)}") from err

    if isinstance(value, jax.Array) or not is_concrete(value):
        if not _is_real_dtype(value.dtype, allow_bool):
            refuse(value)
        return value
    if value is None or isinstance(value, (str, bytes)):
        refuse()
    try:
        arr = np.asarray(value)
    except jax.errors.TracerArrayConversionError:
        # A sequence holding tracers (values sampled inside a model): only its dtype can be checked.
        arr = jnp.asarray(value)
        if not _is_real_dtype(arr.dtype, allow_bool):
            refuse(arr)
        return arr
    except (TypeError, ValueError) as err:  # ragged nested sequences and the like
        refuse(None, err)
    if arr.dtype == object:
        ok = all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in arr.ravel())
        if not ok:
            refuse(arr)
        arr = arr.astype(float)
    if not _is_real_dtype(arr.dtype, allow_bool):
        refuse(arr)
    return arr


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


def as_inputs(X, name: str = "X", *, nonempty: bool = False):
    """Inputs as a 2-D array ``(n, d)``; a 1-D ``(n,)`` array becomes ``(n, 1)``.

    Raises:
        TypeError: if ``X`` does not hold real numbers (strings, objects, complex).
        ValueError: if ``X`` has more than two dimensions or contains NaN/inf; with
            ``nonempty=True`` also if it has no points (``n == 0``) or no columns (``d == 0``).
    """
    X = as_real(X, name)
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
    if nonempty and 0 in X.shape:
        raise ValueError(
            f"{name} must hold at least one point with at least one coordinate, got shape {X.shape}"
        )
    return X


def as_observations(y, name: str = "y"):
    """Observations as a floating array, rejecting NaN/inf when concrete (and non-numbers always)."""
    y = as_real(y, name)
    if is_concrete(y) and not _all_finite(y):
        raise ValueError(f"{name} contains NaN or infinite values; drop or impute them before fitting")
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    return y
