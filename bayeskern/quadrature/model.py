"""BQ as a NumPyro model: kernel hyperparameters from ``bayeskern.priors``, the integral as sites.

``bq_model`` samples the kernel's hyperparameters (``sample_kernel`` under a
user prefix), observes the evaluations through a ``GaussianProcess`` and
records the integral's conditional mean and variance as deterministic sites
``f"{name}_mean"`` and ``f"{name}_var"``. Run it with ``bayeskern.infer.nuts``
(hyperparameters marginalised: the integral's posterior is the mixture
:func:`integral_posterior` builds) or ``bayeskern.infer.svi(guide="map")``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro

from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Constant
from bayeskern.priors import sample_kernel
from bayeskern.quadrature.embeddings import embed
from bayeskern.quadrature.posterior import IntegralPosterior, posterior_moments


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
    gp = GaussianProcess(full, X, noise=noise, method="dense")
    numpyro.sample(f"{name}_y", gp, obs=y)
    if y is not None:
        emb = embed(full, measure, X, warn=False)
        m, v, _ = posterior_moments(full, measure, gp.X, y, emb.z, emb.initial, noise=noise)
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
