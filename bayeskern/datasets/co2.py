"""Mauna Loa atmospheric CO2, monthly means, March 1958 - December 2001.

Source: the weekly Mauna Loa series shipped by statsmodels
(``statsmodels.datasets.co2``), from the Carbon Dioxide Information Analysis
Center: Keeling, C.D. and T.P. Whorf (2004), *Atmospheric CO2 concentrations
derived from flask air samples at sites in the SIO network*, in Trends: A
Compendium of Data on Global Change, CDIAC, Oak Ridge National Laboratory.
Licence: public domain.

The shipped table ``mauna_loa_co2_monthly.csv`` holds the monthly means of the
weekly values (missing weeks ignored, months without any weekly value
dropped, nothing interpolated); ``_make_co2_table.py`` beside this module
re-derives it from statsmodels. bayeskern itself needs neither statsmodels nor
pandas.
"""

from __future__ import annotations

import operator

import numpy as np

from bayeskern.datasets._base import Dataset, read_table

__all__ = ["load_co2"]

_FILE = "mauna_loa_co2_monthly.csv"
_SOURCE = (
    "Keeling, C.D. and T.P. Whorf (2004). Atmospheric CO2 concentrations derived from flask "
    "air samples at sites in the SIO network. In Trends: A Compendium of Data on Global "
    "Change. Carbon Dioxide Information Analysis Center, Oak Ridge National Laboratory, "
    "U.S. Department of Energy, Oak Ridge, Tennessee, U.S.A. Weekly Mauna Loa series as "
    "shipped by statsmodels (statsmodels.datasets.co2)."
)
_DESCRIPTION = (
    "Atmospheric CO2 (ppm) from continuous air samples at Mauna Loa Observatory, Hawaii, "
    "monthly means of the weekly values, March 1958 - December 2001. X is the middle of the "
    "month in decimal years (year + (month - 0.5)/12); y is the mean of that month's "
    "weekly values, rounded to 0.01 ppm. Missing weeks are ignored and months with no "
    "weekly value are absent (no interpolation), so X is not evenly spaced everywhere."
)


def _as_positive_int(value, name: str) -> int:
    try:
        k = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if k < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return k


def load_co2(subsample: int | None = None, start: float | None = None,
             end: float | None = None) -> Dataset:
    """Load the monthly Mauna Loa CO2 series (about 520 months, 1958-2001).

    Args:
        subsample: keep every ``subsample``-th month (after the ``start``/``end``
            cut), starting from the first; ``None`` or 1 keeps all.
        start: keep months with ``X >= start`` (decimal years); ``None``: from the first.
        end: keep months with ``X <= end`` (decimal years); ``None``: to the last.

    Returns:
        A :class:`Dataset` with ``X`` ``(n,)`` float64 decimal years (strictly
        increasing) and ``y`` ``(n,)`` float64 CO2 in ppm.

    Raises:
        ValueError: if ``subsample`` is not a positive integer, or ``start``/``end``
            are not finite, out of order, or select no month.
    """
    k = 1 if subsample is None else _as_positive_int(subsample, "subsample")
    for value, name in ((start, "start"), (end, "end")):
        if value is not None and not np.isfinite(value):
            raise ValueError(f"{name} must be finite (a decimal year), got {value!r}")
    if start is not None and end is not None and not start <= end:
        raise ValueError(f"start must be <= end, got start={start!r}, end={end!r}")
    table = read_table(_FILE, ("decimal_year", "co2_ppm"))
    X, y = table["decimal_year"], table["co2_ppm"]
    keep = np.ones(X.shape, dtype=bool)
    if start is not None:
        keep &= X >= start
    if end is not None:
        keep &= X <= end
    if not keep.any():
        raise ValueError(
            f"start={start!r}, end={end!r} select no month; the data cover "
            f"{X[0]:.3f} to {X[-1]:.3f}"
        )
    X, y = X[keep][::k], y[keep][::k]
    return Dataset(
        X=np.ascontiguousarray(X), y=np.ascontiguousarray(y), name="mauna_loa_co2",
        source=_SOURCE, description=_DESCRIPTION, licence="public domain",
    )
