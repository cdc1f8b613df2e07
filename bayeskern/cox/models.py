"""NumPyro model pieces for Cox processes on a grid: the intensity field and ready LGCP models.

``intensity_field`` builds ``η = μ + f + Zβ + offset`` over the grid cells
(``f`` a whitened GP from :mod:`bayeskern.cox.field`) and returns the
intensity ``λ = g(η)``; ``cox_grid_model`` adds the binned Poisson
likelihood. Every site is named from the user's ``name`` prefix:
``{name}_lengthscale``/``{name}_variance`` (kernel), ``{name}_mean``,
``{name}_beta`` (covariates), ``{name}_max_rate`` (sigmoid link),
``{name}_z``/``{name}`` (field), ``{name}_intensity`` (deterministic),
and the observation site ``obs_name``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayeskern.cox.field import latent_field
from bayeskern.cox.likelihood import cox_counts
from bayeskern.cox.links import get_link
from bayeskern.kernels import RBF, Kernel, Matern52

__all__ = ["FIELD_JITTER", "cox_grid_model", "intensity_field", "lgcp_1d", "lgcp_2d", "resolve_kernel"]

#: Relative jitter of the field's Cholesky factors: a nugget of 1e-6 of the variance is far below
#: any intensity resolution and keeps long-lengthscale kernels on fine grids factorisable under NUTS.
FIELD_JITTER = 1e-6


def resolve_kernel(name: str, kernel, X, method: str):
    """The kernel for the field: a Kernel as is; a kernel class sampled with data-scaled priors; None -> default.

    The default is Matern52 (dense, HSGP) or RBF with one lengthscale per axis (Kronecker: it factors).
    """
    if isinstance(kernel, Kernel):
        return kernel
    from bayeskern.priors import sample_kernel

    if kernel is None:
        cls, ard = (RBF, np.shape(X)[1] > 1) if method == "kronecker" else (Matern52, False)
        return sample_kernel(name, cls, X, ard=ard)
    if isinstance(kernel, type) and issubclass(kernel, Kernel):
        return sample_kernel(name, kernel, X)
    if callable(kernel):  # user function sampling a kernel inside the model
        return kernel(name, X)
    raise ValueError(f"kernel must be a Kernel, a kernel class, a callable (name, X) -> Kernel, or None; got {kernel!r}")


def intensity_field(name: str, grid, *, kernel=None, link="log", method: str = "dense", covariates=None,
                    offset=None, base_rate: float = 1.0, link_params=None, num_basis=None):
    """Sample the intensity over every grid cell; returns ``(λ, log λ)``, each ``(N,)``.

    Args:
        name: site-name prefix.
        grid: a :class:`~bayeskern.cox.grid.Grid`.
        kernel: Kernel, kernel class, callable ``(name, X) -> Kernel`` or None (see :func:`resolve_kernel`).
        link: link name or :class:`~bayeskern.cox.links.Link`.
        method: field representation ``"dense"``, ``"kronecker"`` or ``"hsgp"``.
        covariates: ``(N, p)`` covariate surfaces at the cells (standardise them); coefficients
            ``{name}_beta ~ N(0, 1)``.
        offset: ``(N,)`` known additive term on the linear predictor (e.g. log population).
        base_rate: a rough events-per-unit-measure scale; centres the prior of ``{name}_mean``.
        link_params: dict of link parameters (``offset`` for square; ``max_rate`` for sigmoid,
            sampled as ``{name}_max_rate ~ LogNormal(log 2·base_rate, 1)`` when not given).
        num_basis: HSGP basis size per axis.
    """
    params = dict(link_params or {})
    lname = link if isinstance(link, str) else link.name
    if isinstance(link, str) and lname == "sigmoid" and params.get("max_rate") is None:
        params["max_rate"] = numpyro.sample(f"{name}_max_rate", dist.LogNormal(jnp.log(2.0 * base_rate), 1.0))
    lk = get_link(link, **params)
    X = grid.centres
    k = resolve_kernel(name, kernel, X, method)
    centre = 0.0 if lname == "sigmoid" else lk.inverse(base_rate)
    scale = 2.0 if lname in ("log", "sigmoid") else jnp.maximum(1.0, jnp.abs(centre))
    mu = numpyro.sample(f"{name}_mean", dist.Normal(centre, scale))
    f = latent_field(name, k, grid, method, num_basis=num_basis, jitter=FIELD_JITTER)
    eta = mu + f
    if covariates is not None:
        Z = jnp.asarray(covariates)
        Z = Z[:, None] if Z.ndim == 1 else Z
        if Z.shape[0] != grid.size:
            raise ValueError(f"covariates must have one row per grid cell ({grid.size}), got {Z.shape}")
        beta = numpyro.sample(f"{name}_beta", dist.Normal(jnp.zeros(Z.shape[1]), 1.0).to_event(1))
        eta = eta + Z @ beta
    if offset is not None:
        off = jnp.asarray(offset).reshape(-1)
        if off.shape != (grid.size,):
            raise ValueError(f"offset must have one value per grid cell ({grid.size}), got {jnp.shape(offset)}")
        eta = eta + off
    lam = numpyro.deterministic(f"{name}_intensity", lk.intensity(eta))
    return lam, lk.log_intensity(eta)


def cox_grid_model(grid, counts=None, *, name: str = "f", obs_name: str = "counts", kernel=None, link="log",
                   method: str = "dense", covariates=None, offset=None, base_rate=None, link_params=None,
                   num_basis=None):
    """A Cox process on a grid with binned counts (``counts=None`` samples them).

    See :func:`intensity_field` for the arguments; ``base_rate`` defaults to
    ``Σ counts / Σ exposure`` (1 when no counts are given).
    """
    if base_rate is None:
        base_rate = 1.0 if counts is None else jnp.maximum(jnp.sum(counts), 1.0) / float(np.sum(grid.exposure))
    lam, log_lam = intensity_field(name, grid, kernel=kernel, link=link, method=method, covariates=covariates,
                                   offset=offset, base_rate=base_rate, link_params=link_params, num_basis=num_basis)
    return cox_counts(obs_name, lam, grid, counts, log_intensity=log_lam)


def lgcp_1d(grid, counts=None, *, name: str = "f", obs_name: str = "counts", kernel=None, method: str = "dense",
            **kwargs):
    """Log-Gaussian Cox process for event times binned on a 1-D grid (Matern52 field by default)."""
    if grid.dim != 1:
        raise ValueError(f"lgcp_1d needs a 1-D grid, got {grid.dim}-D")
    return cox_grid_model(grid, counts, name=name, obs_name=obs_name, kernel=kernel, link="log", method=method,
                          **kwargs)


def lgcp_2d(grid, counts=None, *, name: str = "f", obs_name: str = "counts", kernel=None,
            method: str = "kronecker", **kwargs):
    """Log-Gaussian Cox process for a 2-D point pattern (ARD RBF on a Kronecker grid by default)."""
    if grid.dim != 2:
        raise ValueError(f"lgcp_2d needs a 2-D grid, got {grid.dim}-D")
    return cox_grid_model(grid, counts, name=name, obs_name=obs_name, kernel=kernel, link="log", method=method,
                          **kwargs)
