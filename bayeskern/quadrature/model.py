"""BQ as a NumPyro model: kernel hyperparameters from ``bayeskern.priors``, the integral as sites.

``bq_model`` samples the kernel's hyperparameters (``sample_kernel`` under a
user prefix), observes the evaluations through a ``GaussianProcess`` and
records the integral's conditional mean and variance as deterministic sites
``f"{name}_mean"`` and ``f"{name}_var"``. Run it with ``bayeskern.infer.nuts``
(hyperparameters marginalised: the integral's posterior is the mixture
:func:`integral_posterior` builds) or ``bayeskern.infer.svi(guide="map")``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.kernels import (
    RBF,
    Constant,
    Matern12,
    Matern32,
    Matern52,
    RationalQuadratic,
)
from bayeskern.linalg import cholesky
from bayeskern.priors import default_priors, inverse_gamma_prior, sample_kernel
from bayeskern.quadrature.embeddings import embed
from bayeskern.quadrature.measures import Gaussian
from bayeskern.quadrature.posterior import IntegralPosterior, posterior_moments

_MATERN = (Matern12, Matern32, Matern52)


class BQMarginal(dist.MultivariateNormal):
    """``N(0, k(X, X) + diag(noise))``: the marginal likelihood of BQ evaluations ``(n,)``.

    The same density as ``bayeskern.gp.GaussianProcess(k, X, noise=..., structure="dense")``
    (checked in the tests), differentiated by plain autodiff through the Cholesky
    factor. BQ has tens of points, where the GP backend's analytic gradient pays more
    for its LAPACK ``potri`` host callback than for the algebra: measured 5x slower MAP
    fits on a loaded 2-core machine (n = 12). ``pointwise_log_prob`` gives the exact
    leave-one-out terms (Rasmussen & Williams 2006, eq. 5.12) so PSIS-LOO works on a fit.
    """

    def __init__(self, kernel, X, noise=None, mask=None):
        X = as_inputs(X, "X")
        K = kernel(X)
        if noise is not None:
            K = K + jnp.diag(jnp.broadcast_to(jnp.asarray(noise, K.dtype), K.shape[:1]))
        if mask is not None:
            # Padding rows (mask False) become independent coordinates with the mean diagonal as
            # variance (so the relative jitter is unchanged); :meth:`padding_log_prob` is their
            # share of the density at value 0. Fits of growing designs then share one compilation.
            keep = jnp.asarray(mask, bool)
            diag = jnp.sum(jnp.where(keep, jnp.diagonal(K), 0.0)) / jnp.sum(keep)
            K = jnp.where(keep[:, None] & keep[None, :], K, diag * jnp.eye(K.shape[0], dtype=K.dtype))
        self._pad_mask = mask  # not `mask`: Distribution.mask is a method NumPyro handlers call
        L = cholesky(K, name="the BQ Gram matrix k(X, X)")
        super().__init__(jnp.zeros(K.shape[:1], K.dtype), scale_tril=L)

    def padding_log_prob(self):
        """``()``: the padding rows' share of ``log_prob`` when their values are 0 (0 without a mask)."""
        if self._pad_mask is None:
            return jnp.zeros(())
        var = jnp.diagonal(self.scale_tril) ** 2
        return jnp.sum(jnp.where(jnp.asarray(self._pad_mask, bool), 0.0, -0.5 * jnp.log(2 * math.pi * var)))

    def pointwise_log_prob(self, value):
        """``log p(y_i | y_{-i})`` ``(n,)`` for evaluations ``value`` ``(n,)``."""
        L = self.scale_tril
        Linv = jax.scipy.linalg.solve_triangular(L, jnp.eye(L.shape[-1], dtype=L.dtype), lower=True)
        Kinv = Linv.T @ Linv
        alpha = Kinv @ value
        d = jnp.diagonal(Kinv)
        return -0.5 * jnp.log(2 * math.pi) + 0.5 * jnp.log(d) - 0.5 * alpha**2 / d


def default_kernel(measure):
    """The kernel family :func:`bq_model` and ``integrate`` learn when none is given: ``Matern32``, or ``RBF`` under a Gaussian.

    On a box (and for empirical measures) Matérn 3/2, as a tensor product over
    dimensions (:func:`tensor_form`), because it is the family whose intervals
    were calibrated on smooth integrands. ``benchmarks/bench_quadrature.py
    --calibration`` (Genz oscillatory, product peak, corner peak and Gaussian
    on [0, 1]^d, d = 1, 2, 3, n = 16·d Sobol points, NUTS-marginalised
    hyperparameters, 120 cases) gave |z| < 2 in 0.93 of cases with Matérn 3/2,
    0.83 with Matérn 5/2 and 0.78 with RBF (0.97, 0.90 and 0.88 on 60 other
    cases used to choose). This is the known over-confidence of smooth kernels:
    the RBF RKHS holds only restrictions of entire functions, which the peak
    families are not (they have poles near the box), and a smoother kernel's
    posterior variance shrinks faster than its error does. The price is
    accuracy on analytic integrands in one dimension (median relative error
    15-250x RBF's at n = 16 on the oscillatory, corner-peak and Gaussian
    families, equal on product peak, still far below scrambled Sobol's); in
    d = 2, 3 the errors were within a factor 4 of RBF's. Pass ``kernel=RBF`` (or
    ``Matern52``) when the integrand is known to be that smooth. A corner
    feature (Genz corner peak, d >= 2) stays under-covered with every
    stationary kernel: the variation is concentrated in one corner, which a
    single output scale cannot describe.

    Under a :class:`Gaussian` measure only the RBF kernel has closed-form
    kernel means (a Matérn would need randomised QMC at every hyperparameter
    value), so RBF stays the default there.
    """
    return RBF if isinstance(measure, Gaussian) else Matern32


def tensor_form(kernel, dim: int):
    """A Matérn kernel over ``dim > 1`` inputs as the product of one-dimensional Matérns.

    ``variance · Π_j ρ(|x_j - x'_j| / ℓ_j)`` (the tensor-product Sobolev kernel
    of the BQ literature, Briol et al. 2019) instead of ``ρ(‖(x - x')/ℓ‖)``:
    only the product has closed-form kernel means on a box (the isotropic
    form falls back to randomised QMC). Other kernels, kernels with
    ``active_dims`` and ``dim == 1`` are returned unchanged.
    """
    if type(kernel) not in _MATERN or dim < 2 or kernel.active_dims is not None:
        return kernel
    cls = type(kernel)
    ell = jnp.broadcast_to(jnp.asarray(kernel.lengthscale), (dim,))
    out = cls(lengthscale=ell[0], variance=kernel.variance, active_dims=(0,))
    for j in range(1, dim):
        out = out * cls(lengthscale=ell[j], variance=1.0, active_dims=(j,))
    return out


def offset_variance(y) -> float:
    """Prior variance of the constant offset of ``f``: ``10 · mean(y²)`` (wide, not centred on the data)."""
    y = np.asarray(y, dtype=float)
    return float(10.0 * max(np.mean(y * y), 1e-300))


def design_scales(X, ard: bool):
    """``(lower, upper)`` length scales a design ``X`` ``(n, d)`` resolves: ``(d,)`` each if ``ard``, else scalars.

    ``upper`` is the input range. ``lower`` is the smallest distance between
    two distinct points in ``d`` dimensions (after scaling each input to unit
    range under ARD, then mapped back to that input's units): Betancourt's
    "smallest spacing" taken in the input space, not over the one-dimensional
    projections as the generic GP default (``bayeskern.priors``) does. The
    projections of a space-filling design in ``d > 1`` have gaps of order
    ``1/n²`` (48 scrambled Sobol points in [0, 1]³: 0.001-0.01) while its points
    are at least ``~0.1`` apart.
    """
    from scipy.spatial import cKDTree

    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    ranges = np.ptp(X, axis=0)
    if X.shape[0] < 2 or not np.all(ranges > 0):
        raise ValueError("X must hold at least two points that differ in every input dimension "
                         "for a data-scaled lengthscale prior; pass priors= explicitly")
    U = (X - X.min(0)) / ranges if ard else X
    # Nearest distinct neighbour: the k = 2 query would return 0 for repeated points.
    dist_nn, _ = cKDTree(U).query(U, k=min(len(U), 8))
    positive = dist_nn[dist_nn > 0]
    if positive.size == 0:
        raise ValueError("X has too many repeated points for a data-scaled lengthscale prior; pass priors=")
    h = float(positive.min())
    if ard:
        return h * ranges, ranges
    return np.asarray(h), np.asarray(ranges.max())


def lengthscale_prior(X, ard: bool, *, tail: float = 0.01):
    """Inverse-gamma lengthscale prior with ``tail`` mass below and above :func:`design_scales`.

    Below the smallest distance between points every evaluation is independent
    of the others and the likelihood is flat: on 3-D Sobol designs of 48 points
    the generic prior (1 % below the smallest 1-D gap, ~0.003) let the MAP
    collapse to ℓ ≈ 0.015-0.025, a white-noise fit whose wide intervals covered
    by accident, while NUTS found the ℓ ≈ 0.2-0.7 mode (bimodal posteriors,
    hundreds of divergences). Above the range the function is a constant plus
    the offset. The bounds are widened to a factor 2 about their geometric
    mean when closer than that.
    """
    lo, hi = design_scales(X, ard)
    ratio = hi / lo
    widen = np.sqrt(np.maximum(2.0 / ratio, 1.0))
    prior = inverse_gamma_prior(lo / widen, hi * widen, tail)
    return prior.to_event(1) if ard else prior


def bq_priors(kernel, X, y, *, ard: bool = True) -> dict:
    """Default hyperparameter priors of :func:`bq_model` ``{name: Distribution}`` from concrete ``X`` ``(n, d)``, ``y``.

    The ``bayeskern.priors`` defaults, except the lengthscale of stationary
    families (RBF, Matérn, rational quadratic): :func:`lengthscale_prior`.
    """
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    ard = ard and "lengthscale" in kernel._params and X.shape[1] > 1
    priors = dict(default_priors(kernel, X, y, ard=ard))
    if "lengthscale" in priors and kernel in (RBF, RationalQuadratic) + _MATERN:
        priors["lengthscale"] = lengthscale_prior(X, ard)
    return priors


def model_defaults(X, y, kernel=Matern32, *, ard: bool = True) -> dict:
    """``{"priors": ..., "offset": ...}`` for :func:`bq_model` from concrete data (priors: :func:`bq_priors`).

    Pass these when the model is run under ``jit`` with ``X``/``y`` as traced
    arguments (``bayeskern.infer.svi`` does this), where data-scaled defaults cannot be computed.
    ``kernel`` must be the family given to :func:`bq_model` (its default is
    :func:`default_kernel` of the measure: ``Matern32`` for boxes; the
    priors are the same for RBF and the Matérn families).
    """
    return {"priors": bq_priors(kernel, X, y, ard=ard), "offset": offset_variance(y)}


def bq_model(
    X,
    y=None,
    *,
    measure,
    kernel=None,
    prefix: str = "f",
    name: str = "integral",
    ard: bool = True,
    offset=None,
    priors: dict | None = None,
    noise=None,
    tensor: bool = True,
):
    """``y = f(X)``, ``f ~ GP(0, k + c)`` with ``k`` sampled from kernel priors; records ``∫ f dπ | y``.

    Args:
        X: evaluation points ``(n, d)`` (concrete when default priors are used).
        y: evaluations ``(n,)`` (None to sample from the prior).
        measure: the integration measure.
        kernel: kernel family (class) whose hyperparameters get priors; None for
            :func:`default_kernel` (Matérn 3/2, or RBF under a Gaussian measure).
        prefix: site-name prefix for the hyperparameters (``f"{prefix}_lengthscale"`` ...).
        name: the integral's site-name stem (``f"{name}_mean"``, ``f"{name}_var"``).
        ard: one lengthscale per dimension.
        offset: prior variance of a constant offset added to ``f`` (a ``Constant``
            kernel term, i.e. the offset integrated out exactly); None means
            :func:`offset_variance` of ``y``; 0 for a zero-mean prior.
        priors: ``{hyperparameter: Distribution or value}`` passed to
            ``sample_kernel``; hyperparameters not named get :func:`bq_priors`
            when ``X`` is concrete (inside ``jit`` pass them all: :func:`model_defaults`).
        noise: evaluation-noise variance, or None for exact evaluations.
        tensor: a Matérn family in ``d > 1`` is the product of 1-D Matérns
            (:func:`tensor_form`; closed-form kernel means on boxes); False for
            the isotropic-distance form.
    """
    kernel = default_kernel(measure) if kernel is None else kernel
    priors = dict(priors or {})
    ard = ard and "lengthscale" in kernel._params and np.ndim(X) == 2 and np.shape(X)[1] > 1
    if is_concrete(X) and (y is None or is_concrete(y)):
        missing = [p for p in kernel._params if p not in priors]
        if missing and y is not None:
            defaults = bq_priors(kernel, X, y, ard=ard)
            priors.update({p: defaults[p] for p in missing})
        elif "lengthscale" in missing and kernel in (RBF, RationalQuadratic) + _MATERN:
            priors["lengthscale"] = lengthscale_prior(X, ard)
    k = sample_kernel(prefix, kernel, X, y, ard=ard, **priors)
    X = as_inputs(X, "X")
    if tensor:
        k = tensor_form(k, X.shape[1])
    c = offset_variance(y) if offset is None and y is not None else (offset or 0.0)
    full = k + Constant(variance=c) if c else k
    numpyro.sample(f"{name}_y", BQMarginal(full, X, noise), obs=y)
    if y is not None:
        emb = embed(full, measure, X, warn=False)
        m, v, _ = posterior_moments(full, measure, X, y, emb.z, emb.initial, noise=noise)
        numpyro.deterministic(f"{name}_mean", m)
        numpyro.deterministic(f"{name}_var", v)


def integral_posterior(fit, name: str = "integral") -> IntegralPosterior:
    """The integral's posterior from a ``Fit`` of :func:`bq_model`: a mixture over the draws.

    Each draw of the hyperparameters gives a Gaussian over the integral; with
    MCMC draws the posterior is their equally weighted mixture (for a MAP fit,
    the single Gaussian at the mode).
    """
    s = fit.samples
    for key in (f"{name}_mean", f"{name}_var"):
        if key not in s:
            raise ValueError(f"the fit has no site {key!r}; was it a bq_model fit with name={name!r}?")
    return IntegralPosterior(jnp.asarray(s[f"{name}_mean"]), jnp.asarray(s[f"{name}_var"]))
