"""Short text and HTML summaries of bayeskern objects, for ``__repr__`` and notebooks.

One place for the formatting rules, so every object explains itself the
same way and never dumps a whole array:

- :func:`short` turns one value into a few characters: numbers to 4
  significant digits, arrays of at most 4 entries as a list, larger arrays
  as ``(shape) dtype in [min, max]``, JAX tracers (inside ``jit``/``grad``/
  NUTS) as ``<traced (shape)>``, objects with their own ``repr`` as that.
- :func:`call_repr` builds ``Name(field=value, ...)`` from already-short fields.
- :func:`html_table` builds a small two-column HTML table (``_repr_html_``)
  with every cell escaped.

Any class can use them: give it ``__repr__`` returning
``call_repr(type(self).__name__, {...})`` and ``_repr_html_`` returning
``html_table(title, {...})`` over the same facts. Example::

    from bayeskern._display import call_repr, html_table, short

    class Result:
        def _facts(self):
            return {"estimate": short(self.mean), "draws": short(self.samples)}

        def __repr__(self):
            return call_repr("Result", self._facts())

        def _repr_html_(self):
            return html_table("Result", self._facts())
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

#: Arrays with at most this many entries are shown in full.
MAX_LISTED = 4


def _is_tracer(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def _number(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.4g}"


def _listed(a: np.ndarray) -> str:
    if a.ndim == 0:
        return _number(a.item())
    return "[" + ", ".join(_listed(x) for x in a) + "]"


def shape_str(shape) -> str:
    """``(3,)``, ``(2, 4)`` or ``()``: a shape as Python writes a tuple."""
    return str(tuple(int(s) for s in shape))


def short(value: Any, max_listed: int = MAX_LISTED) -> str:
    """A few characters describing ``value`` (never a full array dump).

    Args:
        value: a number, array (NumPy or JAX), JAX tracer, string, ``None``,
            or any object (then its own ``repr``).
        max_listed: arrays with at most this many entries are listed in full.

    Returns:
        e.g. ``"0.5"``, ``"[0.5, 2]"``, ``"(100,) float64 in [0.01, 3.2]"``,
        ``"<traced (3,)>"``.
    """
    if value is None:
        return "None"
    if _is_tracer(value):
        return f"<traced {shape_str(np.shape(value))}>"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return _number(value)
    if isinstance(value, (np.ndarray, jax.Array)):
        a = np.asarray(value)
        if a.size <= max_listed and a.dtype.kind in "biuf":
            return _listed(a)
        if a.size == 0:
            return f"{shape_str(a.shape)} {a.dtype}"
        if a.dtype.kind in "iuf":
            finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
            if finite.size:
                return f"{shape_str(a.shape)} {a.dtype} in [{_number(finite.min())}, {_number(finite.max())}]"
        return f"{shape_str(a.shape)} {a.dtype}"
    return repr(value)


def call_repr(name: str, fields: Mapping[str, str] | None = None, positional: list[str] | tuple = ()) -> str:
    """``name(p1, p2, key=value, ...)`` from already-formatted strings (see :func:`short`)."""
    parts = list(positional) + [f"{k}={v}" for k, v in (fields or {}).items()]
    return f"{name}({', '.join(parts)})"


def html_table(title: str, rows: Mapping[str, Any]) -> str:
    """A small two-column HTML table (``<table>`` with a caption), every cell HTML-escaped.

    Args:
        title: the caption, e.g. the class name.
        rows: label -> value; values that are not strings go through :func:`short`.

    Returns:
        An HTML string starting with ``<table``, for ``_repr_html_``.
    """
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td style='text-align:left'><code>{html.escape(v if isinstance(v, str) else short(v))}</code></td></tr>"
        for k, v in rows.items()
    )
    return f"<table><caption style='text-align:left'><b>{html.escape(title)}</b></caption>{cells}</table>"
