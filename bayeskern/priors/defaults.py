"""Default hyperparameter priors, scaled to the data, and the shapes of their sites.

Each hyperparameter that the user neither fixes nor gives a prior for gets
the default below. "Scaled to the data" means the prior's location comes
from the inputs ``X`` (after ``active_dims``) or the observations ``y``;
without them the defaults assume unit-scale inputs and standardised
outputs, and say so. Call :func:`describe_default_priors` for the table, or
:func:`default_prior` / :func:`default_priors` to inspect (or precompute,
outside ``jit``) the exact distributions.

Reasoning, per hyperparameter:

* ``lengthscale`` (RBF, Matérn, rational quadratic): an inverse gamma with
  1 % of its mass below the smallest nonzero input spacing and 1 % above the
  input range (Betancourt's GP case study). Neither region is informed by
  the data, and the likelihood is flat there: below the spacing every point
  is independent, above the range the function is a constant. The inverse
  gamma's exponentially light left tail stops the collapse to ℓ → 0 that
  flat or log-normal priors allow. Isotropic kernels use the smallest spacing
  and the largest range over the dimensions; ARD uses each dimension's own.
  When the two bounds are within a factor 2 (two distinct points, say) they
  are widened to a factor 2 about their geometric mean. Without ``X``:
  ``LogNormal(0, 1)`` (95 % in [0.14, 7.1]), right for inputs of unit scale.
  With ``pc_prior=True``: the PC prior with ``P(ℓ < l_min) = 0.05`` (see
  :mod:`bayeskern.priors.pc`), in ``d`` dimensions for an isotropic
  lengthscale, and per dimension with ``d = 1`` under ARD (a product of 1-D
  PC priors, not Fuglstad's anisotropic construction).
* ``lengthscale`` (Periodic): dimensionless (it divides ``sin(π τ / p)``,
  not a distance), so ``LogNormal(0, 1)`` whatever the data.
* ``variance`` (output variance of stationary, arc-cosine and user kernels):
  ``LogNormal(log var(y), 1)``. Its median is the data variance and its 95 %
  interval ``var(y) · [0.14, 7.1]`` covers one component of a sum of kernels
  explaining a fraction of the variance. A log-normal (rather than a
  half-normal) keeps the variance away from zero, where GP marginal
  likelihoods often have a degenerate mode and NUTS meets a funnel. Without
  ``y``: ``LogNormal(0, 1)``, i.e. standardised ``y``. With
  ``pc_prior=True``: ``σ = √variance ~ Exponential`` with
  ``P(σ > 2 sd(y)) = 0.05``.
* ``variance`` (White): observation noise is usually a fraction of the
  signal, so ``LogNormal(log(0.1 var(y)), 1.5)`` (95 % in 0.5 %–190 % of
  ``var(y)``); PC: ``P(σ > sd(y)) = 0.05``.
* ``variance`` (Constant): a random offset, whose scale is ``mean(y²) =
  mean(y)² + var(y)``: ``LogNormal(log mean(y²), 1)``; PC: ``P(σ > 2 rms(y)) = 0.05``.
* ``variance`` (Linear): per-dimension slope variance, chosen so that
  ``Σ_d variance_d x_d²`` has the scale of ``var(y)``:
  ``LogNormal(log(var(y) / mean‖x‖²), 1)`` isotropic, and
  ``LogNormal(log(var(y) / (d · mean x_d²)), 1)`` per dimension under ARD.
* ``variance`` (Polynomial) and ``weight_variance`` (ArcCosine): scale the
  inner product to order one: ``LogNormal(-log mean‖x‖², 1)`` (ARD:
  ``-log(d · mean x_d²)``).
* ``period`` (Periodic, Cosine): ``LogNormal(log(range / 4), 1)``: a quarter
  of the input range (so several cycles are seen) with a wide spread, 95 %
  in ``range · [0.035, 1.8]``; without ``X``: ``LogNormal(0, 1)``.
* ``alpha`` (rational quadratic): ``LogNormal(0, 1)``, centred on the
  Cauchy-like ``alpha = 1``; large ``alpha`` tends to the RBF.
* ``offset`` (Polynomial), ``bias_variance`` (ArcCosine): ``HalfNormal(1)``
  (non-negative; zero is allowed and means "no bias").
* Spectral mixture (``num_mixtures = Q`` components, ``d`` inputs):
  ``weights`` ``(Q,)`` ~ ``LogUniform(1e-4 var(y), 10 var(y))``, a bounded
  (hence proper) Jeffreys prior, scale-free inside the bounds, which lets
  unneeded components shrink to negligible weight; ``means`` ``(Q, d)`` ~
  ``Uniform(0, Nyquist)`` with ``Nyquist = 0.5 / min spacing`` per dimension
  (frequencies above it alias); ``scales`` ``(Q, d)`` ~
  ``LogNormal(log(1 / range), 1)`` per dimension, i.e. component envelopes
  whose length ``1/(2π scale)`` is about a sixth of the range. Requires ``X``.
* Any other hyperparameter (user kernels): by its constraint,
  ``LogNormal(0, 1)`` (positive), ``HalfNormal(1)`` (non-negative) or
  ``Normal(0, 1)`` (real).

Site shapes: a hyperparameter is a single site whose value has the
hyperparameter's shape: ``()``; ``(d,)`` for the per-dimension ones under
``ard=True`` (the prior ``.expand([d]).to_event(1)`` or, when its parameters
already differ per dimension, ``.to_event(1)``, so the site is one vector
event, not a plate); ``(Q,)`` and ``(Q, d)`` for the spectral mixture.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from bayeskern._checks import is_concrete
from bayeskern.kernels.base import Stationary
from bayeskern.kernels.constant import Constant, White
from bayeskern.kernels.dot_product import Linear, Polynomial
from bayeskern.kernels.stationary import Periodic, SpectralMixture
from bayeskern.priors.data import DataScales, data_scales
from bayeskern.priors.inverse_gamma import inverse_gamma_prior
from bayeskern.priors.kernel_params import (
    ard_params,
    as_site_distribution,
    check_kernel_class,
    check_options,
    param_shape,
)
from bayeskern.priors.pc import pc_lengthscale, pc_variance

#: Probability below the smallest spacing and above the range for the inverse-gamma default.
LENGTHSCALE_TAIL = 0.01
#: Tail probability of the PC defaults: P(ℓ < l_min) and P(σ > σ0).
PC_ALPHA = 0.05
_MIN_RATIO = 2.0

DEFAULT_PRIOR_TABLE = """\
hyperparameter      kernels                       default (X, y given)                      without data
------------------  ----------------------------  ----------------------------------------  ----------------
lengthscale         RBF, Matérn, RQ               InvGamma: P(ℓ<spacing)=P(ℓ>range)=0.01    LogNormal(0, 1)
lengthscale (PC)    same, pc_prior=True           PC: P(ℓ < spacing) = 0.05                 (needs X)
lengthscale         Periodic (dimensionless)      LogNormal(0, 1)                           LogNormal(0, 1)
variance            stationary, ArcCosine         LogNormal(log var(y), 1)                  LogNormal(0, 1)
variance (PC)       stationary, ArcCosine         σ=√variance ~ Exp: P(σ > 2 sd(y)) = 0.05  P(σ > 2) = 0.05
variance (PC)       White / Constant              P(σ > sd(y)) / P(σ > 2 rms(y)) = 0.05     P(σ > 1) / (> 2)
variance            White (noise)                 LogNormal(log(0.1 var(y)), 1.5)           LogNormal(log 0.1, 1.5)
variance            Constant (offset)             LogNormal(log mean(y²), 1)                LogNormal(0, 1)
variance            Linear (slope, per dim w/ARD) LogNormal(log(var(y)/mean‖x‖²), 1)        LogNormal(log var(y), 1)
variance            Polynomial                    LogNormal(-log mean‖x‖², 1)               LogNormal(0, 1)
weight_variance     ArcCosine                     LogNormal(-log mean‖x‖², 1)               LogNormal(0, 1)
period              Periodic, Cosine              LogNormal(log(range/4), 1)                LogNormal(0, 1)
alpha               RationalQuadratic             LogNormal(0, 1)                           LogNormal(0, 1)
offset              Polynomial                    HalfNormal(1)                             HalfNormal(1)
bias_variance       ArcCosine                     HalfNormal(1)                             HalfNormal(1)
weights (Q,)        SpectralMixture               LogUniform(1e-4 var(y), 10 var(y))        LogUniform(1e-4, 10)
means (Q, d)        SpectralMixture               Uniform(0, 0.5 / spacing) per dim         (needs X)
scales (Q, d)       SpectralMixture               LogNormal(log(1/range), 1) per dim        (needs X)
other               user kernels                  by constraint: LogNormal(0,1) / HalfNormal(1) / Normal(0,1)

pc_prior=True changes only the rows marked (PC); the others keep their defaults.
"""


def describe_default_priors() -> str:
    return DEFAULT_PRIOR_TABLE


describe_default_priors.__doc__ = (
    "The default priors as a printable table (the reasoning is in ``bayeskern.priors.defaults``).\n\n"
    "``spacing`` is the smallest nonzero gap between input values and ``range`` is max - min, "
    "per dimension under ARD, else the smallest spacing and largest range over dimensions.\n\n"
    "Returns:\n    str: the table below.\n\n::\n\n"
    + "\n".join("    " + line for line in DEFAULT_PRIOR_TABLE.splitlines())
)


# -- the defaults -------------------------------------------------------------
def _arr(x):
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _lognormal(log_loc, scale=1.0):
    return dist.LogNormal(_arr(log_loc), _arr(scale))


def _xp(*values):
    """``numpy`` for concrete values, ``jax.numpy`` when any is a tracer (the data were traced)."""
    return np if all(is_concrete(v) for v in values) else jnp


def _widened(lo, hi):
    xp = _xp(lo, hi)
    ratio = hi / lo
    centre = xp.sqrt(lo * hi)
    half = math.sqrt(_MIN_RATIO)
    return xp.where(ratio < _MIN_RATIO, centre / half, lo), xp.where(ratio < _MIN_RATIO, centre * half, hi)


def _dot_scale(scales: DataScales, ard: bool) -> np.ndarray | float:
    """``mean‖x‖²`` (isotropic) or ``d · mean x_d²`` (ARD); 1 without ``X``."""
    if scales.X is None:
        return 1.0
    ms = scales.mean_square
    if is_concrete(ms) and not np.all(ms > 0):
        raise ValueError("X is identically zero in some input dimension; dot-product priors need nonzero inputs")
    return ms.size * ms if ard else _xp(ms).sum(ms)


def _needs_x(scales: DataScales, kernel_cls, name: str) -> None:
    if scales.X is None:
        raise ValueError(
            f"the default prior for {kernel_cls.__name__} {name!r} is scaled to the inputs: pass X, "
            "or give the hyperparameter a prior or value"
        )


def _log(v):
    return _xp(v).log(v)


def _sqrt(v):
    return _xp(v).sqrt(v)


def _default(kernel_cls, name: str, scales: DataScales, ard: bool, pc_prior: bool, num_mixtures):
    """The default prior for one hyperparameter, before shaping to its site."""
    vec = ard and name in ard_params(kernel_cls)

    def out_var() -> float:  # lazily: y is only needed (and only checked) for variance-type priors
        v = scales.output_variance
        return 1.0 if v is None else v

    if issubclass(kernel_cls, SpectralMixture) and name in ("weights", "means", "scales"):
        if name == "weights":
            v = out_var()
            return dist.LogUniform(_arr(1e-4 * v), _arr(10.0 * v))
        _needs_x(scales, kernel_cls, name)
        spacing, ranges = scales.spacing_and_range(name, ard=True)
        shape = [int(num_mixtures), spacing.size]
        if name == "means":
            return dist.Uniform(_arr(_xp(spacing).zeros_like(spacing)), _arr(0.5 / spacing)).expand(shape)
        return _lognormal(-_xp(ranges).log(ranges)).expand(shape)

    if name == "lengthscale":
        if issubclass(kernel_cls, Periodic):
            return _lognormal(0.0)
        if pc_prior and issubclass(kernel_cls, Stationary):
            if scales.X is None:
                raise ValueError(
                    "pc_prior=True sets P(lengthscale < smallest input spacing) = 0.05 and needs X; "
                    "pass X, or lengthscale=pc_lengthscale(l0, alpha, dim)"
                )
            spacing, _ = scales.spacing_and_range(name, vec)
            return pc_lengthscale(spacing, PC_ALPHA, dim=1 if vec else scales.dim)
        if scales.X is None:
            return _lognormal(0.0)
        lo, hi = _widened(*scales.spacing_and_range(name, vec))
        return inverse_gamma_prior(lo, hi, LENGTHSCALE_TAIL)

    if name == "variance":
        if issubclass(kernel_cls, Polynomial):
            return _lognormal(-_log(_dot_scale(scales, False)))
        if issubclass(kernel_cls, Constant):
            ms = scales.output_mean_square
            ms = 1.0 if ms is None else ms
            return pc_variance(2.0 * _sqrt(ms), PC_ALPHA) if pc_prior else _lognormal(_log(ms))
        v = out_var()
        if issubclass(kernel_cls, Linear):
            return _lognormal(_log(v / _dot_scale(scales, vec)))
        if issubclass(kernel_cls, White):
            return pc_variance(_sqrt(v), PC_ALPHA) if pc_prior else _lognormal(_log(0.1 * v), 1.5)
        return pc_variance(2.0 * _sqrt(v), PC_ALPHA) if pc_prior else _lognormal(_log(v))

    if name == "weight_variance":
        return _lognormal(-_log(_dot_scale(scales, vec)))

    if name == "period":
        if scales.X is None:
            return _lognormal(0.0)
        _, ranges = scales.spacing_and_range(name, vec)
        return _lognormal(_log(ranges / 4.0))

    if name == "alpha":
        return _lognormal(0.0)
    if name in ("offset", "bias_variance"):
        return dist.HalfNormal(_arr(1.0))

    constraint = kernel_cls._params[name][1]
    if constraint == "positive":
        return _lognormal(0.0)
    if constraint == "nonnegative":
        return dist.HalfNormal(_arr(1.0))
    return dist.Normal(_arr(0.0), _arr(1.0))


def site_default(kernel_cls, name, scales: DataScales, *, ard=False, pc_prior=False, num_mixtures=None):
    """Default prior for ``name`` shaped as its site (internal form of :func:`default_prior`)."""
    shape = param_shape(kernel_cls, name, scales.dim, ard, num_mixtures)
    d = _default(kernel_cls, name, scales, ard, pc_prior, num_mixtures)
    return as_site_distribution(d, shape, f"{kernel_cls.__name__} {name!r}")


def check_names(kernel_cls, names) -> None:
    """Raise ``TypeError`` naming any argument that is neither a hyperparameter nor a static setting."""
    allowed = set(kernel_cls._params) | set(kernel_cls._static) | {"active_dims"}
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise TypeError(
            f"{kernel_cls.__name__} has no hyperparameter(s) {unknown}; its hyperparameters are "
            f"{sorted(kernel_cls._params)}" + (f" and settings {sorted(kernel_cls._static)}" if kernel_cls._static else "")
        )


def default_prior(
    kernel_cls,
    name: str,
    X=None,
    y=None,
    *,
    ard: bool = False,
    pc_prior: bool = False,
    num_mixtures: int | None = None,
    active_dims=None,
) -> dist.Distribution:
    """The default prior that :func:`~bayeskern.priors.sample_kernel` uses for one hyperparameter.

    Args:
        kernel_cls: a kernel family, e.g. ``Matern52``.
        name: one of ``kernel_cls._params`` (e.g. ``"lengthscale"``).
        X: inputs ``(n,)`` or ``(n, d)`` that scale length-type priors, or None.
        y: observations ``(n,)`` that scale variance-type priors, or None.
        ard: per-dimension hyperparameters (see :func:`ard_params`).
        pc_prior: penalised-complexity priors for lengthscale and variance.
        num_mixtures: ``Q`` for ``SpectralMixture``.
        active_dims: input columns the kernel sees (the data summaries use only these).

    Returns:
        A NumPyro distribution with ``batch_shape == ()`` and ``event_shape``
        equal to the site's shape: ``()``, ``(d,)`` under ARD, ``(Q,)``/``(Q, d)``
        for a spectral mixture. See :func:`describe_default_priors`.

    Raises:
        TypeError: unknown ``kernel_cls`` or hyperparameter ``name``.
        ValueError: bad ``X``/``y`` (NaN, wrong rank), options that do not
            apply, or a default that needs data that was not given.
    """
    check_kernel_class(kernel_cls)
    if name not in kernel_cls._params:
        raise TypeError(
            f"{kernel_cls.__name__} has no hyperparameter {name!r}; its hyperparameters are {sorted(kernel_cls._params)}"
        )
    scales = data_scales(X, y, active_dims)
    check_options(kernel_cls, scales, ard, num_mixtures)
    return site_default(kernel_cls, name, scales, ard=ard, pc_prior=pc_prior, num_mixtures=num_mixtures)


def default_priors(
    kernel_cls,
    X=None,
    y=None,
    *,
    ard: bool = False,
    pc_prior: bool = False,
    num_mixtures: int | None = None,
    active_dims=None,
) -> dict[str, dist.Distribution]:
    """Default priors for every hyperparameter of ``kernel_cls``, keyed by name.

    Useful to inspect the defaults, and to build them from concrete data
    outside ``jit`` and pass them to :func:`~bayeskern.priors.sample_kernel`
    inside a traced model (``sample_kernel("f", RBF, **priors)``).
    Arguments as in :func:`default_prior`.

    Returns:
        ``{name: Distribution}`` in ``kernel_cls._params`` order.
    """
    check_kernel_class(kernel_cls)
    scales = data_scales(X, y, active_dims)
    check_options(kernel_cls, scales, ard, num_mixtures)
    return {
        name: site_default(kernel_cls, name, scales, ard=ard, pc_prior=pc_prior, num_mixtures=num_mixtures)
        for name in kernel_cls._params
    }
