"""Grid detection for the Kronecker back end: axes, the cell of each row, missing cells."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import is_concrete
from bayeskern.linalg.grid import find_grid, locate_on_grid


@jax.tree_util.register_pytree_node_class
class _Grid:
    """Grid axes, the cell of each row and the index arrays derived from it.

    A pytree (``shape`` static), so that it can be computed eagerly (NumPy,
    where ``X`` is concrete) and handed to the jitted computations.
    """

    def __init__(self, coords, shape, cells, perm=None, missing=None):
        self.coords = tuple(coords)  # D arrays (m_d,)
        self.shape = tuple(shape)  # (m_1, ..., m_D)
        self.cells = cells  # (n,) flat grid index of each row
        n, N = int(cells.shape[0]), math.prod(self.shape)
        if perm is None and n == N:  # rows -> grid order
            perm = np.argsort(cells) if isinstance(cells, np.ndarray) else jnp.argsort(cells)
        if missing is None and n < N:  # the unobserved cells
            if isinstance(cells, np.ndarray):
                missing = np.setdiff1d(np.arange(N), cells)
            else:
                mask = jnp.zeros(N, bool).at[cells].set(True)
                missing = jnp.nonzero(~mask, size=N - n)[0]
        self.perm = perm
        self.missing = missing

    def tree_flatten(self):
        return (self.coords, self.cells, self.perm, self.missing), self.shape

    @classmethod
    def tree_unflatten(cls, shape, children):
        coords, cells, perm, missing = children
        obj = object.__new__(cls)
        obj.coords, obj.shape, obj.cells, obj.perm, obj.missing = tuple(coords), shape, cells, perm, missing
        return obj

    @property
    def N(self) -> int:
        return math.prod(self.shape)

    @property
    def n(self) -> int:
        return int(self.cells.shape[0])

    @property
    def full(self) -> bool:
        return self.n == self.N


def _as_axes(grid, D: int):
    if isinstance(grid, (jax.Array, np.ndarray)) and np.ndim(grid) != 1:
        raise ValueError("grid must be a tuple of 1-D arrays, one per input dimension")
    axes = tuple(grid)
    if len(axes) != D:
        raise ValueError(f"grid has {len(axes)} axes but X has {D} input dimension(s)")
    out = []
    for d, a in enumerate(axes):
        if is_concrete(a):
            a = np.asarray(a, dtype=float)
            if a.ndim != 1 or a.size == 0:
                raise ValueError(f"grid axis {d} must be a non-empty 1-D array, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"grid axis {d} contains NaN or infinite values")
            a = np.sort(a)
            if np.any(np.diff(a) == 0):
                raise ValueError(f"grid axis {d} has repeated values")
        elif jnp.ndim(a) != 1:
            raise ValueError(f"grid axis {d} must be 1-D, got shape {jnp.shape(a)}")
        out.append(a)
    return tuple(out)


def _traced_cells(X, coords):
    """Flat grid index of each row by nearest axis value (traceable; assumes X lies on the grid)."""
    shape = tuple(int(c.shape[0]) for c in coords)
    cells = jnp.zeros(X.shape[:1], jnp.int32)
    for d, c in enumerate(coords):
        c = jnp.asarray(c, X.dtype)
        x = X[:, d]
        if shape[d] == 1:
            i = jnp.zeros(x.shape, jnp.int32)
        else:
            # Default (scan) method: with X a jit constant, a sort-based search gets constant-folded
            # by XLA at compile time, which takes minutes for 65,536 points.
            j = jnp.clip(jnp.searchsorted(c, x), 1, shape[d] - 1)
            i = jnp.where(jnp.abs(x - c[j - 1]) <= jnp.abs(x - c[j]), j - 1, j).astype(jnp.int32)
        cells = cells * shape[d] + i
    return cells


def grid_axes(X) -> tuple:
    """The axes of the full Cartesian grid ``X`` ``(n, D)`` as hashable tuples, for ``grid=``.

    ``GaussianProcess(k, X, structure="kronecker", grid=grid_axes(X))`` fixes
    the grid outside any ``jit`` trace: inside one (e.g. NUTS) ``X`` is a
    tracer and its grid cannot be detected from its values. Also accepts a
    sequence of 1-D axes (e.g. of a grid with missing cells).
    """
    if isinstance(X, (tuple, list)) and all(np.ndim(a) == 1 for a in X):
        axes = [np.asarray(a, dtype=float) for a in X]
    else:
        axes = find_grid(np.asarray(X, dtype=float))[0]
    return tuple(tuple(float(v) for v in a) for a in axes)


def _find_grid(process) -> _Grid:
    X = process.X
    D = X.shape[1]
    grid = process.option_arrays.get("grid", process.options.get("grid"))
    if grid is not None:
        coords = _as_axes(grid, D)
        if is_concrete(X) and all(isinstance(c, np.ndarray) for c in coords):
            cells = locate_on_grid(np.asarray(X), coords)
        else:
            cells = _traced_cells(X, coords)
        return _Grid(coords, tuple(int(c.shape[0]) for c in coords), cells)
    if not is_concrete(X):
        raise ValueError("X is traced (inside jit/grad/vmap, e.g. a NUTS model), so its grid cannot be detected "
                         "from its values; pass the axes, grid=bayeskern.gp.backends.kronecker.grid_axes(X), "
                         "computed outside the model")
    coords, cells = find_grid(np.asarray(X))
    return _Grid(coords, tuple(len(c) for c in coords), cells)
