"""The latent Gaussian field over grid cells, whitened, on a dense, Kronecker or HSGP representation.

All three sample ``z ~ N(0, I)`` under ``f"{name}_z"`` and record
``f = A z`` (``A Aᵀ ≈ K``) as the deterministic site ``name``:

* ``"dense"``: ``A`` the Cholesky factor of the ``N x N`` Gram matrix (``bayeskern.gp.latent``).
* ``"kronecker"``: ``A = √s ⊗_d L_d`` from per-axis Cholesky factors, exact for kernels that
  factor over the axes (RBF with ARD, products of per-axis kernels); ``O(N Σ m_d)`` per product.
* ``"hsgp"``: ``A = Φ diag(√S)`` from the Hilbert-space basis (``bayeskern.features.hsgp``),
  ``M`` basis functions instead of ``N`` cells; approximate.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeskern.features.hsgp import HSGPBasis, hsgp_features
from bayeskern.gp import latent
from bayeskern.gp.backends.kronecker_factors import axis_gram, factor_kernel
from bayeskern.gp.structure import choose_structure
from bayeskern.linalg import cholesky, default_jitter
from bayeskern.linalg.kronecker import kron_mvp

__all__ = ["STRUCTURES", "field_structure", "kronecker_reason", "latent_field"]

#: The Cox latent field's structures (besides ``"auto"``).
STRUCTURES = ("dense", "kronecker", "hsgp")


def field_structure(structure: str, grid) -> str:
    """Check a Cox field's ``structure`` and resolve ``"auto"`` on ``grid``.

    ``"auto"`` follows the library's one rule, :func:`bayeskern.gp.structure.choose_structure`
    with context ``"cox"``: ``"kronecker"`` on a grid of 2 or more axes, else ``"dense"``.

    Raises:
        ValueError: ``structure`` is not ``"auto"`` or one of :data:`STRUCTURES`.
    """
    if structure == "auto":
        return choose_structure("cox", grid.size, grid.dim)
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be 'auto' or one of {STRUCTURES}, got {structure!r}")
    return structure


def kronecker_reason(kernel, dim: int) -> str | None:
    """None when ``kernel`` factors over ``dim`` grid axes, else why not."""
    out = factor_kernel(kernel, dim)
    return out if isinstance(out, str) else None


def latent_field(name: str, kernel, grid, structure: str = "dense", *, num_basis=None, boundary_factor: float = 1.5,
                 jitter: float | None = None):
    """Sample a whitened zero-mean GP over ``grid``'s cell centres and return it ``(N,)`` (C order).

    Args:
        name: site name of the field (the whitened draws are ``f"{name}_z"``).
        kernel: covariance function over the window's coordinates.
        grid: a :class:`~bayeskern.cox.grid.Grid`.
        structure: ``"dense"``, ``"kronecker"``, ``"hsgp"`` or ``"auto"`` (:func:`field_structure`).
        num_basis: HSGP basis functions per axis (default ``min(m_d, 32)``).
        boundary_factor: HSGP box half-width over the data half-range.
        jitter: relative diagonal jitter for the Cholesky factors.
    """
    structure = field_structure(structure, grid)
    X = jnp.asarray(grid.centres)
    if structure == "dense":
        return latent(name, kernel, X, jitter=jitter)
    if structure == "kronecker":
        factors = factor_kernel(kernel, grid.dim)
        if isinstance(factors, str):
            raise ValueError(f"structure='kronecker' needs a kernel that factors over the grid axes: {factors}")
        Ls = []
        for d, ax in enumerate(grid.axes):
            K = axis_gram(factors.axes[d], jnp.asarray(ax), None, d, grid.dim)
            rel = default_jitter(K.dtype) if jitter is None else float(jitter)
            Ls.append(cholesky(K, jitter=rel, name=f"{name} axis-{d} kernel matrix"))
        z = numpyro.sample(f"{name}_z", dist.Normal(jnp.zeros((grid.size,), X.dtype), 1.0).to_event(1))
        return numpyro.deterministic(name, jnp.sqrt(factors.scale) * kron_mvp(tuple(Ls), z))

    m = tuple(min(s, 32) for s in grid.shape) if num_basis is None else num_basis
    basis = HSGPBasis.from_inputs(X, m, boundary_factor)
    Phi, sqrt_w = hsgp_features(kernel, X, basis=basis)
    z = numpyro.sample(f"{name}_z", dist.Normal(jnp.zeros((Phi.shape[1],), X.dtype), 1.0).to_event(1))
    return numpyro.deterministic(name, Phi @ (sqrt_w * z))
