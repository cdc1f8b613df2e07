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

from bayeskern._checks import as_inputs
from bayeskern.kernels import RBF, Constant
from bayeskern.linalg import cholesky
from bayeskern.priors import sample_kernel
from bayeskern.quadrature.embeddings import embed
from bayeskern.quadrature.posterior import IntegralPosterior, posterior_moments


class BQMarginal(dist.MultivariateNormal):
    """``N(0, k(X, X) + diag(noise))``: the marginal likelihood of BQ evaluations ``(n,)``.

    The same density as ``bayeskern.gp.GaussianProcess(k, X, noise=..., method="dense")``
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


def offset_variance(y) -> float:
    """Prior variance of the constant offset of ``f``: ``10 · mean(y²)`` (wide, not centred on the data)."""
    y = np.asarray(y, dtype=float)
    return float(10.0 * max(np.mean(y * y), 1e-300))


def model_defaults(X, y, kernel=RBF, *, ard: bool = True) -> dict:
    """``{"priors": ..., "offset": ...}`` for :func:`bq_model` from concrete data.

    Pass these when the model is run under ``jit`` with ``X``/``y`` as traced
    arguments (``bayeskern.infer.svi`` does this), where data-scaled defaults cannot be computed.
    """
    from bayeskern.priors import default_priors

    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    ard = ard and "lengthscale" in kernel._params and X.shape[1] > 1
    return {"priors": dict(default_priors(kernel, X, y, ard=ard)), "offset": offset_variance(y)}


def bq_model(
    X,
    y=None,
    *,
    measure,
    kernel=RBF,
    prefix: str = "f",
    name: str = "integral",
    ard: bool = True,
    offset=None,
    priors: dict | None = None,
    noise=None,
):
    """``y = f(X)``, ``f ~ GP(0, k + c)`` with ``k`` sampled from kernel priors; records ``∫ f dπ | y``.

    Args:
        X: evaluation points ``(n, d)`` (concrete when default priors are used).
        y: evaluations ``(n,)`` (None to sample from the prior).
        measure: the integration measure.
        kernel: kernel family (class) whose hyperparameters get priors.
        prefix: site-name prefix for the hyperparameters (``f"{prefix}_lengthscale"`` ...).
        name: the integral's site-name stem (``f"{name}_mean"``, ``f"{name}_var"``).
        ard: one lengthscale per dimension.
        offset: prior variance of a constant offset added to ``f`` (a ``Constant``
            kernel term, i.e. the offset integrated out exactly); None means
            :func:`offset_variance` of ``y``; 0 for a zero-mean prior.
        priors: ``{hyperparameter: Distribution or value}`` passed to
            ``sample_kernel`` (needed inside ``jit`` where defaults cannot see ``X``).
        noise: evaluation-noise variance, or None for exact evaluations.
    """
    priors = dict(priors or {})
    ard = ard and "lengthscale" in kernel._params and np.ndim(X) == 2 and np.shape(X)[1] > 1
    k = sample_kernel(prefix, kernel, X, y, ard=ard, **priors)
    c = offset_variance(y) if offset is None and y is not None else (offset or 0.0)
    full = k + Constant(variance=c) if c else k
    X = as_inputs(X, "X")
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
