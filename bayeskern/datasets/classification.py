"""Binary classification sets bundled with scikit-learn, and reproducible k-fold splits.

scikit-learn is not a core dependency of bayeskern: it is imported only when
:func:`load_classification` is called (it is in the ``test`` extra). The data
ship inside scikit-learn, so nothing is downloaded.

- ``"breast_cancer"``: Breast Cancer Wisconsin (Diagnostic), Wolberg, Street
  & Mangasarian (UCI Machine Learning Repository), 569 x 30; licence CC BY 4.0
  (UCI), distributed with scikit-learn (BSD-3-Clause).
- ``"iris"``: Fisher's iris data (Fisher 1936), reduced to the two species that
  are not linearly separable, versicolor (0) vs virginica (1), 100 x 4; public
  domain.
"""

from __future__ import annotations

import operator

import numpy as np

from bayeskern.datasets._base import Dataset

__all__ = ["load_classification", "train_test_folds", "CLASSIFICATION_SETS"]

CLASSIFICATION_SETS = ("breast_cancer", "iris")


def _sklearn_datasets():
    try:
        import sklearn.datasets
    except ImportError as err:
        raise ImportError(
            "load_classification needs scikit-learn, which bayeskern does not install by "
            "default: pip install scikit-learn (or install bayeskern[test])"
        ) from err
    return sklearn.datasets


def load_classification(name: str = "breast_cancer") -> Dataset:
    """Load a binary classification set shipped with scikit-learn.

    Inputs are returned raw (not standardised: scaling is the model's job).

    Args:
        name: ``"breast_cancer"`` (569 x 30; y = 1 benign, 0 malignant, scikit-learn's
            coding) or ``"iris"`` (100 x 4; y = 0 versicolor, 1 virginica).

    Returns:
        A :class:`Dataset` with ``X`` ``(n, d)`` float64, ``y`` ``(n,)`` int64 in
        {0, 1} and ``feature_names`` (``d`` names).

    Raises:
        ValueError: for an unknown ``name``.
        ImportError: if scikit-learn is not installed.
    """
    if name not in CLASSIFICATION_SETS:
        raise ValueError(f"name must be one of {CLASSIFICATION_SETS}, got {name!r}")
    skd = _sklearn_datasets()
    if name == "breast_cancer":
        bunch = skd.load_breast_cancer()
        X, y = bunch.data, bunch.target
        source = (
            "Wolberg, W.H., Street, W.N. and Mangasarian, O.L. (1995). Breast Cancer Wisconsin "
            "(Diagnostic). UCI Machine Learning Repository. As shipped by scikit-learn "
            "(sklearn.datasets.load_breast_cancer)."
        )
        description = (
            "569 breast-mass fine-needle aspirates, 30 real-valued features of the cell "
            "nuclei (mean, standard error and worst value of 10 measurements). "
            "y = 1 benign (357), 0 malignant (212). Features are raw, not standardised."
        )
        licence = "CC BY 4.0 (UCI); distributed with scikit-learn (BSD-3-Clause)"
    else:
        bunch = skd.load_iris()
        keep = bunch.target > 0
        X, y = bunch.data[keep], bunch.target[keep] - 1
        source = (
            "Fisher, R.A. (1936). The use of multiple measurements in taxonomic problems. "
            "Annals of Eugenics 7, 179-188. As shipped by scikit-learn (sklearn.datasets.load_iris)."
        )
        description = (
            "Iris flowers reduced to a binary problem: 50 versicolor (y = 0) and 50 virginica "
            "(y = 1), setosa dropped; 4 features (sepal/petal length and width, cm). The two "
            "classes overlap (not linearly separable). Features are raw, not standardised."
        )
        licence = "public domain; distributed with scikit-learn (BSD-3-Clause)"
    return Dataset(
        X=np.ascontiguousarray(X, dtype=np.float64),
        y=np.ascontiguousarray(y, dtype=np.int64),
        name=name, source=source, description=description, licence=licence,
        feature_names=tuple(str(f) for f in bunch.feature_names),
    )


def train_test_folds(n: int, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deterministic k-fold splits of ``range(n)`` for reproducible comparisons.

    The indices are shuffled once with ``numpy.random.default_rng(seed)`` and cut
    into ``k`` folds whose sizes differ by at most one; each test fold is used
    once. The test folds partition ``range(n)``; each train set is the rest.

    Args:
        n: number of data points (``n >= k``).
        k: number of folds (``k >= 2``).
        seed: seed of the shuffle; the same ``(n, k, seed)`` gives the same folds.

    Returns:
        ``k`` pairs ``(train_idx, test_idx)`` of sorted int64 index arrays.

    Raises:
        ValueError: if ``n``, ``k`` or ``seed`` are not integers, ``k < 2`` or ``n < k``.
    """
    try:
        n, k, seed = operator.index(n), operator.index(k), operator.index(seed)
    except TypeError:
        raise ValueError(f"n, k and seed must be integers, got n={n!r}, k={k!r}, seed={seed!r}") from None
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if n < k:
        raise ValueError(f"n must be at least k={k}, got n={n}")
    perm = np.random.default_rng(seed).permutation(n)
    folds = []
    for test in np.array_split(perm, k):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        folds.append((np.flatnonzero(mask).astype(np.int64), np.sort(test).astype(np.int64)))
    return folds
