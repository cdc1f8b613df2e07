"""NumPyro model pieces for Cox processes on a grid: the intensity field and ready LGCP models.

``intensity_field`` builds ``η = μ + f + Zβ + g(Z) + offset`` over the grid
cells (``f`` a whitened GP from :mod:`bayeskern.cox.field`, ``Zβ`` a linear
covariate term, ``g`` an optional GP over the covariate values) and returns
the intensity ``λ = link(η)``; ``cox_grid_model`` adds the binned Poisson
likelihood. Every site is named from the user's ``name`` prefix:
``{name}_lengthscale``/``{name}_variance`` (kernel), ``{name}_mean``,
``{name}_beta`` (covariates), ``{name}_cov_*`` (covariate kernel),
``{name}_max_rate`` (sigmoid link), ``{name}_z``/``{name}`` (field),
``{name}_intensity`` (deterministic), and the observation site ``obs_name``.

The GP covariate term is exact and joint with the field: ``f + g(Z)`` is one
GP over the augmented inputs ``[s, z(s)]`` with the additive kernel
``k_space(s, s') + k_cov(z, z')`` (:func:`additive_covariate_kernel`), so it
needs the dense field (a sum does not factor over the grid axes, and has no
Hilbert-space basis over the window).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayeskern._checks import is_concrete
from bayeskern.cox.field import field_structure, latent_field
from bayeskern.cox.likelihood import cox_counts
from bayeskern.cox.links import get_link
from bayeskern.gp import latent
from bayeskern.kernels import RBF, Kernel, Matern52, Sum, Warped
from bayeskern.priors import KernelSpec, default_priors, resolve_kernel, sample_kernel

__all__ = ["FIELD_JITTER", "additive_covariate_kernel", "check_covariates", "covariate_kernel_sampler",
           "cox_grid_model", "default_field_kernel", "intensity_field", "lgcp_1d", "lgcp_2d"]

#: Relative jitter of the field's Cholesky factors: a nugget of 1e-6 of the variance is far below
#: any intensity resolution and keeps long-lengthscale kernels on fine grids factorisable under NUTS.
FIELD_JITTER = 1e-6


def default_field_kernel(structure: str, X) -> KernelSpec:
    """Cox's default field kernel, as the ``default`` of :func:`~bayeskern.priors.resolve_kernel`.

    Matern52 for the dense and HSGP fields; RBF on a Kronecker field (it factors over the
    grid axes), with one lengthscale per axis for ``X`` ``(N, d)`` with ``d > 1``.
    """
    if structure != "kronecker":
        return Matern52
    return _ard_rbf if np.shape(X)[1] > 1 else RBF


def _ard_rbf(prefix: str, X) -> Kernel:
    """An ARD RBF with data-scaled priors (sites ``{prefix}_lengthscale`` ``(d,)``, ``{prefix}_variance``)."""
    return sample_kernel(prefix, RBF, X, ard=True)


# ------------------------------------------------------------------ covariates
def check_covariates(covariates, offset, n: int, *, covariate_kernel=None, structure: str = "dense"):
    """Checked ``(Z, offset)``: ``Z`` ``(n, p)`` float or None, ``offset`` ``(n,)`` or None.

    ``covariates`` is ``(n,)`` or ``(n, p)`` (one row per grid cell), ``offset`` ``(n,)``; both
    must be finite (checked where concrete; inside a trace only shapes are checked). A
    ``covariate_kernel`` needs ``covariates`` and the dense field.

    Raises:
        ValueError: naming ``covariates``, ``offset`` or ``covariate_kernel``.
    """
    Z = off = None
    if covariates is not None:
        Z = jnp.asarray(covariates, dtype=jnp.result_type(float))
        Z = Z[:, None] if Z.ndim == 1 else Z
        if Z.ndim != 2 or Z.shape[0] != n or Z.shape[1] < 1:
            raise ValueError(f"covariates must be (N,) or (N, p) with one row per grid cell (N = {n}), "
                             f"got shape {jnp.shape(covariates)}")
        # Checked on the caller's array: under jit even jnp.asarray of a constant may be a tracer.
        if is_concrete(covariates) and not np.all(np.isfinite(np.asarray(covariates, dtype=float))):
            Zn = np.asarray(covariates, dtype=float).reshape(n, -1)
            bad = np.flatnonzero(~np.all(np.isfinite(Zn), axis=1))[:5]
            raise ValueError(f"covariates must be finite in every cell (unobserved cells too: fill them with "
                             f"any finite value); NaN/inf in row(s) {bad.tolist()}")
    if offset is not None:
        off = jnp.asarray(offset, dtype=jnp.result_type(float)).reshape(-1)
        if off.shape != (n,):
            raise ValueError(f"offset must have one value per grid cell ({n}), got shape {jnp.shape(offset)}")
        if is_concrete(offset) and not np.all(np.isfinite(np.asarray(offset, dtype=float))):
            raise ValueError("offset must be finite in every cell (e.g. log population with population > 0)")
    if covariate_kernel is not None:
        if Z is None:
            raise ValueError("covariate_kernel needs covariates= (the surfaces it is a function of)")
        if structure != "dense":
            raise ValueError(f"covariate_kernel needs the dense field (structure='dense'), got {structure!r}: the sum of a "
                             "spatial and a covariate kernel neither factors over the grid axes (Kronecker) nor has "
                             "a Hilbert-space basis over the window (HSGP)")
    return Z, off


class _Columns:
    """Picklable column selector ``X -> X[:, start:stop]`` (the static transform of a Warped kernel)."""

    def __init__(self, start: int, stop: int | None):
        self.start, self.stop = start, stop

    def __call__(self, X):
        return X[:, self.start:self.stop]

    def __eq__(self, other):
        return isinstance(other, _Columns) and (self.start, self.stop) == (other.start, other.stop)

    def __hash__(self):
        return hash((_Columns, self.start, self.stop))


def additive_covariate_kernel(space_kernel: Kernel, covariate_kernel: Kernel, dim: int) -> Kernel:
    """``k([s, z], [s', z']) = space_kernel(s, s') + covariate_kernel(z, z')`` on augmented inputs ``(n, dim + p)``.

    Column selection by a warp rather than ``active_dims``: each kernel sees only its own
    columns, so a user kernel keeps its own ``active_dims`` (relative to the spatial or the
    covariate columns) unchanged.
    """
    return Sum(Warped(space_kernel, _Columns(0, dim)), Warped(covariate_kernel, _Columns(dim, None)))


def covariate_kernel_sampler(covariate_kernel, covariates):
    """A kernel class -> a callable ``(prefix, Z) -> Kernel`` whose priors are scaled on the concrete ``covariates``.

    Data-scaled priors need the covariate values themselves; runners that replay the model
    with its array arguments traced (latent draws of the Laplace path, pointwise
    log likelihoods) cannot form them, so :func:`~bayeskern.cox.fit.fit` builds them once
    here. Anything else is returned unchanged.
    """
    if not (isinstance(covariate_kernel, type) and issubclass(covariate_kernel, Kernel)):
        return covariate_kernel

    Z = np.asarray(covariates, dtype=float)
    priors = default_priors(covariate_kernel, Z[:, None] if Z.ndim == 1 else Z)
    cls = covariate_kernel

    def sample(prefix, _Z):
        return sample_kernel(prefix, cls, **priors)

    return sample


def covariate_gp_kernel(name: str, covariate_kernel, Z, covariates):
    """The covariate kernel (sites ``{name}_cov_*``) over ``Z`` ``(N, p)`` (the checked ``covariates``)."""
    if isinstance(covariate_kernel, type):
        # Data-scaled priors are computed in NumPy from the caller's (concrete) array.
        if not is_concrete(covariates):
            raise ValueError("covariate_kernel given as a kernel class needs concrete covariates for its "
                             "data-scaled priors; inside a traced model pass "
                             "covariate_kernel_sampler(cls, covariates) instead")
        Z = np.asarray(covariates, dtype=float).reshape(Z.shape)
    return resolve_kernel(covariate_kernel, f"{name}_cov", Z, argname="covariate_kernel")


def linear_covariate_term(name: str, Z):
    """``Z @ β`` ``(n,)`` with ``{name}_beta ~ N(0, I_p)`` for ``Z`` ``(n, p)``."""
    beta = numpyro.sample(f"{name}_beta", dist.Normal(jnp.zeros(Z.shape[1], Z.dtype), 1.0).to_event(1))
    return Z @ beta


def intensity_field(name: str, grid, *, kernel=None, link="log", structure: str = "dense", covariates=None,
                    offset=None, covariate_kernel=None, base_rate: float = 1.0, link_params=None, num_basis=None):
    """Sample the intensity over every grid cell; returns ``(λ, log λ)``, each ``(N,)``.

    ``λ = link(μ + f + Zβ + g(Z) + offset)`` with ``f`` the spatial field, ``Zβ`` the linear
    covariate term and ``g`` the optional GP covariate term.

    Args:
        name: site-name prefix.
        grid: a :class:`~bayeskern.cox.grid.Grid` with ``N = grid.size`` cells.
        kernel: a :data:`~bayeskern.priors.KernelSpec` (Kernel, kernel class sampled as
            ``{name}_<hyperparameter>``, or callable ``(name, X) -> Kernel``; see
            :func:`~bayeskern.priors.resolve_kernel`) or None for :func:`default_field_kernel`.
        link: link name or :class:`~bayeskern.cox.links.Link`.
        structure: the field's linear-algebra structure: ``"dense"``, ``"kronecker"``, ``"hsgp"`` or
            ``"auto"`` (:func:`bayeskern.cox.field.field_structure`: Kronecker in 2-D and up, else dense).
        covariates: ``(N,)`` or ``(N, p)`` covariate surfaces at the cells, finite in every cell
            (standardise them); coefficients ``{name}_beta ~ N(0, I_p)``.
        offset: ``(N,)`` known additive term on the linear predictor (e.g. log population), inside
            the link for every link (it multiplies the intensity by ``exp(offset)`` for the log link only).
        covariate_kernel: a GP term ``g(z(s))`` of the covariate values beside the linear one:
            a Kernel over the ``p`` covariate columns, a kernel class (hyperparameters
            ``{name}_cov_*`` with priors scaled on ``covariates``), or a callable
            ``(prefix, Z (N, p)) -> Kernel``. Needs ``covariates`` and ``structure="dense"``: the
            field becomes one GP over ``[s, z(s)]`` with kernel ``kernel(s, s') + covariate_kernel(z, z')``,
            and the site ``{name}`` is then ``f + g``.
        base_rate: a rough events-per-unit-measure scale; centres the prior of ``{name}_mean``.
        link_params: dict of link parameters (``offset`` for square; ``max_rate`` for sigmoid,
            sampled as ``{name}_max_rate ~ LogNormal(log 2·base_rate, 1)`` when not given).
        num_basis: HSGP basis size per axis.

    Raises:
        ValueError: covariates/offset without one finite row per cell, or a covariate_kernel
            without covariates or with a non-dense field (each naming the argument).
    """
    structure = field_structure(structure, grid)
    Z, off = check_covariates(covariates, offset, grid.size, covariate_kernel=covariate_kernel, structure=structure)
    params = dict(link_params or {})
    lname = link if isinstance(link, str) else link.name
    if isinstance(link, str) and lname == "sigmoid" and params.get("max_rate") is None:
        params["max_rate"] = numpyro.sample(f"{name}_max_rate", dist.LogNormal(jnp.log(2.0 * base_rate), 1.0))
    lk = get_link(link, **params)
    X = grid.centres
    k = resolve_kernel(kernel, name, X, default=default_field_kernel(structure, X))
    centre = 0.0 if lname == "sigmoid" else lk.inverse(base_rate)
    scale = 2.0 if lname in ("log", "sigmoid") else jnp.maximum(1.0, jnp.abs(centre))
    mu = numpyro.sample(f"{name}_mean", dist.Normal(centre, scale))
    if covariate_kernel is None:
        f = latent_field(name, k, grid, structure, num_basis=num_basis, jitter=FIELD_JITTER)
    else:
        k = additive_covariate_kernel(k, covariate_gp_kernel(name, covariate_kernel, Z, covariates), grid.dim)
        f = latent(name, k, jnp.concatenate([jnp.asarray(X, Z.dtype), Z], axis=1), jitter=FIELD_JITTER)
    eta = mu + f
    if Z is not None:
        eta = eta + linear_covariate_term(name, Z)
    if off is not None:
        eta = eta + off
    lam = numpyro.deterministic(f"{name}_intensity", lk.intensity(eta))
    return lam, lk.log_intensity(eta)


def cox_grid_model(grid, counts=None, *, name: str = "f", obs_name: str = "counts", kernel=None, link="log",
                   structure: str = "dense", covariates=None, offset=None, covariate_kernel=None, base_rate=None,
                   link_params=None, num_basis=None):
    """A Cox process on a grid with binned counts (``counts=None`` samples them).

    See :func:`intensity_field` for the arguments; ``base_rate`` defaults to
    ``Σ counts / Σ exposure`` (1 when no counts are given).
    """
    if base_rate is None:
        base_rate = 1.0 if counts is None else jnp.maximum(jnp.sum(counts), 1.0) / float(np.sum(grid.exposure))
    lam, log_lam = intensity_field(name, grid, kernel=kernel, link=link, structure=structure, covariates=covariates,
                                   offset=offset, covariate_kernel=covariate_kernel, base_rate=base_rate,
                                   link_params=link_params, num_basis=num_basis)
    return cox_counts(obs_name, lam, grid, counts, log_intensity=log_lam)


def lgcp_1d(grid, counts=None, *, name: str = "f", obs_name: str = "counts", kernel=None, structure: str = "dense",
            **kwargs):
    """Log-Gaussian Cox process for event times binned on a 1-D grid (Matern52 field by default)."""
    if grid.dim != 1:
        raise ValueError(f"lgcp_1d needs a 1-D grid, got {grid.dim}-D")
    return cox_grid_model(grid, counts, name=name, obs_name=obs_name, kernel=kernel, link="log", structure=structure,
                          **kwargs)


def lgcp_2d(grid, counts=None, *, name: str = "f", obs_name: str = "counts", kernel=None,
            structure: str = "kronecker", **kwargs):
    """Log-Gaussian Cox process for a 2-D point pattern (ARD RBF on a Kronecker grid by default)."""
    if grid.dim != 2:
        raise ValueError(f"lgcp_2d needs a 2-D grid, got {grid.dim}-D")
    return cox_grid_model(grid, counts, name=name, obs_name=obs_name, kernel=kernel, link="log", structure=structure,
                          **kwargs)
