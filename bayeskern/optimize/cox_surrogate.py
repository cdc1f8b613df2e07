"""The Cox-process surrogate of Cox-process BO: a Gaussian Cox process on a grid, Laplace posterior.

Built from :mod:`bayeskern.cox`'s pieces: the grid over the search box
(:func:`bayeskern.cox.grid.make_grid`: cell centres, exact cell-window
intersection measures, event binning), the binned Poisson likelihood
(:func:`bayeskern.cox.likelihood.binned_log_likelihood`, exact for an
intensity constant on each cell), a link ``λ = g(f)``
(:func:`bayeskern.cox.links.get_link`: ``"log"`` -- the log-Gaussian Cox
process -- or ``"softplus"``; both keep the likelihood log-concave in ``f``)
and a whitened latent field ``f = m + A z``, ``z ~ N(0, I)``, with ``A`` the
Cholesky factor of the Matérn-5/2 Gram matrix on the cell centres (dense,
as :func:`bayeskern.gp.latent` builds it) or ``Φ diag(√S)`` from the
Hilbert-space basis (:func:`bayeskern.features.hsgp.hsgp_features`; ``M``
basis functions instead of ``G`` cells, for 2-D boxes).

The data after ``k`` windows are, per cell ``c``, the event count ``y_c``
and the exposure ``a_c = Σ_w |cell_c ∩ w|`` (cells seen twice count twice;
unobserved cells have ``a_c = 0`` and drop out of the likelihood).

**Posterior.** For each kernel hyperparameter pair ``h = (ℓ, s²)`` on a small
grid, Laplace's method in the whitened coordinates: damped Newton for the
mode ``ẑ`` of ``log p(y | m + A z) − ½‖z‖²``, the Gaussian
``f | y, h ≈ N(f̂, V_hᵀ V_h)`` with ``V_h = L_P⁻¹ Aᵀ``,
``P = I + Aᵀ W A`` (``W`` the negative Hessian of the log likelihood in
``f``) and the Laplace evidence ``log p(y | h) ≈ log p(y | f̂) − ½‖ẑ‖² −
log |L_P|``. The hyperparameters are then averaged over, not picked: each
grid point gets the weight ``∝ p(y | h) p(h)`` (log-normal prior on ``ℓ``
centred at a quarter of the box, uniform over the listed variances), and
acquisitions are weight-averaged over the components. Picking the single
best ``h`` after a few flat windows chose long lengthscales, made unexplored
parts of the box look certain, and made UCB exploit a secondary bump instead
of exploring -- the reason the first version did not beat random windows.

The prior mean is ``m = g⁻¹(pooled rate)`` (events over exposure), so the
field models departures from the average intensity.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._counts import as_count
from bayeskern.cox.grid import make_grid
from bayeskern.cox.likelihood import binned_log_likelihood
from bayeskern.cox.links import get_link
from bayeskern.features.hsgp import HSGPBasis, hsgp_features
from bayeskern.gp.laplace.newton import find_mode, log_marginal_at_mode
from bayeskern.gp.latent import latent
from bayeskern.kernels import Matern52
from bayeskern.linalg import cholesky
from bayeskern.linalg.triangular import whiten

__all__ = ["COX_LINKS", "COX_STRUCTURES", "CoxPosterior", "CoxSurrogate", "laplace_whitened"]

#: The surrogate's field structures; given explicitly (no ``"auto"``): ``CoxOptimizer`` takes
#: ``"dense"`` in 1-D and ``"hsgp"`` in 2-D (an approximation, which
#: :func:`bayeskern.gp.structure.choose_structure` never picks).
COX_STRUCTURES = ("dense", "hsgp")
COX_LINKS = ("log", "softplus")


class CoxPosterior(NamedTuple):
    """Laplace posteriors of ``f`` for ``H`` hyperparameter components.

    Attributes:
        mean: ``(H, G)`` posterior modes ``f̂``.
        V: ``(H, M, G)`` with ``Cov(f) = Vᵀ V`` per component.
        log_weight: ``(H,)`` normalised log weights (Laplace evidence times prior).
        log_evidence: ``(H,)`` Laplace approximations of ``log p(y | h)`` (up to a data-only constant).
        prior_mean: scalar ``m``.
    """

    mean: jax.Array
    V: jax.Array
    log_weight: jax.Array
    log_evidence: jax.Array
    prior_mean: jax.Array

    @property
    def var(self):
        """Marginal variances ``(H, G)``."""
        return jnp.sum(self.V * self.V, axis=1)


def _cell_loglik(link, f, counts, exposure):
    """Per-cell binned Poisson log likelihood ``(G,)``; cells with zero exposure contribute 0."""
    seen = exposure > 0
    a = jnp.where(seen, exposure, 1.0)
    ll = binned_log_likelihood(link.log_intensity(f)[:, None], counts[:, None], a[:, None])  # (G,)
    return jnp.where(seen, ll, 0.0)


@functools.partial(jax.jit, static_argnames=("link", "max_newton", "tol"))
def laplace_whitened(A, m, counts, exposure, link="log", *, max_newton: int = 60, tol: float = 1e-9):
    """Laplace approximation of ``z | y`` for ``y_c ~ Poisson(a_c g(m + (A z)_c))``, ``z ~ N(0, I_M)``.

    The mode search is the package's backtracking Newton
    (:func:`bayeskern.gp.laplace.newton.find_mode` with the rectangular factor ``A``):
    a step from a prior far below a large count, whose intensity overflows, is
    halved until the objective rises.

    Args:
        A: ``(G, M)`` field factor (``f = m + A z``); m: scalar or ``(G,)`` prior mean.
        counts, exposure: ``(G,)``; zero exposure marks an unobserved cell.
        link: ``"log"``, ``"softplus"`` or a :class:`~bayeskern.cox.links.Link` (log-concave likelihood).
        max_newton: Newton iterations at most.
        tol: Newton tolerance on the whitened gradient (relative to ``1 + max|z|``).

    Returns:
        ``(f_hat (G,), V (M, G), log_evidence)``: mode, ``Cov(f) ≈ Vᵀ V``, and
        ``log p(y | f̂) − ½‖ẑ‖² − ½ log|I + AᵀWA|``.
    """
    lk = get_link(link) if isinstance(link, str) else link
    G, M = A.shape
    m = jnp.broadcast_to(jnp.asarray(m, A.dtype), (G,))
    mode = find_mode(lambda f, y, a: _cell_loglik(lk, f, y, a), (counts, exposure), m, A,
                     max_iter=max_newton, tol=tol)
    V = whiten(mode.C, A.T)
    return mode.f, V, log_marginal_at_mode(mode)


class CoxSurrogate:
    """Gaussian Cox process on a regular grid over a box, with Laplace posteriors averaged over hyperparameters.

    Args:
        bounds: ``(d, 2)`` box (``d`` = 1 or 2).
        grid: cells per axis.
        structure: the field's linear algebra: ``"dense"`` (exact Matérn-5/2 Gram matrix; ``grid**d <= 1024``) or ``"hsgp"``.
        num_basis: HSGP basis functions per axis (default ``min(grid, 12)``).
        link: ``"log"`` (LGCP) or ``"softplus"``.
        lengthscales: kernel lengthscales on the unit box (the grid of ``h``).
        variances: kernel variances of ``f``.
        prior_lengthscale: median of the log-normal (sd 1) prior weight over ``lengthscales`` (unit box).
    """

    def __init__(self, bounds, *, grid: int = 40, structure: str = "dense", num_basis: int | None = None,
                 link: str = "log", lengthscales=(0.03, 0.06, 0.12, 0.25), variances=(1.0, 4.0),
                 prior_lengthscale: float = 0.25):
        b = np.asarray(bounds, float)
        if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] not in (1, 2):
            raise ValueError(f"bounds must have shape (d, 2) with d = 1 or 2, got {b.shape}")
        if not np.all(np.isfinite(b)) or not np.all(b[:, 0] < b[:, 1]):
            raise ValueError(f"bounds must be finite with lower < upper, got {b.tolist()}")
        if structure not in COX_STRUCTURES:
            raise ValueError(f"structure must be one of {COX_STRUCTURES}, got {structure!r}")
        if link not in COX_LINKS:
            raise ValueError(f"link must be one of {COX_LINKS}, got {link!r}")
        d = b.shape[0]
        grid = as_count(grid, "grid")
        num_basis = None if num_basis is None else as_count(num_basis, "num_basis")
        if int(grid) < 4 or (structure == "dense" and int(grid) ** d > 1024) or int(grid) ** d > 16384:
            raise ValueError(f"grid must be >= 4 with grid**d <= 1024 cells (dense) or <= 16384 (hsgp); got "
                             f"grid={grid}, d={d}, structure={structure!r}")
        ls, vs = np.asarray(lengthscales, float), np.asarray(variances, float)
        if ls.ndim != 1 or vs.ndim != 1 or ls.size < 1 or vs.size < 1 or np.any(ls <= 0) or np.any(vs <= 0):
            raise ValueError("lengthscales and variances must be non-empty 1-D sequences of positive numbers")
        self.bounds, self.d, self.structure, self.link_name = b, d, structure, link
        self.link = get_link(link)
        self.grid = make_grid(b[0] if d == 1 else b, int(grid))
        self.shape = self.grid.shape
        self.centres = self.grid.centres  # (G, d), C order
        self.unit_centres = (self.centres - b[:, 0]) / (b[:, 1] - b[:, 0])
        self.hypers = np.array([(a, v) for a in ls for v in vs])  # (H, 2)
        if not prior_lengthscale > 0:
            raise ValueError(f"prior_lengthscale must be positive, got {prior_lengthscale}")
        # Prior over the grid: ℓ log-normal around prior_lengthscale (sd 1 in log space), flat over variances.
        self.prior_lengthscale = float(prior_lengthscale)
        self.log_prior = -0.5 * (np.log(self.hypers[:, 0] / self.prior_lengthscale)) ** 2
        X = jnp.asarray(self.unit_centres)
        self.basis = None
        if structure == "dense":
            def factor(ls_, var):
                K = Matern52(lengthscale=ls_, variance=var)(X)
                return cholesky(K, jitter=1e-6, name="Cox field kernel matrix")
        else:
            m = min(int(grid), 12) if num_basis is None else int(num_basis)
            basis = self.basis = HSGPBasis.from_inputs(X, m, 1.5)

            def factor(ls_, var):
                Phi, sqrt_w = hsgp_features(Matern52(lengthscale=ls_, variance=var), X, basis=basis)
                return Phi * sqrt_w[None, :]
        self.factors = jnp.stack([factor(a, v) for a, v in self.hypers])  # (H, G, M)

    def counts(self, events):
        """Events ``(k, d)`` (inside the box) binned per cell ``(G,)``."""
        return self.grid.counts(np.asarray(events, float).reshape(-1, self.d))

    def window_exposure(self, window):
        """Measure ``(G,)`` of each cell inside ``window`` ``(d, 2)`` (exact for boxes)."""
        w = np.asarray(window, float)
        return self.grid.region_exposure(w[0] if self.d == 1 else w)

    def prior_mean(self, counts, exposure):
        """``g⁻¹`` of the pooled rate (half an event added so an empty start stays finite)."""
        rate = (float(np.sum(counts)) + 0.5) / max(float(np.sum(exposure)), 1e-12)
        return float(self.link.inverse(rate))

    def posterior(self, counts, exposure) -> CoxPosterior:
        """Laplace posteriors for every hyperparameter component given counts and exposure ``(G,)``."""
        m = self.prior_mean(counts, exposure)
        f, V, lev = _fit_components(self.link_name, self.factors, jnp.asarray(m), jnp.asarray(counts, float),
                                    jnp.asarray(exposure, float))
        lw = jnp.where(jnp.isfinite(lev), lev + jnp.asarray(self.log_prior), -jnp.inf)
        lw = lw - jax.scipy.special.logsumexp(lw)
        return CoxPosterior(f, V, lw, lev, jnp.asarray(m))

    def model(self, counts, exposure, *, name: str = "f", obs_name: str = "counts"):
        """A NumPyro model of the same Cox process with sampled hyperparameters (for NUTS).

        Sites: ``{name}_lengthscale ~ LogNormal(log prior_lengthscale, 1)``, ``{name}_variance ~ LogNormal(0, 1)``,
        ``{name}_mean ~ Normal(m, 2)``, the whitened field ``{name}_z`` / ``{name}`` (dense via
        ``bayeskern.gp.latent``; HSGP features otherwise) and the Poisson counts ``obs_name`` over the
        observed cells.
        """
        import numpyro
        import numpyro.distributions as dist

        counts, exposure = np.asarray(counts), np.asarray(exposure, float)
        seen = np.flatnonzero(exposure > 0)
        m0 = self.prior_mean(counts, exposure)
        X = jnp.asarray(self.unit_centres)

        def cox_model():
            ls_ = numpyro.sample(f"{name}_lengthscale", dist.LogNormal(math.log(self.prior_lengthscale), 1.0))
            var = numpyro.sample(f"{name}_variance", dist.LogNormal(0.0, 1.0))
            mu = numpyro.sample(f"{name}_mean", dist.Normal(m0, 2.0))
            k = Matern52(lengthscale=ls_, variance=var)
            if self.structure == "dense":
                f = latent(name, k, X, jitter=1e-6)
            else:
                Phi, sqrt_w = hsgp_features(k, X, basis=self.basis)
                z = numpyro.sample(f"{name}_z", dist.Normal(jnp.zeros(Phi.shape[1]), 1.0).to_event(1))
                f = numpyro.deterministic(name, Phi @ (sqrt_w * z))
            log_rate = self.link.log_intensity(mu + f[seen]) + jnp.log(exposure[seen])
            numpyro.sample(obs_name, dist.Poisson(jnp.exp(log_rate)), obs=jnp.asarray(counts[seen]))

        return cox_model


@functools.partial(jax.jit, static_argnums=(0,))
def _fit_components(link_name, factors, m, counts, exposure):
    return jax.vmap(lambda A: laplace_whitened(A, m, counts, exposure, link=link_name))(factors)
