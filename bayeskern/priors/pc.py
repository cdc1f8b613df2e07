"""Penalised-complexity (PC) priors for Matérn-type kernels.

Simpson et al. (2017) build a prior by penalising the distance from a
simpler *base model* at a constant rate; the user sets that rate through one
interpretable tail statement. For a Matérn field in ``d`` input dimensions
(Fuglstad et al. 2019):

* **lengthscale** — base model ``ℓ = ∞`` (a constant function). The distance
  grows like ``ℓ^{-d/2}``, so ``ℓ^{-d/2} ~ Exponential(λ_ℓ)``. Asking
  ``P(ℓ < ℓ0) = α`` gives ``λ_ℓ = -log(α) ℓ0^{d/2}`` and the density

      π(ℓ) = (d/2) λ_ℓ ℓ^{-d/2-1} exp(-λ_ℓ ℓ^{-d/2}),   ℓ > 0,

  a Fréchet distribution with shape ``d/2`` and scale ``λ_ℓ^{2/d}``
  (:class:`PCLengthscale`). Its right tail is heavy (``ℓ^{-d/2-1}``), so the
  prior leans towards smooth functions and lets the data argue for wiggles.
* **standard deviation** — base model ``σ = 0`` (no effect); the distance is
  ``σ`` itself, so ``σ ~ Exponential(λ_σ)`` and ``P(σ > σ0) = α`` gives
  ``λ_σ = -log(α) / σ0`` (:func:`pc_stddev`). Kernels are parameterised by
  the variance ``σ²``; :func:`pc_variance` is the same prior pushed through
  ``σ ↦ σ²``.

The ``ℓ`` used here is the kernel's own lengthscale; Fuglstad et al. state
the prior for the range ``ρ = √(8ν) ℓ``, but a fixed rescaling of ``ℓ`` only
rescales ``λ_ℓ``, and the tail statement ``P(ℓ < ℓ0) = α`` is stated
directly in the kernel's units.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import gammaln
from numpyro.distributions import constraints
from numpyro.distributions.transforms import PowerTransform
from numpyro.distributions.util import promote_shapes, validate_sample

from bayeskern._checks import is_concrete


def _check_tail(l0, alpha, l0_name: str):
    if is_concrete(l0):  # a traced l0 comes from traced data, checked on the concrete run
        l0_arr = np.asarray(l0, dtype=float)
        if not np.all(np.isfinite(l0_arr)) or np.any(l0_arr <= 0):
            raise ValueError(f"{l0_name} must be finite and positive, got {l0_arr!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


class PCLengthscale(dist.Distribution):
    """PC prior for a Matérn lengthscale in ``dim`` input dimensions: ``ℓ^{-dim/2} ~ Exponential(rate)``.

    Density ``π(ℓ) = (k λ) ℓ^{-k-1} exp(-λ ℓ^{-k})`` with ``k = dim/2`` and
    ``λ = rate``; CDF ``exp(-λ ℓ^{-k})``. Build it from a tail statement with
    :func:`pc_lengthscale` or :meth:`from_tail`.

    Args:
        rate: ``λ_ℓ > 0``, scalar or any batch shape.
        dim: number of input dimensions ``d`` (a positive integer, static).
        validate_args: NumPyro argument validation.

    Shapes: ``batch_shape = shape(rate)``, ``event_shape = ()``.
    """

    arg_constraints = {"rate": constraints.positive}
    support = constraints.positive
    reparametrized_params = ["rate"]
    pytree_data_fields = ("rate",)
    pytree_aux_fields = ("dim",)

    def __init__(self, rate, dim: int = 1, *, validate_args=None):
        if isinstance(dim, bool) or int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        (self.rate,) = promote_shapes(rate)
        super().__init__(batch_shape=jnp.shape(self.rate), validate_args=validate_args)

    @classmethod
    def from_tail(cls, l0, alpha: float = 0.05, dim: int = 1, *, validate_args=None) -> "PCLengthscale":
        """The PC prior with ``P(ℓ < l0) = alpha`` (``rate = -log(alpha) · l0^{dim/2}``)."""
        _check_tail(l0, alpha, "l0")
        rate = -math.log(alpha) * jnp.asarray(l0, jnp.result_type(float)) ** (dim / 2)
        return cls(rate, dim, validate_args=validate_args)

    @property
    def _k(self) -> float:
        return self.dim / 2.0

    def sample(self, key, sample_shape=()):
        """Draws ``(sample_shape + batch_shape)`` by inverting the CDF: ``ℓ = (E/λ)^{-2/d}``, ``E ~ Exp(1)``."""
        dtype = jnp.result_type(self.rate, float)
        e = jax.random.exponential(key, shape=sample_shape + self.batch_shape, dtype=dtype)
        e = jnp.maximum(e, jnp.finfo(dtype).tiny)  # E = 0 would give ℓ = ∞
        return (e / self.rate) ** (-1.0 / self._k)

    @validate_sample
    def log_prob(self, value):
        k = self._k
        log_v = jnp.log(value)
        return math.log(k) + jnp.log(self.rate) - (k + 1.0) * log_v - self.rate * jnp.exp(-k * log_v)

    def cdf(self, value):
        """``P(ℓ ≤ value) = exp(-λ value^{-d/2})``."""
        return jnp.exp(-self.rate * value ** (-self._k))

    def icdf(self, q):
        """Quantile ``(-log(q)/λ)^{-2/d}``."""
        return (-jnp.log(q) / self.rate) ** (-1.0 / self._k)

    @property
    def mean(self):
        """``λ^{2/d} Γ(1 - 2/d)`` for ``d > 2``; infinite otherwise (heavy right tail)."""
        k = self._k
        if k <= 1.0:
            return jnp.full(self.batch_shape, jnp.inf)
        return self.rate ** (1.0 / k) * jnp.exp(gammaln(1.0 - 1.0 / k))

    @property
    def variance(self):
        """``λ^{4/d} (Γ(1 - 4/d) - Γ(1 - 2/d)²)`` for ``d > 4``; infinite otherwise."""
        k = self._k
        if k <= 2.0:
            return jnp.full(self.batch_shape, jnp.inf)
        g1 = jnp.exp(gammaln(1.0 - 1.0 / k))
        g2 = jnp.exp(gammaln(1.0 - 2.0 / k))
        return self.rate ** (2.0 / k) * (g2 - g1**2)


def pc_lengthscale(l0, alpha: float = 0.05, dim: int = 1) -> PCLengthscale:
    """PC prior on a Matérn lengthscale with ``P(ℓ < l0) = alpha`` in ``dim`` input dimensions.

    Args:
        l0: lengthscale(s) the user considers implausibly short; scalar or ``(d,)``
            (one PC prior per entry, e.g. per ARD dimension with ``dim=1``).
        alpha: tail probability in ``(0, 1)``.
        dim: input dimension of the isotropic Matérn field the lengthscale acts on.

    Returns:
        :class:`PCLengthscale` with batch shape ``shape(l0)``.

    Raises:
        ValueError: for non-positive ``l0``, ``alpha`` outside ``(0, 1)`` or a bad ``dim``.
    """
    return PCLengthscale.from_tail(l0, alpha, dim)


def pc_stddev(sigma0, alpha: float = 0.05) -> dist.Exponential:
    """PC prior on a marginal standard deviation with ``P(σ > sigma0) = alpha``: ``Exponential(-log(alpha)/sigma0)``.

    Args:
        sigma0: scalar or array, a standard deviation the user considers implausibly large.
        alpha: tail probability in ``(0, 1)``.

    Returns:
        ``numpyro.distributions.Exponential`` with batch shape ``shape(sigma0)``.
    """
    _check_tail(sigma0, alpha, "sigma0")
    return dist.Exponential(-math.log(alpha) / jnp.asarray(sigma0, jnp.result_type(float)))


def pc_variance(sigma0, alpha: float = 0.05) -> dist.TransformedDistribution:
    """PC prior on a kernel *variance* ``v = σ²`` with ``σ ~ Exponential(-log(alpha)/sigma0)``.

    So ``P(v > sigma0²) = P(σ > sigma0) = alpha``. The density of ``v`` is
    ``λ exp(-λ√v) / (2√v)``: the standard-deviation PC prior written in the
    variance parameterisation the kernels use.

    Args:
        sigma0: scalar or array, an implausibly large *standard deviation*.
        alpha: tail probability in ``(0, 1)``.

    Returns:
        A ``TransformedDistribution`` (Exponential under ``x ↦ x²``) on the
        positive reals, batch shape ``shape(sigma0)``.
    """
    return dist.TransformedDistribution(pc_stddev(sigma0, alpha), PowerTransform(2.0))
