"""Counts (numbers of points, evaluations, restarts, steps, cells) checked instead of coerced.

Policy (issue 15, "silent coercion"): a count is accepted when it is a Python
``int`` or NumPy integer, or a float with an integral value (``1e3``, ``4.0``:
nothing is lost by taking it as an integer). Everything else is refused, never
truncated: ``3.7`` raises a ``ValueError`` naming the argument (``int(3.7)``
would silently give 3); ``True``, ``"3"``, ``None`` and other non-numbers raise
a ``TypeError``; NaN, infinities and values below the minimum raise a
``ValueError``.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_count(value, name: str, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum``, or a ``TypeError``/``ValueError`` naming ``name``.

    Args:
        value: the count as given.
        name: the argument's name, for the message.
        minimum: the smallest accepted value.

    Raises:
        TypeError: ``value`` is not a number (bools and strings included).
        ValueError: ``value`` is not integral, not finite, or below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
            return as_count(value.item(), name, minimum=minimum)
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if isinstance(value, (numbers.Integral, np.integer)):
        out = int(value)
    else:
        v = float(value)
        if not np.isfinite(v):
            raise ValueError(f"{name} must be a finite integer, got {value!r}")
        if not v.is_integer():
            raise ValueError(
                f"{name} must be an integer, got {value!r}; it is not truncated: pass round({value!r}) "
                f"= {round(v)} or the integer you meant"
            )
        out = int(v)
    if out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return out
