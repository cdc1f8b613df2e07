"""Data summaries that scale the default priors: input spacing and range, output scale.

Concrete data are summarised in plain NumPy, once, before any NumPyro site
is sampled, and validated (NaN, constant inputs, ...) with clear errors.
When ``X``/``y`` are JAX tracers (a model run under ``jit`` with the data as
arguments: NumPyro's ``jit_model_args=True``, or the library's replays of a
model over posterior draws) the same summaries are computed with
``jax.numpy``: they are then part of the traced program, cannot raise, and
agree with the NumPy ones (the tests check this). Validation happens on the
first, concrete run of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_inputs, as_observations, is_concrete

#: Two input values closer than this fraction of max(range, max |x|) in their
#: dimension count as the same point when looking for the smallest nonzero spacing.
_SPACING_RTOL = 1e-10


def _select_dims(X, active_dims):
    if active_dims is None:
        return X
    dims = tuple(int(i) for i in np.atleast_1d(np.asarray(active_dims)))
    if dims and max(dims) >= X.shape[1]:
        raise ValueError(f"active_dims {dims} out of range for X with {X.shape[1]} input dimension(s)")
    return X[:, np.asarray(dims, dtype=int)]


@dataclass(frozen=True)
class DataScales:
    """Scales of the inputs ``X`` ``(n, d)`` and outputs ``y`` that data-scaled priors use.

    Built by :func:`data_scales`, which validates ``X`` and ``y``. The
    per-dimension arrays are computed lazily (and only once) the first time a
    default prior needs them, so passing ``X`` only to fix the number of input
    dimensions costs nothing.

    Attributes:
        X: inputs ``(n, d)`` after ``active_dims`` selection, or None.
        y: observations (any shape, flattened for the summaries), or None.
        dim: number of input dimensions ``d`` (None when neither ``X`` nor
            ``active_dims`` says).
    """

    X: object = None
    y: object = None
    dim: int | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- inputs -----------------------------------------------------------
    @property
    def traced(self) -> bool:
        """True when ``X`` or ``y`` is a JAX tracer: summaries are then ``jax.numpy`` arrays, unchecked."""
        return not (is_concrete(self.X) and is_concrete(self.y))

    def _inputs(self, purpose: str):
        if self.X is None:
            raise ValueError(f"{purpose} needs the inputs X, but X is None")
        if not is_concrete(self.X):
            return jnp.asarray(self.X, dtype=jnp.result_type(float))
        return np.asarray(self.X, dtype=float)

    def _per_dim(self):
        if "per_dim" not in self._cache:
            X = self._inputs("a data-scaled prior")
            if isinstance(X, np.ndarray):
                spacing = np.empty(X.shape[1])
                ranges = np.empty(X.shape[1])
                for j in range(X.shape[1]):
                    u = np.unique(X[:, j])
                    ranges[j] = u[-1] - u[0]
                    gaps = np.diff(u)
                    gaps = gaps[gaps > _SPACING_RTOL * max(ranges[j], np.max(np.abs(u)))]
                    # No gap above the tolerance although the values differ: use the range.
                    spacing[j] = gaps.min() if gaps.size else ranges[j]
                self._cache["per_dim"] = (spacing, ranges, np.mean(X * X, axis=0))
            else:
                # The same summary without np.unique: repeated values give zero gaps, which the
                # tolerance drops exactly as it drops the gaps np.unique never forms.
                xs = jnp.sort(X, axis=0)
                ranges = xs[-1] - xs[0]
                tol = _SPACING_RTOL * jnp.maximum(ranges, jnp.max(jnp.abs(xs), axis=0))
                gaps = jnp.diff(xs, axis=0)
                gaps = jnp.min(jnp.where(gaps > tol, gaps, jnp.inf), axis=0, initial=jnp.inf)
                spacing = jnp.where(jnp.isfinite(gaps), gaps, ranges)
                self._cache["per_dim"] = (spacing, ranges, jnp.mean(X * X, axis=0))
        return self._cache["per_dim"]

    @property
    def min_spacing(self) -> np.ndarray:
        """Smallest nonzero gap between distinct input values, per dimension ``(d,)`` (0 where constant)."""
        return self._per_dim()[0]

    @property
    def input_range(self) -> np.ndarray:
        """``max - min`` of the inputs per dimension ``(d,)``."""
        return self._per_dim()[1]

    @property
    def mean_square(self) -> np.ndarray:
        """``mean(x_d²)`` per dimension ``(d,)`` (the scale of dot-product kernels)."""
        return self._per_dim()[2]

    def spacing_and_range(self, name: str, ard: bool) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper length scales the data resolve: ``(d,)`` each if ``ard``, else scalars.

        Isotropic: the smallest spacing over all dimensions and the largest
        range. ARD: per dimension. Dimensions with a single distinct value
        are dropped from the isotropic summary and are an error under ARD.

        Raises:
            ValueError: when no dimension (or, with ARD, some dimension) of
                ``X`` has two distinct values.
        """
        spacing, ranges = self.min_spacing, self.input_range
        if not isinstance(spacing, np.ndarray):  # traced: no checks possible (the concrete run made them)
            if ard:
                return spacing, ranges
            varying = ranges > 0
            return jnp.min(jnp.where(varying, spacing, jnp.inf)), jnp.max(ranges)
        varying = ranges > 0
        if ard:
            if not np.all(varying):
                bad = np.flatnonzero(~varying).tolist()
                raise ValueError(
                    f"X is constant in input dimension(s) {bad}: no data-scaled prior for {name!r} "
                    "there; drop the dimension(s) (active_dims) or pass a prior explicitly"
                )
            return spacing, ranges
        if not np.any(varying):
            raise ValueError(
                f"X has a single distinct point: no data-scaled prior for {name!r}; pass a prior explicitly"
            )
        return np.asarray(spacing[varying].min()), np.asarray(ranges[varying].max())

    # -- outputs ----------------------------------------------------------
    @property
    def output_variance(self) -> float | None:
        """``var(y)`` (population variance of all entries), or None without ``y``.

        A traced ``y`` gives a traced scalar.

        Raises:
            ValueError: when a concrete ``y`` has fewer than two distinct values.
        """
        if self.y is None:
            return None
        if not is_concrete(self.y):
            return jnp.var(jnp.ravel(self.y))
        v = float(np.var(np.asarray(self.y, dtype=float)))
        if not v > 0:
            raise ValueError("y is constant (zero variance): no data-scaled output-variance prior")
        return v

    @property
    def output_mean_square(self) -> float | None:
        """``mean(y²) = mean(y)² + var(y)``, or None without ``y`` (traced scalar for a traced ``y``)."""
        if self.y is None:
            return None
        if not is_concrete(self.y):
            return jnp.mean(jnp.square(self.y))
        ms = float(np.mean(np.square(np.asarray(self.y, dtype=float))))
        if not ms > 0:
            raise ValueError("y is identically zero: no data-scaled offset prior")
        return ms


def _inputs(X):
    """``X`` as ``(n, d)``: a NumPy array when concrete (so that summaries never see a tracer), else a JAX one."""
    if not is_concrete(X):
        return as_inputs(X, "X")  # traced: shape checks only
    Xn = np.asarray(X)
    if not np.issubdtype(Xn.dtype, np.number) or np.issubdtype(Xn.dtype, np.complexfloating):
        raise ValueError(f"X must be a real numeric array, got dtype {Xn.dtype}")
    Xn = Xn.astype(float)
    if Xn.ndim == 0 or Xn.ndim > 2:
        raise ValueError(f"X must have shape (n,) or (n, d), got shape {Xn.shape}")
    if Xn.shape[0] == 0:
        raise ValueError("X has no points")
    if not np.all(np.isfinite(Xn)):
        raise ValueError("X contains NaN or infinite values")
    return Xn[:, None] if Xn.ndim == 1 else Xn


def _observations(y):
    if not is_concrete(y):
        return as_observations(y, "y")
    yn = np.asarray(y)
    if not np.issubdtype(yn.dtype, np.number) or np.issubdtype(yn.dtype, np.complexfloating):
        raise ValueError(f"y must be a real numeric array, got dtype {yn.dtype}")
    yn = yn.astype(float)
    if not np.all(np.isfinite(yn)):
        raise ValueError("y contains NaN or infinite values; drop or impute them before fitting")
    return yn


def data_scales(X=None, y=None, active_dims=None) -> DataScales:
    """Validate ``X``/``y`` and wrap them as :class:`DataScales`.

    Concrete data are validated and kept as NumPy arrays (also when this
    runs inside a trace, where JAX operations on constants would produce
    tracers); traced data get the static shape checks only.

    Args:
        X: inputs ``(n,)`` or ``(n, d)``, or None.
        y: observations (any shape), or None.
        active_dims: input columns the kernel uses; the summaries see only these.

    Returns:
        DataScales with ``dim`` = number of (active) input dimensions, or
        ``len(active_dims)`` when ``X`` is None, or None.

    Raises:
        ValueError: naming ``X`` or ``y`` when it contains NaN/inf (checked
            when concrete), is not numeric, or ``X`` has the wrong rank.
    """
    dim = None
    if X is not None:
        X = _select_dims(_inputs(X), active_dims)
        dim = int(X.shape[1])
    elif active_dims is not None:
        dim = len(np.atleast_1d(np.asarray(active_dims)))
    if y is not None:
        y = _observations(y)
    return DataScales(X=X, y=y, dim=dim)
