"""``integrate``: one call from an integrand (or evaluations) to the integral's posterior."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_observations
from bayeskern._counts import as_count
from bayeskern._display import html_table
from bayeskern.kernels import Kernel
from bayeskern.priors import KernelSpecError, kernel_spec_kind
from bayeskern.quadrature.design import ACQUISITIONS, kernel_herding, select_batch
from bayeskern.quadrature.hyper import fit_kernel
from bayeskern.quadrature.measures import Measure
from bayeskern.quadrature.model import bq_priors, default_kernel, tensor_form
from bayeskern.quadrature.posterior import (
    IntegralPosterior,
    _check_duplicates,
    bq_posterior,
)
from bayeskern.quadrature.qmc import monte_carlo, sobol
from bayeskern.quadrature.thinning import kernel_thinning
from bayeskern.results import Result

DESIGNS = ("sobol", "mc", "herding", "thinning") + ACQUISITIONS


@dataclass(repr=False)
class BQResult(Result):
    """Result of :func:`integrate`.

    A :class:`~bayeskern.results.Result`: ``summary()``, ``plot()``,
    ``save``/``load``, and ``to_arviz()`` when hyperparameters were sampled.

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

    def summary(self, prob: float = 0.95):
        """The integral's row (see :meth:`IntegralPosterior.summary`) plus ``evaluations``."""
        table = self.posterior.summary(prob)
        table["evaluations"] = int(self.X.shape[0])
        return table

    def plot(self, ax=None, prob: float = 0.95, **kwargs):
        """Posterior density of the integral (see :meth:`IntegralPosterior.plot`); returns the ``Axes``."""
        return self.posterior.plot(ax=ax, prob=prob, **kwargs)

    def to_arviz(self, **kwargs):
        """The hyperparameter fit as an ArviZ ``DataTree`` (only when they were sampled by NUTS)."""
        if self.fit is None:
            raise ValueError("this BQResult holds no posterior draws (its kernel was fixed or fitted by MAP); "
                             "integrate(..., hyper='nuts') samples the hyperparameters")
        return self.fit.to_arviz(**kwargs)

    def _summary(self) -> list[tuple[str, str]]:
        n, d = (int(s) for s in self.X.shape)
        if self.fit is not None:
            model = f"hyperparameters by {self.fit.method}"
        else:
            model = type(self.kernel).__name__ if self.kernel is not None else "-"
        return [*self.posterior._summary(), ("evaluations", f"{n} in {d}-D"), ("kernel", model)]

    def __repr__(self) -> str:
        return "BQResult(" + ", ".join(f"{k}={v}" for k, v in self._summary()) + ")"

    def _repr_html_(self) -> str:
        return html_table("BQResult", dict(self._summary()))


# What JAX raises when a function does NumPy, float() or Python branching on traced values.
_NOT_TRACEABLE = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def _evaluate_pointwise(f, X):
    """``f`` called on one concrete NumPy point ``(d,)`` at a time (for integrands JAX cannot trace)."""
    vals = []
    for x in np.asarray(X):
        try:
            v = np.asarray(f(x), dtype=float)
        except Exception as err:
            err.add_note(
                "bayeskern.quadrature.integrate called f on one point x of shape (d,) as a NumPy array, because "
                "f could not be traced by JAX (jax.vmap); write f with jax.numpy to evaluate all points at once"
            )
            raise
        if v.size != 1:
            raise ValueError(f"f must map a point (d,) to a scalar; got output shape {v.shape} at x = {x.tolist()}")
        vals.append(v.reshape(()))
    return jnp.asarray(np.stack(vals), dtype=X.dtype)


def _evaluate(f, X):
    try:
        out = jnp.asarray(jax.vmap(f)(X), dtype=X.dtype)
    except _NOT_TRACEABLE:
        # Not JAX-traceable (NumPy calls, float(), branching on values): BQ only needs f's values at
        # concrete points, so call it point by point outside any trace.
        out = _evaluate_pointwise(f, X)
    if out.shape not in (X.shape[:1], X.shape[:1] + (1,)):
        raise ValueError(f"f must map a point (d,) to a scalar; got output shape {out.shape[1:]} per point")
    out = out.reshape(-1)
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
        f: a function of one point ``(d,)`` returning a scalar, or a tuple ``(X, fX)`` of
            precomputed evaluations (``X`` ``(n, d)``, ``fX`` ``(n,)``; then ``n`` and ``design`` are
            ignored). A JAX-traceable ``f`` is evaluated on all points at once with ``jax.vmap``;
            one JAX cannot trace (NumPy calls, ``float()``, branching on values) is called on one
            concrete NumPy point at a time instead (slower, same result).
        measure: the integration measure.
        n: number of evaluations: an ``int`` (NumPy integers and integral floats such as ``1e3``
            are accepted; a non-integral value such as ``3.7`` is refused, never truncated).
        kernel: a :data:`~bayeskern.priors.KernelSpec` as every model piece takes it: a kernel
            class (hyperparameters learned per ``hyper``), a kernel instance (hyperparameters
            fixed; a zero prior mean), or None:
            :func:`~bayeskern.quadrature.model.default_kernel` of the measure,
            Matérn 3/2 (a product over dimensions) on boxes and for empirical
            measures, RBF under a Gaussian measure (see there for why and what it costs).
            A callable ``(prefix, X) -> Kernel`` is refused: the MAP fit (:func:`fit_kernel`)
            and :func:`~bayeskern.quadrature.model.bq_model` learn a family's hyperparameters
            under priors they know (the closed-form kernel means need the family too); for
            your own priors pass the class with ``priors={hyperparameter: Distribution}``.
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
        noise: evaluation-noise variance, or None (or 0) for exact evaluations. Exact evaluations
            that repeat a point with a different value are refused (``ValueError``: pass ``noise=``
            or remove the duplicates); repeats with equal values are dropped with a warning.
        priors: ``{hyperparameter: Distribution}`` for a learned kernel (all of them);
            None for :func:`~bayeskern.quadrature.model.bq_priors` of the points (recomputed at each refit).
        seed: seed for designs and samplers.
        num_warmup, num_samples, num_chains: NUTS settings for ``hyper="nuts"``.

    Returns:
        :class:`BQResult` (``.mean``, ``.sd``, ``.draws``, ``.X``, ``.fX``, ``.posterior``).

    Raises:
        TypeError: a count (``n``, ``initial``, ``refit_every``, NUTS settings) is not a number.
        ValueError: bad settings or counts, ``(X, fX)`` of different lengths, non-finite
            evaluations, duplicate points with different exact values.
    """
    if not isinstance(measure, Measure):
        raise ValueError(f"measure must be a Uniform, Gaussian or Empirical measure, got {type(measure).__name__}")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if hyper not in ("map", "nuts"):
        raise ValueError(f"hyper must be 'map' or 'nuts', got {hyper!r}")
    refit_every = as_count(refit_every, "refit_every")
    initial = None if initial is None else as_count(initial, "initial")
    if hyper == "nuts":
        num_warmup, num_samples = as_count(num_warmup, "num_warmup", minimum=0), as_count(num_samples, "num_samples")
        num_chains = as_count(num_chains, "num_chains")
    kernel = default_kernel(measure) if kernel is None else kernel
    kind = kernel_spec_kind(kernel, "kernel")
    if kind == "callable":
        raise KernelSpecError("integrate: kernel must be a kernel class (learned) or a Kernel instance (fixed); "
                              "a callable (prefix, X) -> Kernel cannot be fitted by the BQ hyperparameter "
                              "MAP/NUTS, which learn a kernel family under known priors; for your own priors "
                              "pass the class with priors={hyperparameter: Distribution}")
    fixed = kind == "instance"
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
        y = as_observations(np.asarray(f[1], dtype=float), "fX").astype(X.dtype)
        if y.ndim > 1 and y.size == y.shape[0]:
            y = y.reshape(-1)
        if y.shape != X.shape[:1]:
            raise ValueError(
                f"precomputed evaluations (X, fX) do not match: X has {X.shape[0]} point(s) but fX has shape "
                f"{tuple(y.shape)}; pass one value per row of X, fX of shape ({X.shape[0]},)"
            )
    else:
        if not callable(f):
            raise ValueError(f"f must be a callable or a tuple (X, fX), got {type(f).__name__}")
        if n is None:
            raise ValueError("n must be given (the number of evaluations of f) when f is a function")
        n = as_count(n, "n")
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
    # Exact evaluations repeating a point with different values are refused; equal repeats dropped.
    X, y, _ = _check_duplicates(X, y, noise)
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
