"""Model evidence ``p(y) = ∫ p(y | θ) p(θ) dθ`` of a NumPyro model by BQ, its prior as the measure.

The model's latent sites must all have Normal / MultivariateNormal priors
(the measure is then one Gaussian, block-diagonal across sites) or all
Uniform priors (a box), with parameters that do not depend on other
latent sites. The integrand is the likelihood (log joint minus log prior),
rescaled by its largest evaluated value; WSABI-L (default) or plain BQ
integrates it, points chosen by uncertainty sampling on the warped model.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer.util import log_density

from bayeskern._counts import as_count
from bayeskern._display import html_table
from bayeskern.kernels import RBF
from bayeskern.quadrature.design import multistart, pad_points
from bayeskern.quadrature.hyper import fit_kernel
from bayeskern.quadrature.measures import Gaussian, Uniform
from bayeskern.quadrature.posterior import IntegralPosterior
from bayeskern.quadrature.qmc import sobol
from bayeskern.quadrature.warped import wsabi_acquisition, wsabi_l
from bayeskern.results import Result


@dataclass(repr=False)
class EvidenceResult(Result):
    """A :class:`~bayeskern.results.Result` (``summary()``, ``plot()``, ``save``/``load``):
    ``log_evidence`` (log of the posterior mean of ``p(y)``), ``log_sd`` (sd of ``p(y)`` / its mean),
    the scaled integral's ``posterior``, the evaluation points ``X`` ``(n, D)`` and log likelihoods
    ``loglik`` ``(n,)``."""

    log_evidence: float
    log_sd: float
    posterior: IntegralPosterior
    X: jax.Array
    loglik: jax.Array
    measure: object
    sites: dict

    def summary(self):
        """One row ``log_evidence``: ``value``, ``relative_sd`` (sd of ``p(y)`` / its mean), ``evaluations``."""
        import pandas as pd

        return pd.DataFrame({"value": [float(self.log_evidence)], "relative_sd": [float(self.log_sd)],
                             "evaluations": [int(self.X.shape[0])]}, index=["log_evidence"])

    def plot(self, ax=None, **kwargs):
        """Log likelihood at each evaluation in the order the design chose them, with the log evidence
        as a line; returns the ``Axes``. ``kwargs`` go to ``Axes.plot``."""
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(5, 3))[1] if ax is None else ax
        ll = np.asarray(self.loglik, dtype=float)
        ax.plot(np.arange(1, ll.size + 1), ll, **{"marker": "o", "ms": 3, "lw": 0.8, **kwargs})
        ax.axhline(float(self.log_evidence), color="k", lw=1, label=f"log evidence {float(self.log_evidence):.4g}")
        ax.set_xlabel("evaluation")
        ax.set_ylabel("log likelihood")
        ax.legend(frameon=False)
        return ax

    def _summary(self) -> list[tuple[str, str]]:
        return [("log_evidence", f"{self.log_evidence:.6g}"), ("relative sd", f"{self.log_sd:.3g}"),
                ("evaluations", str(int(self.X.shape[0]))), ("sites", ", ".join(self.sites))]

    def __repr__(self) -> str:
        return "EvidenceResult(" + ", ".join(f"{k}={v}" for k, v in self._summary()) + ")"

    def _repr_html_(self) -> str:
        return html_table("EvidenceResult", dict(self._summary()))


def _base(fn):
    while isinstance(fn, (dist.Independent, dist.ExpandedDistribution)):
        fn = fn.base_dist
    return fn


def prior_measure(model, *args, **kwargs):
    """The model's prior as a :class:`Gaussian` or :class:`Uniform` measure, and ``{site: shape}``."""
    tr = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)
    latent = {k: v for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    if not latent:
        raise ValueError("the model has no latent sample sites to integrate over")
    means, covs, lows, highs, shapes = [], [], [], [], {}
    for name, site in latent.items():
        shape = tuple(np.shape(site["value"]))
        shapes[name] = shape
        base = _base(site["fn"])
        size = int(np.prod(shape))
        if isinstance(base, dist.Normal):
            means.append(np.broadcast_to(np.asarray(base.loc), shape).ravel())
            covs.append(np.diag(np.broadcast_to(np.asarray(base.scale), shape).ravel() ** 2))
        elif isinstance(base, dist.MultivariateNormal) and len(shape) == 1:
            means.append(np.asarray(base.loc))
            covs.append(np.asarray(base.covariance_matrix))
        elif isinstance(base, dist.Uniform):
            lows.append(np.broadcast_to(np.asarray(base.low), shape).ravel())
            highs.append(np.broadcast_to(np.asarray(base.high), shape).ravel())
        else:
            raise ValueError(
                f"latent site {name!r} has a {type(base).__name__} prior; evidence() needs Normal, "
                "MultivariateNormal or Uniform priors (reparameterise the model, e.g. log-scale Normals)"
            )
        del size
    if means and lows:
        raise ValueError("evidence() needs all-Gaussian or all-Uniform priors, not a mixture of both")
    if lows:
        return Uniform(np.concatenate(lows), np.concatenate(highs)), shapes
    D = sum(c.shape[0] for c in covs)
    cov, i = np.zeros((D, D)), 0
    for c in covs:
        cov[i : i + c.shape[0], i : i + c.shape[0]] = c
        i += c.shape[0]
    return Gaussian(np.concatenate(means), cov), shapes


def log_likelihood_fn(model, shapes, args, kwargs):
    """``θ (D,) -> log p(y | θ)`` (log joint minus the latent sites' log prior), jit-compiled and vmapped."""

    def one(theta):
        params, i = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            params[name] = theta[i : i + size].reshape(shape)
            i += size
        lj, tr = log_density(model, args, kwargs, params)
        lp = sum(jnp.sum(tr[k]["fn"].log_prob(tr[k]["value"])) for k in shapes)
        return lj - lp

    return jax.jit(jax.vmap(one))


def evidence(model, *args, n: int = 40, initial: int | None = None, method: str = "wsabi", seed: int = 0,
             qmc_points: int = 1024, refit_every: int = 4, **kwargs) -> EvidenceResult:
    """Estimate the evidence of ``model(*args, **kwargs)`` with ``n`` likelihood evaluations.

    Args:
        model: a NumPyro model with observed sites and Normal/MVN or Uniform priors.
        *args, **kwargs: model arguments.
        n: total likelihood evaluations.
        initial: Sobol points from the prior before sequential selection (default ``min(n, 4D + 4)``).
        method: ``"wsabi"`` (WSABI-L; points by warped uncertainty sampling) or ``"bq"``
            (plain BQ on the scaled likelihood at ``n`` Sobol points).
        seed: design seed.
        qmc_points: QMC points for the WSABI-L variance.
        refit_every: the square-root GP's MAP hyperparameters are refitted every this many
            new points while selecting (and once more for the final estimate).
    """
    from bayeskern.quadrature.integrate import integrate

    if method not in ("wsabi", "bq"):
        raise ValueError(f"method must be 'wsabi' or 'bq', got {method!r}")
    n, refit_every, qmc_points = as_count(n, "n"), as_count(refit_every, "refit_every"), as_count(qmc_points, "qmc_points")
    initial = None if initial is None else as_count(initial, "initial")
    measure, shapes = prior_measure(model, *args, **kwargs)
    loglik = log_likelihood_fn(model, shapes, args, kwargs)
    D = measure.dim
    if method == "bq":
        X = sobol(measure, n, seed=seed)
        ll = loglik(X)
        ref = jnp.max(ll)
        post = integrate((X, jnp.exp(ll - ref)), measure).posterior
    else:
        X = sobol(measure, min(n, initial or 4 * D + 4), seed=seed)
        ll = loglik(X)
        kernel, since = None, 0
        while X.shape[0] < n:
            fX = jnp.exp(ll - jnp.max(ll))
            alpha = 0.8 * jnp.min(fX)
            if kernel is None or since >= refit_every:  # MAP refits are the costly part of a step
                g = np.sqrt(2.0 * np.maximum(np.asarray(fX - alpha), 0.0))
                kernel, since = fit_kernel(X, g, RBF, offset=0.0, seed=seed)[0], 0
            pad, mask = pad_points(measure, X)
            fpad = jnp.concatenate([fX, jnp.zeros(pad.shape[0] - X.shape[0])])
            U0 = measure.to_unconstrained(sobol(measure, 32, seed=seed + X.shape[0]))
            x, _ = multistart(wsabi_acquisition, (kernel, measure, pad, mask, fpad, alpha), measure, U0, 60)
            X = jnp.concatenate([X, x[None]])
            ll = jnp.concatenate([ll, loglik(x[None])])
            since += 1
        ref = jnp.max(ll)
        post = wsabi_l(X, jnp.exp(ll - ref), measure, qmc_points=qmc_points, seed=seed)
    m = float(post.mean)
    if not m > 0:
        raise FloatingPointError(f"the estimated scaled evidence is not positive ({m}); use more evaluations")
    return EvidenceResult(float(ref) + np.log(m), float(post.sd) / m, post, X, ll, measure, shapes)
