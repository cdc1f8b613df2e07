"""Integration measures: a box (uniform or Lebesgue), a Gaussian, and weighted points.

Every measure is an immutable JAX pytree (its arrays are leaves), so it can be
passed through ``jit`` and used as a NumPyro model argument. A measure knows
its dimension ``d``, its total ``mass`` (1 for probability measures), how to
draw points, how to map an unconstrained vector onto its support (used by
gradient-based point selection) and, where it has one, its density.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_inputs, as_real, is_concrete


def _host_floats(value, name: str, accepted: str) -> np.ndarray:
    """A concrete measure parameter as a float NumPy array; non-numbers are a TypeError naming ``name``."""
    if not is_concrete(value):
        raise TypeError(f"{name} must be concrete {accepted} (measures are built outside jit), got a traced value")
    return np.asarray(as_real(value, name, allow_bool=False, accepted=accepted), dtype=float)


class Measure:
    """Base class; see :class:`Uniform`, :class:`Gaussian`, :class:`Empirical`."""

    _leaves: tuple[str, ...] = ()
    _aux: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_node(
            cls,
            lambda m: (tuple(getattr(m, n) for n in m._leaves), tuple(getattr(m, n) for n in m._aux)),
            cls._unflatten,
        )

    @classmethod
    def _unflatten(cls, aux, leaves):
        obj = object.__new__(cls)
        for n, v in zip(cls._leaves, leaves, strict=True):
            object.__setattr__(obj, n, v)
        for n, v in zip(cls._aux, aux, strict=True):
            object.__setattr__(obj, n, v)
        return obj

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def dim(self) -> int:
        raise NotImplementedError  # pragma: no cover

    @property
    def mass(self):
        """Total mass ``∫ dπ`` (1 for a probability measure)."""
        return jnp.ones(())

    def check_points(self, X, name: str = "X"):
        """``X`` as ``(n, d)``; a ``ValueError`` if it has the wrong width or (concrete) lies outside the support."""
        X = as_inputs(X, name)
        if X.shape[1] != self.dim:
            raise ValueError(f"{name} must have {self.dim} column(s) to match the measure, got shape {X.shape}")
        return X

    def from_unconstrained(self, u):
        """Map ``u`` ``(..., d)`` in R^d onto the support (a smooth bijection where possible)."""
        raise NotImplementedError  # pragma: no cover

    def to_unconstrained(self, X):
        """Inverse of :meth:`from_unconstrained`."""
        raise NotImplementedError  # pragma: no cover

    def from_unit_cube(self, U):
        """Transport points ``U`` ``(n, d)`` of the unit cube to the measure (used for (Q)MC)."""
        raise NotImplementedError  # pragma: no cover

    def density(self, X):
        """Density ``(n,)`` of the measure at ``X`` ``(n, d)`` (w.r.t. Lebesgue)."""
        raise NotImplementedError  # pragma: no cover

    def sample(self, key, num: int):
        """``num`` independent draws ``(num, d)`` from the normalised measure."""
        return self.from_unit_cube(jax.random.uniform(key, (num, self.dim)))


class Uniform(Measure):
    """The box ``[lower, upper]`` (``(d,)`` each) with the uniform probability measure.

    With ``normalized=False`` it is Lebesgue measure on the box (mass = volume),
    so BQ estimates the plain integral ``∫_box f(x) dx``.
    """

    _leaves = ("lower", "upper")
    _aux = ("normalized",)

    def __init__(self, lower, upper, *, normalized: bool = True):
        lo = np.atleast_1d(_host_floats(lower, "lower", "a float or a (d,) array of floats"))
        hi = np.atleast_1d(_host_floats(upper, "upper", "a float or a (d,) array of floats"))
        if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
            raise ValueError(
                f"lower and upper must be scalars or non-empty (d,) arrays of one shape, got {lo.shape} and {hi.shape}"
            )
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError(f"lower and upper must be finite, got {lo} and {hi}")
        if np.any(hi <= lo):
            raise ValueError(f"upper must exceed lower in every dimension, got lower={lo}, upper={hi}")
        with np.errstate(over="ignore"):
            if not (np.all(np.isfinite(hi - lo)) and np.isfinite(np.prod(hi - lo))):
                raise ValueError(
                    f"the box [lower, upper] is too wide: its widths or volume overflow, got lower={lo}, upper={hi}; "
                    "rescale the integration variable"
                )
        if not isinstance(normalized, (bool, np.bool_)):
            raise TypeError(f"normalized must be True or False, got {normalized!r}")
        object.__setattr__(self, "lower", jnp.asarray(lo))
        object.__setattr__(self, "upper", jnp.asarray(hi))
        object.__setattr__(self, "normalized", bool(normalized))

    @property
    def dim(self):
        return int(self.lower.shape[0])

    @property
    def volume(self):
        return jnp.prod(self.upper - self.lower)

    @property
    def mass(self):
        return jnp.ones(()) if self.normalized else self.volume

    def check_points(self, X, name="X"):
        X = super().check_points(X, name)
        if is_concrete(X):
            x, lo, hi = np.asarray(X), np.asarray(self.lower), np.asarray(self.upper)
            tol = 1e-12 * np.maximum(1.0, np.abs(hi - lo))
            bad = np.any((x < lo - tol) | (x > hi + tol), axis=1)
            if np.any(bad):
                raise ValueError(
                    f"{name} has {int(bad.sum())} point(s) outside the box [{lo}, {hi}], e.g. {x[np.argmax(bad)]}; "
                    "BQ points must lie in the measure's support"
                )
        return X

    def from_unconstrained(self, u):
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(u)

    def to_unconstrained(self, X):
        p = jnp.clip((X - self.lower) / (self.upper - self.lower), 1e-9, 1 - 1e-9)
        return jnp.log(p) - jnp.log1p(-p)

    def from_unit_cube(self, U):
        return self.lower + (self.upper - self.lower) * U

    def density(self, X):
        X = jnp.atleast_2d(X)
        inside = jnp.all((X >= self.lower) & (X <= self.upper), axis=-1)
        value = self.mass / self.volume
        return jnp.where(inside, value, 0.0)

    def __repr__(self):
        kind = "" if self.normalized else ", normalized=False"
        return f"Uniform(lower={np.asarray(self.lower)}, upper={np.asarray(self.upper)}{kind})"


class Gaussian(Measure):
    """The Gaussian probability measure ``N(mean, cov)`` with ``mean`` ``(d,)`` and full ``cov`` ``(d, d)``.

    ``cov`` may also be a scalar or ``(d,)`` (diagonal). A covariance that is
    not symmetric positive definite is a ``ValueError``.
    """

    _leaves = ("mean", "cov", "chol")

    def __init__(self, mean, cov):
        mu = np.atleast_1d(_host_floats(mean, "mean", "a float or a (d,) array of floats"))
        if mu.ndim != 1 or mu.size == 0:
            raise ValueError(f"mean must be a scalar or a non-empty (d,) array, got shape {mu.shape}")
        d = mu.shape[0]
        c = _host_floats(cov, "cov", "a positive float, a (d,) array of variances or a (d, d) covariance matrix")
        if c.ndim == 1 and c.shape[0] not in (1, d):
            raise ValueError(f"cov given as variances must have shape (1,) or ({d},) to match mean, got shape {c.shape}")
        if c.ndim == 0 or c.ndim == 1:
            c = np.diag(np.broadcast_to(c, (d,)).copy())
        if c.shape != (d, d):
            raise ValueError(f"cov must be a scalar, (d,) or (d, d) with d = {d}, got shape {c.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(c))):
            raise ValueError("mean and cov must be finite")
        if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * np.abs(c).max()):
            raise ValueError("cov must be symmetric")
        eig = np.linalg.eigvalsh(c)
        # Degenerate (rank-deficient) Gaussians have no density, and the closed-form
        # embeddings divide by |I + Λ⁻¹Σ|-type determinants only valid for PD Σ.
        if eig.min() <= 1e-12 * max(eig.max(), 0.0) or eig.max() <= 0:
            raise ValueError(
                f"cov must be positive definite; its eigenvalues range over [{eig.min():.3e}, {eig.max():.3e}] "
                "(a degenerate Gaussian: integrate over the lower-dimensional subspace instead)"
            )
        object.__setattr__(self, "mean", jnp.asarray(mu))
        object.__setattr__(self, "cov", jnp.asarray(c))
        object.__setattr__(self, "chol", jnp.asarray(np.linalg.cholesky(c)))

    @property
    def dim(self):
        return int(self.mean.shape[0])

    def from_unconstrained(self, u):
        return self.mean + u @ self.chol.T

    def to_unconstrained(self, X):
        return jax.scipy.linalg.solve_triangular(self.chol, (X - self.mean).T, lower=True).T

    def from_unit_cube(self, U):
        eps = jnp.finfo(jnp.result_type(U, float)).eps
        z = jax.scipy.special.ndtri(jnp.clip(U, eps, 1 - eps))
        return self.from_unconstrained(z)

    def density(self, X):
        z = self.to_unconstrained(jnp.atleast_2d(X))
        logdet = jnp.sum(jnp.log(jnp.diag(self.chol)))
        return jnp.exp(-0.5 * jnp.sum(z * z, -1) - logdet - 0.5 * self.dim * math.log(2 * math.pi))

    def __repr__(self):
        return f"Gaussian(mean={np.asarray(self.mean)}, cov={np.asarray(self.cov).tolist()})"


class Empirical(Measure):
    """Weighted points ``Σ_j weights_j δ(x - points_j)``, ``points`` ``(m, d)``, ``weights`` ``(m,)``.

    Weights default to ``1/m``; they must be non-negative and are not
    renormalised (their sum is the mass). Integrals against it are finite
    sums, so every kernel mean is exact.
    """

    _leaves = ("points", "weights")

    def __init__(self, points, weights=None):
        P = _host_floats(points, "points", "an (m,) or (m, d) array of floats")
        P = P[:, None] if P.ndim == 1 else P
        if P.ndim != 2 or 0 in P.shape:
            raise ValueError(f"points must have shape (m,) or (m, d) with m >= 1 and d >= 1, got {np.shape(P)}")
        if not np.all(np.isfinite(P)):
            raise ValueError("points must be finite")
        m = P.shape[0]
        w = np.full(m, 1.0 / m) if weights is None else _host_floats(weights, "weights", f"{m} non-negative floats")
        with np.errstate(over="ignore"):
            total = w.sum()
        if w.shape != (m,) or not np.all(np.isfinite(w)) or np.any(w < 0) or not 0 < total < np.inf:
            raise ValueError(f"weights must be {m} finite non-negative numbers with a positive sum, got {weights!r}")
        object.__setattr__(self, "points", jnp.asarray(P))
        object.__setattr__(self, "weights", jnp.asarray(w))

    @property
    def dim(self):
        return int(self.points.shape[1])

    @property
    def mass(self):
        return jnp.sum(self.weights)

    def sample(self, key, num):
        idx = jax.random.choice(key, self.points.shape[0], (num,), p=self.weights / self.mass)
        return self.points[idx]

    def from_unit_cube(self, U):
        # Inverse-CDF on the weights with the first coordinate: (Q)MC by resampling.
        cdf = jnp.cumsum(self.weights) / self.mass
        idx = jnp.minimum(jnp.searchsorted(cdf, U[:, 0]), self.points.shape[0] - 1)
        return self.points[idx]

    def check_points(self, X, name="X"):
        return Measure.check_points(self, X, name)

    def __repr__(self):
        return f"Empirical(m={self.points.shape[0]}, d={self.dim})"
