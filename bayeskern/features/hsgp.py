"""Hilbert-space (HSGP) basis for stationary kernels (Solin & Särkkä 2020; Riutort-Mayol et al. 2023).

On the box ``[c_d − L_d, c_d + L_d]`` (centre ``c``, half-widths ``L``) the
Laplacian with Dirichlet boundary conditions has eigenfunctions and
eigenvalues, for a multi-index ``j = (j_1, …, j_D)`` with ``j_d = 1..m_d``,

    φ_j(x) = ∏_d L_d^{-1/2} sin(π j_d (x_d − c_d + L_d) / (2 L_d)),
    λ_j    = Σ_d (π j_d / (2 L_d))²,

and a stationary kernel with spectral density ``S`` is approximated by

    k(x, x') ≈ Σ_j S(ω_j) φ_j(x) φ_j(x'),     ω_j = (π j_d / (2 L_d))_d,

(``S`` evaluated at the vector ``ω_j``, which is ``S(√λ_j)`` for an isotropic
kernel and handles per-dimension lengthscales). So ``K ≈ Φ diag(S) Φᵀ`` with
a feature matrix ``Φ`` ``(n, M)``, ``M = ∏ m_d``, that does **not** depend on
the kernel hyperparameters: only the ``M`` spectral weights do. The box is
``L_d = boundary_factor_d · half-range_d`` around the midpoint of the data.

The approximation is good inside the data range when the basis is rich
enough for the smallest lengthscale and the box is wide enough for the
largest one; ``hsgp_settings`` implements the empirical rules of
Riutort-Mayol et al. (2023, §4) for choosing ``m`` and ``c``, and
``check_hsgp_settings`` warns when given settings fall short of them
(both in ``bayeskern.features.hsgp_settings``).
Outside the box the basis is meaningless (every function vanishes on the
boundary), so predictions there are wrong, not just uncertain.

Latent functions inside a NumPyro model (whitened)::

    Phi, sqrt_w = hsgp_features(kernel, X, num_basis=30, boundary_factor=1.5)
    z = numpyro.sample("f_z", dist.Normal(0, 1).expand([Phi.shape[1]]).to_event(1))
    f = numpyro.deterministic("f", Phi @ (sqrt_w * z))

As ``m → ∞`` the approximation converges to the kernel of the box with
Dirichlet boundary conditions (method of images, per dimension
``Σ_n k(u − u' + 4nL) − k(u + u' + 4nL)`` in box coordinates ``u = x − c + L``),
with a truncation error ``Σ_{j > m} S(ω_j) / L``: faster than any power of
``1/m`` for RBF, ``O(m^{-2ν})`` for a 1-D Matérn-ν kernel. The remaining gap
to ``k`` itself is the boundary effect, about ``k(2δ)`` at a distance ``δ``
from the boundary.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.kernels import Kernel, summands
from bayeskern.kernels.capabilities import spectral_density, supports, unsupported
from bayeskern.linalg.woodbury import safe_sqrt_weights

__all__ = ["HSGPBasis", "HSGPBoundaryWarning", "hsgp_features", "hsgp_spectral_weights", "spectral_reason"]


class HSGPBoundaryWarning(UserWarning):
    """Inputs lie outside the box on which the Hilbert-space basis is defined."""


# -- the basis ---------------------------------------------------------------
@jax.tree_util.register_pytree_node_class
class HSGPBasis:
    """Tensor-product Laplacian eigenbasis on a box.

    Attributes:
        num_basis: ``m_d`` per input dimension (static), ``M = ∏ m_d`` functions in all.
        center: box centre ``(d,)``.
        L: box half-widths ``(d,)``.
    """

    def __init__(self, num_basis, center, L):
        self.num_basis = tuple(int(m) for m in num_basis)
        self.center = jnp.asarray(center)
        self.L = jnp.asarray(L)

    def tree_flatten(self):
        return (self.center, self.L), self.num_basis

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        obj = object.__new__(cls)
        obj.num_basis = aux
        obj.center, obj.L = leaves
        return obj

    @classmethod
    def from_inputs(cls, X, num_basis, boundary_factor=1.5, *, center=None, L=None) -> HSGPBasis:
        """The box ``L = boundary_factor · half-range`` around the midpoint of ``X`` ``(n,)|(n, d)``.

        Args:
            X: inputs the box must cover.
            num_basis: ``m`` per dimension, an int or one per dimension.
            boundary_factor: ``c ≥ 1`` (scalar or per dimension); ignored where ``L`` is given.
            center: box centre (scalar or ``(d,)``) instead of the data midpoint.
            L: half-widths (scalar or ``(d,)``) instead of ``c · half-range``.
        """
        X = as_inputs(X, "X")
        d = X.shape[1]
        m = _per_dim(num_basis, d, "num_basis", integer=True)
        lo, hi = jnp.min(X, axis=0), jnp.max(X, axis=0)
        ctr = 0.5 * (lo + hi) if center is None else jnp.broadcast_to(jnp.asarray(center, X.dtype), (d,))
        if L is None:
            c = jnp.asarray(_per_dim(boundary_factor, d, "boundary_factor"), X.dtype)
            if is_concrete(c) and np.any(np.asarray(c) < 1.0):
                raise ValueError(f"boundary_factor must be >= 1 (the box must cover the data), got {boundary_factor}")
            half = jnp.maximum(hi - ctr, ctr - lo)
            if is_concrete(half) and np.any(np.asarray(half) <= 0):
                raise ValueError(
                    "X has zero range in some input dimension, so the HSGP box is empty; pass L= explicitly"
                )
            Lv = c * half
        else:
            Lv = jnp.broadcast_to(jnp.asarray(L, X.dtype), (d,))
            if is_concrete(Lv) and np.any(~(np.asarray(Lv) > 0)):
                raise ValueError(f"L must be positive, got {L!r}")
        return cls(m, ctr, Lv)

    @property
    def dim(self) -> int:
        return len(self.num_basis)

    @property
    def num_functions(self) -> int:
        """``M = ∏ m_d``."""
        return int(math.prod(self.num_basis))

    @property
    def indices(self) -> np.ndarray:
        """Multi-indices ``(M, d)`` with entries ``1..m_d`` (last dimension fastest)."""
        grids = np.meshgrid(*[np.arange(1, m + 1) for m in self.num_basis], indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)

    def frequencies(self):
        """Per-dimension square roots of the eigenvalues ``(M, d)``: ``π j_d / (2 L_d)``."""
        return math.pi * jnp.asarray(self.indices, self.L.dtype) / (2.0 * self.L)

    def eigenvalues(self):
        """``λ_j`` ``(M,)``."""
        return jnp.sum(self.frequencies() ** 2, axis=1)

    def features(self, X):
        """Eigenfunctions at ``X`` ``(n,)|(n, d)`` -> ``Φ`` ``(n, M)``."""
        X = as_inputs(X, "X")
        if X.shape[1] != self.dim:
            raise ValueError(f"X must have {self.dim} input dimension(s) like the HSGP basis, got {X.shape[1]}")
        return _eigenfunctions(X, self.center, self.L, self.num_basis)

    def contains(self, X) -> bool:
        """Whether concrete inputs ``X`` lie inside the box (True for traced inputs)."""
        X = as_inputs(X, "X")
        if not (is_concrete(X) and is_concrete(self.L) and is_concrete(self.center)):
            return True
        lo = np.asarray(self.center - self.L)
        hi = np.asarray(self.center + self.L)
        Xn = np.asarray(X)
        return bool(np.all((Xn >= lo) & (Xn <= hi)))

    def spectral_weights(self, kernel: Kernel):
        """``S(ω_j)`` ``(M,)`` of ``kernel`` (stationary, or sums/positive multiples of such)."""
        return hsgp_spectral_weights(kernel, self)

    def __repr__(self):
        return f"HSGPBasis(num_basis={self.num_basis}, center={self.center}, L={self.L})"


@jax.jit
def _spectral_density(kernel, omega):
    return spectral_density(kernel, omega)


@functools.partial(jax.jit, static_argnames=("num_basis",))
def _eigenfunctions(X, center, L, num_basis):
    Xs = X - center + L  # in [0, 2L] inside the box
    grids = np.meshgrid(*[np.arange(m) for m in num_basis], indexing="ij")
    Phi = None
    for d, m in enumerate(num_basis):
        j = jnp.arange(1, m + 1, dtype=X.dtype)
        per_dim = jnp.sin(math.pi * j[None, :] * Xs[:, d : d + 1] / (2.0 * L[d])) / jnp.sqrt(L[d])
        cols = per_dim[:, grids[d].ravel()]
        Phi = cols if Phi is None else Phi * cols
    return Phi


def hsgp_spectral_weights(kernel: Kernel, basis: HSGPBasis, target: Kernel | None = None):
    """Spectral weights ``(M,)`` of ``kernel`` on ``basis``; with ``target``, those of that summand only.

    The weights are the capability ``bayeskern.kernels.capabilities.spectral_density``
    at the basis frequencies ``(M, d)``: registered kernel families have one,
    sums add densities and ``c · k`` scales them; products, warps and kernels
    with ``active_dims`` have no density on the full box here.

    Raises:
        UnsupportedKernelError: (a ``ValueError``) for a kernel without a spectral density.
        ValueError: for ``active_dims`` or hyperparameters of the wrong dimension, or a
            ``target`` that is not a summand of ``kernel`` (compared by identity).
    """
    problem = _spectral_problem(kernel, basis.dim)
    if problem is not None:
        raise problem
    omega = basis.frequencies()
    if target is None:
        return _spectral_density(kernel, omega)
    out = None
    for term in summands(kernel, target):
        if term.in_target:
            w = term.scale * _spectral_density(term.kernel, omega)
            out = w if out is None else out + w
    return out


def _spectral_problem(kernel: Kernel, dim: int) -> ValueError | None:
    """The error for ``kernel`` (a sum/scaled tree) lacking a usable spectral density in ``dim`` dims, or None."""
    for term in summands(kernel):
        k = term.kernel
        name = type(k).__name__
        if not supports(spectral_density, k):
            return unsupported(spectral_density, k, default=(
                f"{name} is not a stationary kernel with a spectral density (the HSGP basis needs one; "
                f"sums and positive multiples of stationary kernels are fine, products and warps are not)"))
        if k.active_dims is not None:
            return ValueError(
                f"{name} has active_dims={k.active_dims}; the HSGP basis needs kernels on all input dimensions")
        try:
            jax.eval_shape(lambda k: spectral_density(k, jnp.ones((2, dim))), k)
        except (TypeError, ValueError) as err:
            return ValueError(f"{name}: {err}")
    return None


def spectral_reason(kernel: Kernel, dim: int) -> str | None:
    """None when ``kernel`` (a sum/scaled tree of kernels with a registered spectral density) has a usable
    spectral density in ``dim`` dims, else why not."""
    problem = _spectral_problem(kernel, dim)
    return None if problem is None else str(problem)


def hsgp_features(kernel: Kernel, X, num_basis=None, boundary_factor=1.5, *, basis: HSGPBasis | None = None):
    """``(Φ, √S)``: features ``(n, M)`` and square-root spectral weights ``(M,)`` with ``K ≈ Φ diag(√S)² Φᵀ``.

    A whitened latent function is ``f = Φ @ (√S * z)`` with ``z ~ N(0, I_M)``;
    ``Φ`` depends only on ``X`` and the box, ``√S`` carries the (possibly
    sampled) hyperparameters. Pass the same ``basis`` (e.g.
    ``HSGPBasis.from_inputs(X_train, ...)``) to evaluate at new inputs in the
    same box.

    Args:
        kernel: a kernel with a spectral density (or a sum/positive multiple of such).
        X: inputs ``(n,)|(n, d)``.
        num_basis: ``m`` per dimension (int or tuple); required unless ``basis`` is given.
        boundary_factor: ``c`` (scalar or per dimension).
        basis: a prebuilt ``HSGPBasis`` (its box is used as is).
    """
    if basis is None:
        if num_basis is None:
            raise ValueError("hsgp_features needs num_basis= (or a prebuilt basis=); see hsgp_settings")
        basis = HSGPBasis.from_inputs(X, num_basis, boundary_factor)
    problem = _spectral_problem(kernel, basis.dim)
    if problem is not None:
        raise problem
    return basis.features(X), safe_sqrt_weights(basis.spectral_weights(kernel))



def _per_dim(value, d, name, integer=False):
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1 or arr.shape[0] not in (1, d):
        raise ValueError(f"{name} must be a scalar or have one entry per input dimension ({d}), got {value!r}")
    arr = np.broadcast_to(arr, (d,))
    if integer:
        if not np.all(np.equal(np.mod(arr, 1), 0)) or np.any(arr < 1):
            raise ValueError(f"{name} must be a positive integer (per dimension), got {value!r}")
        return tuple(int(v) for v in arr)
    if np.any(~(arr.astype(float) > 0)):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return tuple(float(v) for v in arr)
