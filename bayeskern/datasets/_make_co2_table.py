"""Derive ``mauna_loa_co2_monthly.csv`` from statsmodels' weekly Mauna Loa CO2 series.

Not imported by bayeskern; kept so the shipped table can be reproduced.
It needs statsmodels (and therefore pandas), which bayeskern does not depend
on, so run it from a throwaway environment::

    python3.12 -m venv /tmp/sm
    /tmp/sm/bin/pip install statsmodels
    /tmp/sm/bin/python bayeskern/datasets/_make_co2_table.py

Source: ``statsmodels.datasets.co2`` -- weekly averages of continuous CO2
measurements at Mauna Loa Observatory, Hawaii, March 1958 - December 2001
(Keeling & Whorf 2004, Carbon Dioxide Information Analysis Center, Oak Ridge
National Laboratory; public domain).

Derivation: the weekly values are grouped by calendar month (of the week's
date); each month's value is the mean of its non-missing weekly values and
``n_weekly`` counts them. Missing weeks are ignored, months with no weekly
value at all are dropped, and nothing is interpolated. ``decimal_year`` is
``year + (month - 0.5) / 12`` (the middle of the month), ``co2_ppm`` is
rounded to 0.01 ppm.
"""

from __future__ import annotations

import argparse
import pathlib
import textwrap

OUTPUT = pathlib.Path(__file__).with_name("mauna_loa_co2_monthly.csv")


def monthly_table():
    """Return a list of ``(decimal_year, co2_ppm, n_weekly)`` rows, one per month with data."""
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    groups = weekly.groupby([weekly.index.year, weekly.index.month])
    means = groups.mean()  # NaN-skipping
    counts = groups.count()  # non-NaN weekly values
    rows = []
    for (year, month), mean in means.items():
        n = int(counts[(year, month)])
        if n == 0:
            continue
        rows.append((year + (month - 0.5) / 12.0, round(float(mean), 2), n))
    return rows


def header() -> str:
    import statsmodels
    import statsmodels.api as sm

    co2 = sm.datasets.co2
    citation = " ".join(co2.SOURCE.split("Citation:")[-1].split())
    text = f"""\
    Mauna Loa atmospheric CO2, monthly means (ppm), March 1958 - December 2001.
    Source: statsmodels.datasets.co2 (statsmodels {statsmodels.__version__}), "{co2.TITLE.strip()}":
    {co2.DESCRSHORT.strip()}
    Originally from CDIAC, http://cdiac.ornl.gov/trends/co2/sio-keel-flask/sio-keel-flaskmlo_c.html
    Citation: {citation}
    Licence: public domain (statsmodels COPYRIGHT: "{co2.COPYRIGHT.strip()}").
    Derivation (bayeskern/datasets/_make_co2_table.py): monthly means of the weekly statsmodels co2
    series, grouped by the calendar month of each week's date; missing weeks ignored, months with no
    weekly value dropped, nothing interpolated.
    Columns: decimal_year = year + (month - 0.5)/12; co2_ppm = mean of the month's weekly values,
    rounded to 0.01; n_weekly = number of weekly values averaged.
    """
    return "".join("# " + line + "\n" for line in textwrap.dedent(text).strip().splitlines())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=pathlib.Path, default=OUTPUT)
    args = parser.parse_args(argv)
    rows = monthly_table()
    with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(header())
        fh.write("decimal_year,co2_ppm,n_weekly\n")
        for t, c, n in rows:
            fh.write(f"{t:.6f},{c:.2f},{n:d}\n")
    print(f"wrote {len(rows)} months to {args.output}")


if __name__ == "__main__":
    main()
