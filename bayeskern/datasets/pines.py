"""Japanese black pine saplings: a 2-D point pattern of 65 trees (Numata 1961; Diggle 2003).

Locations of 65 Japanese black pine saplings in a 5.7 m x 5.7 m square of
natural forest near Choshi, Japan, rescaled to the unit square and rounded
to 0.01 (Numata, M. (1961), Forest vegetation in the vicinity of Choshi.
Coastal flora and vegetation at Choshi, Chiba Prefecture IV, *Bulletin of
Choshi Marine Laboratory, Chiba University* 3, 28-48; tabulated in Diggle,
P.J. (2003), *Statistical Analysis of Spatial Point Patterns*, 2nd ed.,
Arnold). The shipped table ``japanese_pines.csv`` is the R package
spatstat's raw table ``inst/data-raw/japanesepines.tab`` (dataset
``japanesepines``), copied value for value. Licence: the coordinates are
published scientific measurements (facts); spatstat distributes them under
GPL (>= 2).
"""

from __future__ import annotations

import numpy as np

from bayeskern.datasets._base import Dataset, read_table

__all__ = ["load_japanese_pines"]

_FILE = "japanese_pines.csv"
#: The unit square (the 5.7 m plot rescaled), as ((x0, x1), (y0, y1)).
WINDOW = ((0.0, 1.0), (0.0, 1.0))


def load_japanese_pines() -> Dataset:
    """Load the Japanese pines point pattern.

    Returns:
        A :class:`Dataset` with ``X`` ``(65, 2)`` float64 locations in the unit
        square (1 unit = 5.7 m), ``y=None``, ``window=((0, 1), (0, 1))`` and
        ``feature_names=("x", "y")``.
    """
    cols = read_table(_FILE, ("x", "y"))
    X = np.stack([cols["x"], cols["y"]], axis=1)
    return Dataset(
        X=X, y=None, name="japanese_pines",
        source=("Numata (1961), Bulletin of Choshi Marine Laboratory, Chiba University 3, 28-48; Diggle (2003), "
                "Statistical Analysis of Spatial Point Patterns; via R package spatstat, dataset japanesepines."),
        description=("Locations of 65 Japanese black pine saplings in a 5.7 m square plot, rescaled to the unit "
                     "square, rounded to 0.01 (so some coordinates repeat on the 0.01 lattice)."),
        licence="published measurements; distributed with spatstat under GPL (>= 2)",
        window=WINDOW, feature_names=("x", "y"),
    )
