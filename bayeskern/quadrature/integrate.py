"""``integrate``: one call from an integrand (or evaluations) to the integral's posterior."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern.kernels import Kernel
from bayeskern.quadrature.design import ACQUISITIONS, kernel_herding, select_batch
from bayeskern.quadrature.hyper import fit_kernel
from bayeskern.quadrature.measures import Measure
from bayeskern.quadrature.model import bq_priors, default_kernel, tensor_form
from bayeskern.quadrature.posterior import IntegralPosterior, bq_posterior
from bayeskern.quadrature.qmc import monte_carlo, sobol
from bayeskern.quadrature.thinning import kernel_thinning

DESIGNS = ("sobol", "mc", "herding", "thinning") + ACQUISITIONS


@dataclass
class BQResult:
    """Result of :func:`integrate`.

    Attributes:
        posterior: the integral's :class:`IntegralPosterior`.
        X: points used ``(n, d)``; fX: evaluations ``(n,)``.
        kernel: the kernel at the end (MAP or fixed; None after NUTS).
        fit: the ``bayeskern.infer`` ``Fit`` when hyperparameters were sampled by NUTS.
        draws: ``(1000,)`` posterior draws of the integral.
    """

    posterior: IntegralPosterior
    X: jax.Array
    fX: jax.Array
    kernel: Kernel | None = None
    fit: object = None
    draws: jax.Array = field(default=None, repr=False)

    @property
    def mean(self):
        return self.posterior.mean

    @property
    def sd(self):
        return self.posterior.sd

    def interval(self, prob: float = 0.95):
        return self.posterior.interval(prob)


def _evaluate(f, X):
    out = jnp.asarray(jax.vmap(f)(X), dtype=X.dtype).reshape(-1)
    if out.shape != X.shape[:1]:
        raise ValueError(f"f must map a point (d,) to a scalar; got output shape {out.shape} for {X.shape[0]} points")
    if not np.all(np.isfinite(np.asarray(out))):
        raise ValueError("f returned NaN or infinite values")
    return out


def integrate(
    f,
    measure: Measure,
    n: int | None = None,
    *,
    kernel=None,
    design: str = "sobol",
    hyper: str = "map",
    initial: int | None = None,
    refit_every: int = 5,
    ard: bool = True,
    noise=None,
    priors: dict | None = None,
    seed: int = 0,
    num_warmup: int = 300,
    num_samples: int = 300,
    num_chains: int = 2,
) -> BQResult:
    """Estimate ``∫ f dπ`` by Bayesian quadrature.

    Args:
        f: a JAX-traceable function of one point ``(d,)`` returning a scalar,
            or a tuple ``(X, fX)`` of precomputed evaluations (then ``n`` and ``design`` are ignored).
        measure: the integration measure.
        n: number of evaluations.
        kernel: a kernel family (hyperparameters learned per ``hyper``), a
            kernel instance (hyperparameters fixed; a zero prior mean), or None:
            :func:`~bayeskern.quadrature.model.default_kernel` of the measure,
            Matérn 3/2 (a product over dimensions) on boxes and for empirical
            measures, RBF under a Gaussian measure (see there for why and what it costs).
        design: ``"sobol"``, ``"mc"``, ``"herding"``, ``"thinning"`` (kernel thinning of an
            i.i.d. sample; these are fixed designs) or a
            sequential design by acquisition: ``"ivr"``, ``"us"``, ``"mi"``.
        hyper: ``"map"`` (L-BFGS on the log posterior of :func:`bq_model`) or
            ``"nuts"`` (hyperparameters marginalised with ``bayeskern.infer.nuts``;
            the integral's posterior is a mixture). Sequential designs use MAP
            hyperparameters while choosing points.
        initial: Sobol points before a sequential design starts (default ``min(n, 2d + 2)``).
        refit_every: sequential designs refit hyperparameters every this many points.
        ard: one lengthscale per dimension for learned kernels.
        noise: evaluation-noise variance, or None for exact evaluations.
        priors: ``{hyperparameter: Distribution}`` for a learned kernel (all of them);
            None for :func:`~bayeskern.quadrature.model.bq_priors` of the points (recomputed at each refit).
        seed: seed for designs and samplers.
        num_warmup, num_samples, num_chains: NUTS settings for ``hyper="nuts"``.

    Returns:
        :class:`BQResult` (``.mean``, ``.sd``, ``.draws``, ``.X``, ``.fX``, ``.posterior``).
    """
    if not isinstance(measure, Measure):
        raise ValueError(f"measure must be a Uniform, Gaussian or Empirical measure, got {type(measure).__name__}")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if hyper not in ("map", "nuts"):
        raise ValueError(f"hyper must be 'map' or 'nuts', got {hyper!r}")
    kernel = default_kernel(measure) if kernel is None else kernel
    fixed = isinstance(kernel, Kernel)
    if not fixed and not (isinstance(kernel, type) and issubclass(kernel, Kernel)):
        raise ValueError(f"kernel must be a bayeskern kernel family or instance, got {kernel!r}")
    d = measure.dim

    def fit(X, y):
        if fixed:
            return kernel
        # bq_model's default priors, from the current points (a sequential design refits on more).
        pri = bq_priors(kernel, X, y, ard=ard) if priors is None else priors
        return fit_kernel(X, y, kernel, ard=ard, noise=noise, seed=seed, priors=pri)[0]

    if isinstance(f, tuple):
        if len(f) != 2:
            raise ValueError("precomputed evaluations must be a tuple (X, fX)")
        X = measure.check_points(f[0], "X")
        y = jnp.asarray(f[1], dtype=X.dtype).reshape(-1)
    else:
        if not callable(f):
            raise ValueError(f"f must be a callable or a tuple (X, fX), got {type(f).__name__}")
        if n is None or int(n) < 1:
            raise ValueError(f"n must be a positive number of evaluations, got {n!r}")
        n = int(n)
        if design in ("sobol", "mc"):
            X = (sobol if design == "sobol" else monte_carlo)(measure, n, seed=seed)
            y = _evaluate(f, X)
        elif design in ("herding", "thinning"):
            # Both minimise an MMD, so they need a kernel before any evaluation: a learned family
            # gets a fixed lengthscale of a fifth of the measure's scale.
            k0 = kernel if fixed else tensor_form(kernel(lengthscale=float(jnp.mean(0.2 * _scale(measure)))), d)
            X = (kernel_herding if design == "herding" else kernel_thinning)(k0, measure, n, seed=seed)
            y = _evaluate(f, X)
        else:
            n0 = min(n, initial or 2 * d + 2)
            X = sobol(measure, n0, seed=seed)
            y = _evaluate(f, X)
            k = fit(X, y)
            while X.shape[0] < n:
                q = min(refit_every, n - X.shape[0])
                new = select_batch(k, measure, X, q, kind=design, noise=0.0 if noise is None else noise,
                                   seed=seed + X.shape[0])
                X, y = jnp.concatenate([X, new]), jnp.concatenate([y, _evaluate(f, new)])
                if X.shape[0] < n:
                    k = fit(X, y)
    if hyper == "nuts" and not fixed:
        from bayeskern.infer import nuts
        from bayeskern.quadrature.model import bq_model, integral_posterior

        fitted = nuts(bq_model, X, y, measure=measure, kernel=kernel, ard=ard and d > 1, noise=noise, priors=priors,
                      num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, seed=seed,
                      progress_bar=False)
        post = integral_posterior(fitted)
        return BQResult(post, X, y, None, fitted, post.sample(seed, 1000))
    k = fit(X, y)
    post = bq_posterior(k, measure, X, y, noise=noise, warn=False)
    return BQResult(post, X, y, k, None, post.sample(seed, 1000))


def _scale(measure):
    if hasattr(measure, "upper"):
        return jnp.asarray(measure.upper - measure.lower)
    if hasattr(measure, "cov"):
        return jnp.sqrt(jnp.diag(measure.cov))
    return jnp.std(measure.points, axis=0) + 1e-12
