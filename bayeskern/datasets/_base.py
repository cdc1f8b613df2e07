"""The ``Dataset`` record and the package-data CSV reader shared by the loaders.

The tables ship inside the package (``bayeskern/datasets/*.csv``) and are read
with NumPy through :mod:`importlib.resources`, so they load from an installed
wheel as well as from a source checkout, with no pandas.
"""

from __future__ import annotations

import dataclasses
import importlib.resources

import numpy as np

__all__ = ["Dataset"]


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class Dataset:
    """A loaded data set: arrays plus where they came from.

    Attributes:
        X: inputs, ``(n,)`` (one-dimensional data: times) or ``(n, d)``, float64.
        y: outputs ``(n,)``, or ``None`` for a point pattern (event times only).
        name: short identifier, e.g. ``"mauna_loa_co2"``.
        source: the citation of the original data and the route it came by.
        description: what the rows and columns are and how they were derived.
        licence: the data's licence.
        window: observation window ``(start, end)`` of a point pattern, else ``None``.
        feature_names: names of the columns of ``X`` when ``X`` is ``(n, d)``, else ``None``.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    name: str
    source: str
    description: str
    licence: str = ""
    window: tuple[float, float] | None = None
    feature_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(np.shape(self.X)[0])

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"X={np.shape(self.X)}"]
        if self.y is not None:
            parts.append(f"y={np.shape(self.y)}")
        if self.window is not None:
            parts.append(f"window={self.window}")
        return f"Dataset({', '.join(parts)})"


def read_table(filename: str, columns: tuple[str, ...], dtype=np.float64) -> dict[str, np.ndarray]:
    """Read columns of a shipped CSV (``#`` comment header, then one column-name line).

    Args:
        filename: file name inside ``bayeskern.datasets``.
        columns: the columns to return; each must be named in the file's header.
        dtype: NumPy dtype the columns are parsed as (``str`` for text).

    Returns:
        ``{column: (n,) array}``.
    """
    text = importlib.resources.files("bayeskern.datasets").joinpath(filename).read_text("utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    header = [name.strip() for name in lines[0].split(",")]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{filename}: columns {missing} not in header {header}")
    usecols = [header.index(c) for c in columns]
    data = np.loadtxt(lines[1:], delimiter=",", comments="#", usecols=usecols,
                      dtype=dtype, ndmin=2)
    return {c: np.ascontiguousarray(data[:, i]) for i, c in enumerate(columns)}
