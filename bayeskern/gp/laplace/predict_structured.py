"""Laplace prediction at new inputs for structured latent fields: low-rank (HSGP) and Kronecker grids.

:func:`~bayeskern.gp.laplace.predict.predict_latent` dispatches here for the
sites that :func:`~bayeskern.gp.laplace.marginal.laplace_marginal` builds with
``structure="hsgp"`` and ``structure="kronecker"``. Both are exact for the site's
prior (no Monte Carlo); only the Kronecker variances carry a CG tolerance.

**Low rank (HSGP).** ``f = m + B β`` with ``B = Φ(X) diag(√S)`` ``(n, M)`` and
``β ~ N(0, I_M)``. The Newton mode is found in ``β`` (``L = B`` in the
:class:`~bayeskern.gp.laplace.newton.LaplaceMode`, so ``u = β̂``), and the
Laplace posterior of ``β`` is ``N(û, A⁻¹)`` with ``A = I + Bᵀ W B = C Cᵀ``.
At new inputs ``B* = Φ(X*) diag(√S)`` ``(m, M)`` (same box, same weights):

    E[f*]   = m* + B* û
    Var[f*] = ‖C⁻¹ B*ᵀ‖²  (per column)

This is the dense Laplace predictive for the kernel ``B Bᵀ`` the site uses
(``k* = B B*ᵀ``, ``k** = diag B* B*ᵀ``), at ``O(m M²)`` per draw. The basis
comes from the :class:`~bayeskern.features.hsgp.HSGPBasis` the site stores,
so neither the kernel nor the training inputs are needed.

**Kronecker.** ``K = ⊗_d L_d L_dᵀ = S Sᵀ`` on the full grid (grid C order;
the site's ``cells`` maps rows to cells), ``A = I + Sᵀ W S``. With
``k*`` ``(N, m)`` the kernel between the training rows and ``X*`` (put in
grid order), ``v = S⁻¹ k*`` (one triangular solve per axis) and the
whitened identity ``k*ᵀ (K + W⁻¹)⁻¹ k* = |v|² − vᵀ A⁻¹ v``:

    E[f*]   = m* + k*ᵀ ∇log p(y | f̂)
    Var[f*] = k** − |v|² + vᵀ A⁻¹ v

``A⁻¹ v`` is solved for all ``m`` columns at once by preconditioned CG with
Kronecker matrix-vector products (the Newton solver's operator and
preconditioner, :mod:`bayeskern.gp.laplace.kronecker`), to the relative
residual ``options.cg_tol`` (default 1e-10). No ``W⁻¹`` or ``W½`` appears,
so ``W`` may have zeros (masked cells) and negative entries (Student-t) as
long as ``A`` is positive definite at the mode (as the log marginal requires).
For ``W ≥ 0``, ``A ⪰ I``, so the CG error in ``Var`` is at most
``cg_tol · |v|² ≤ cg_tol · k**``. This form equals R&W's
``W½ (I + W½ K W½)⁻¹ W½`` one (same spectrum for ``W ≥ 0``) and lets the
solve reuse the Kronecker-eigenbasis preconditioner built for ``A``.
"""

from __future__ import annotations

import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from bayeskern.features.hsgp import HSGPBoundaryWarning
from bayeskern.gp.laplace.kronecker import (
    KronLaplaceOptions,
    KronMode,
    _A_mv,
    _preconditioner,
)
from bayeskern.gp.laplace.newton import LaplaceMode
from bayeskern.linalg.cg import conjugate_gradient
from bayeskern.linalg.grid import find_grid
from bayeskern.linalg.woodbury import safe_sqrt_weights

__all__ = ["KERNEL_CHECK_RTOL", "check_hsgp_site", "check_kron_site", "hsgp_basis_at", "kron_predictive",
           "lowrank_predictive"]

#: relative tolerance of the first-draw consistency checks (kernel/inputs against the site).
KERNEL_CHECK_RTOL = 1e-6


# -- low rank (HSGP) -------------------------------------------------------------------------------
def lowrank_predictive(mode: LaplaceMode, B_new, mean_new=0.0):
    """Laplace predictive mean and variance ``(m,)`` of ``f = m + B β`` at new inputs, for one ``θ``.

    Args:
        mode: the site's mode (``L = B`` ``(n, M)``, ``u = β̂`` ``(M,)``, ``C`` ``(M, M)``).
        B_new: ``(m, M)`` the basis at the new inputs (same weights as ``B``).
        mean_new: prior mean at the new inputs, scalar or ``(m,)``.

    Returns:
        ``(mean (m,), var (m,))``.
    """
    mean = mean_new + B_new @ mode.u
    Z = solve_triangular(mode.C, B_new.T, lower=True)  # C⁻¹ B*ᵀ: Var = diag B* A⁻¹ B*ᵀ
    return mean, jnp.sum(Z * Z, axis=0)


def hsgp_basis_at(site, X_new):
    """``B* = Φ(X_new) diag(√S)`` ``(m, M)`` from the site's stored HSGP basis and weights."""
    return site.hsgp_basis.features(X_new) * site.sqrt_weights[None, :]


def check_hsgp_site(site, Xn, Xt, kernel, site_name: str):
    """First-draw checks for a low-rank site (concrete values); raises ValueError naming the argument.

    Args:
        site: the :class:`~bayeskern.gp.laplace.distributions.LowRankLaplaceMarginal`.
        Xn: new inputs ``(m, d)``.
        Xt: training inputs ``(n, d)`` or ``None`` (then not checked).
        kernel: the draw's :class:`~bayeskern.kernels.Kernel` or ``None`` (then not checked).
        site_name: the observed site's name (for messages).
    """
    hb = site.hsgp_basis
    if hb is None:
        raise ValueError(f"fit: the model's site {site_name!r} is a LowRankLaplaceMarginal with a user-given basis and no "
                         "stored HSGP basis, so it cannot be evaluated at X_new; predict_latent needs a site "
                         "built by laplace_marginal(..., structure='hsgp')")
    if Xn.shape[1] != hb.dim:
        raise ValueError(f"X_new must have {hb.dim} input dimension(s) like the site's HSGP basis, got shape "
                         f"{Xn.shape}")
    if not hb.contains(Xn):
        warnings.warn("X_new has points outside the HSGP box of the training inputs; every basis function "
                      "vanishes at the box boundary, so the predictions there are wrong, not just uncertain",
                      HSGPBoundaryWarning, stacklevel=3)
    B = np.asarray(site.basis)
    if Xt is not None:
        if Xt.shape != (B.shape[0], hb.dim):
            raise ValueError(f"X must be the {B.shape[0]} training inputs ({hb.dim} dimension(s)) given to "
                             f"laplace_marginal, got shape {Xt.shape}")
        err = float(np.max(np.abs(np.asarray(hsgp_basis_at(site, Xt)) - B)))
        if not err <= KERNEL_CHECK_RTOL * float(np.max(np.abs(B))):
            raise ValueError(f"X: the HSGP basis at X differs from the site's basis by {err:.3g}; pass the "
                             "inputs (in the same row order) the model gave laplace_marginal")
    if kernel is not None:
        sw = np.asarray(safe_sqrt_weights(hb.spectral_weights(kernel)))
        ref = np.asarray(site.sqrt_weights)
        err = float(np.max(np.abs(sw - ref)))
        if not err <= KERNEL_CHECK_RTOL * float(np.max(np.abs(ref))):
            raise ValueError(f"kernel: its HSGP spectral weights differ from those of site {site_name!r} by "
                             f"{err:.3g}; pass the kernel the model gave laplace_marginal (or kernel=None)")


# -- Kronecker grids ---------------------------------------------------------------------------------
def _kron_lower_solve(Ls, V):
    """``(⊗_d L_d)⁻¹ v`` for each row ``v`` of ``V`` ``(m, N)``: one triangular solve along each axis."""
    m = V.shape[0]
    T = V.reshape((m,) + tuple(L.shape[0] for L in Ls))
    for d, L in enumerate(Ls):
        T = jnp.moveaxis(T, d + 1, 0)
        shape = T.shape
        T = jnp.moveaxis(solve_triangular(L, T.reshape(shape[0], -1), lower=True).reshape(shape), 0, d + 1)
    return T.reshape(m, -1)


def kron_predictive(mode: KronMode, cells, k_cross, k_diag, mean_new=0.0,
                    options: KronLaplaceOptions = KronLaplaceOptions()):
    """Laplace predictive mean and variance ``(m,)`` of ``f`` at new inputs for a Kronecker site, one ``θ``.

    Args:
        mode: the site's :class:`~bayeskern.gp.laplace.kronecker.KronMode` (grid order, ``N`` cells).
        cells: ``(N,)`` grid cell of each training row, or ``None`` (rows already in grid order).
        k_cross: ``(N, m)`` kernel between the training rows (row order) and the new inputs.
        k_diag: ``(m,)`` prior variances at the new inputs.
        mean_new: prior mean at the new inputs, scalar or ``(m,)``.
        options: the site's :class:`~bayeskern.gp.laplace.kronecker.KronLaplaceOptions`
            (``cg_tol``, ``cg_maxiter`` and ``precondition`` are used).

    Returns:
        ``(mean (m,), var (m,), ok)``: ``var`` clipped at 0 (round-off only); ``ok`` (scalar bool)
        says the Newton mode and every CG solve converged.
    """
    kg = k_cross if cells is None else jnp.zeros_like(k_cross).at[cells].set(k_cross)  # grid order (N, m)
    mean = mean_new + kg.T @ mode.grad
    V = _kron_lower_solve(mode.Ls, kg.T)  # rows S⁻¹ k*_j, (m, N)
    solve = partial(conjugate_gradient, _A_mv(mode.Ls, mode.W),
                    precondition=_preconditioner(mode.Ls, mode.W, options), tol=options.cg_tol,
                    maxiter=options.cg_maxiter)
    Z, info = jax.vmap(solve)(V)  # A⁻¹ v for all m columns (vmapped CG runs until the last one converges)
    var = k_diag - jnp.sum(V * V, axis=1) + jnp.sum(V * Z, axis=1)
    # the loop stops at ‖r‖ ≤ tol‖b‖ unless it hits maxiter; 2x leaves room for the residual's round-off
    ok = mode.info.converged & jnp.all(info.residual <= 2.0 * options.cg_tol)
    return mean, jnp.maximum(var, 0.0), ok


def check_kron_site(site, Xt, kernel, site_name: str):
    """First-draw checks for a Kronecker site (concrete values); raises ValueError naming the argument.

    ``X`` must be the model's grid rows in the model's order (checked exactly: its grid cells equal
    the site's), and ``kernel(X)`` must reproduce ``⊗ L_d L_dᵀ`` on up to 32 rows, at the pairs of
    rows that differ in every grid coordinate (those entries carry none of the per-axis jitter).
    """
    Ls = [np.asarray(L) for L in site.factors]
    shape = tuple(L.shape[0] for L in Ls)
    n = int(np.prod(shape))
    if Xt.shape != (n, len(shape)):
        raise ValueError(f"X must be the {n} training inputs ({len(shape)} grid axes) given to laplace_marginal, "
                         f"got shape {Xt.shape}")
    cells = np.arange(n) if site.cells is None else np.asarray(site.cells)
    try:
        _, cells_x = find_grid(np.asarray(Xt))
    except ValueError as err:
        raise ValueError(f"X must be the full grid the model gave laplace_marginal: {err}") from None
    if cells_x.shape != cells.shape or not np.array_equal(cells_x, cells):
        raise ValueError(f"X: its rows are not the grid cells of site {site_name!r} in the same order; pass the "
                         "inputs (in the same row order) the model gave laplace_marginal")
    idx = np.unravel_index(cells, shape)
    rows = np.unique(np.linspace(0, n - 1, min(n, 32)).round().astype(int))
    K_site = np.ones((rows.size, rows.size))
    differ = np.ones((rows.size, rows.size), dtype=bool)
    for d, L in enumerate(Ls):
        i = idx[d][rows]
        K_site = K_site * (L @ L.T)[i[:, None], i[None, :]]
        if shape[d] > 1:
            differ &= i[:, None] != i[None, :]
    if not differ.any():
        return
    K_fn = np.asarray(kernel(Xt[rows]))
    scale = float(np.prod([np.mean(np.sum(L * L, axis=1)) for L in Ls]))  # mean prior variance
    err = float(np.max(np.abs(K_site - K_fn)[differ]))
    if not err <= KERNEL_CHECK_RTOL * scale:
        raise ValueError(f"kernel: kernel(X) differs from the Kronecker prior covariance of site {site_name!r} by "
                         f"{err:.3g} (relative {err / scale:.3g}); pass the kernel (and X) the model gave "
                         "laplace_marginal")
