"""GP posteriors: one factorisation, many predictions (Rasmussen & Williams Alg. 2.1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpyro.distributions import Distribution, constraints

from bayeskern._checks import as_inputs
from bayeskern.kernels import Kernel
from bayeskern.linalg import cholesky, gaussian_logpdf
from bayeskern.linalg.triangular import cho_solve, whiten


class GPPosterior:
    """A Gaussian process conditioned on data, holding the Cholesky factor of ``K_y``.

    Build it with ``GaussianProcess.condition(y)``; call ``at(X_new)`` as
    often as needed, each call costing ``O(n² m)`` and no refactorisation.

    Attributes:
        process: the prior ``GaussianProcess``.
        L: lower Cholesky factor of ``K(X, X) + diag(noise)``, ``(n, n)``.
        alpha: ``K_y⁻¹ (y - m(X))``, ``(n,)``.
    """

    def __init__(self, process, L, alpha):
        self.process = process
        self.L = L
        self.alpha = alpha

    @classmethod
    def from_process(cls, process, y):
        L, alpha = solve(process, y)
        return cls(process, L, alpha)

    def at(self, X_new, *, kernel: Kernel | None = None, include_noise: bool = False, noise_new=None):
        """The conditioned distribution over ``f(X_new)``, ``X_new`` ``(m,)`` or ``(m, d)``.

        Args:
            X_new: prediction inputs.
            kernel: predict one additive component of a sum kernel instead of
                the whole function (e.g. the seasonal part of CO2): the
                cross-covariance and prior covariance use this kernel, the
                data are still explained by the full model, and the mean of
                the component is taken as zero.
            include_noise: add the observation noise (predict ``y`` rather than ``f``);
                ``noise_new`` (scalar or ``(m,)``) gives the noise at ``X_new``,
                defaulting to the scalar training noise.
        """
        proc = self.process
        Xn = prediction_inputs(proc, X_new)
        component = kernel is not None
        k = kernel if component else proc.kernel
        Ks = k(proc.X, Xn)  # (n, m)
        prior_mean = jnp.zeros(Xn.shape[0]) if component else mean_at(proc, X_new)
        mean = prior_mean + Ks.T @ self.alpha
        V = whiten(self.L, Ks)  # (n, m)
        extra = prediction_noise(proc, Xn.shape[0], include_noise, noise_new)
        return ConditionedGP(mean, k, Xn, V, extra)


class GaussianPrediction(Distribution):
    """Gaussian ``f(X_new) | y`` of any back end: shared mean/variance/covariance/sample/log_prob.

    A back end subclasses it and gives the noise-free posterior terms:
    ``_posterior_variance()`` ``(m,)`` and ``_posterior_covariance()``
    ``(m, m)``. Observation noise at ``X_new`` (``extra_noise``, ``(m,)`` or
    ``None``) is added here, round-off negatives in variances are clipped
    to zero, and joint draws and densities go through the dense
    ``(m, m)`` covariance with the jitter policy unless a subclass has a
    cheaper route.
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("loc", "extra_noise")

    def __init__(self, loc, extra_noise=None, validate_args=None):
        self.loc = loc
        self.extra_noise = extra_noise
        super().__init__(batch_shape=(), event_shape=loc.shape[-1:], validate_args=validate_args)

    def _posterior_variance(self):
        raise NotImplementedError

    def _posterior_covariance(self):
        raise NotImplementedError

    @property
    def mean(self):
        """Posterior mean ``(m,)``."""
        return self.loc

    @property
    def variance(self):
        """Posterior marginal variances ``(m,)`` (round-off negatives clipped to zero)."""
        var = jnp.maximum(self._posterior_variance(), 0.0)
        return var if self.extra_noise is None else var + self.extra_noise

    @property
    def covariance_matrix(self):
        """Posterior covariance ``(m, m)``."""
        cov = self._posterior_covariance()
        cov = 0.5 * (cov + cov.T)
        return cov if self.extra_noise is None else cov + jnp.diag(self.extra_noise)

    def sample(self, key, sample_shape=()):
        """Joint draws ``sample_shape + (m,)``."""
        L = cholesky(self.covariance_matrix, name="posterior covariance")
        z = jax.random.normal(key, tuple(sample_shape) + self.event_shape, dtype=L.dtype)
        return self.loc + z @ L.T

    def log_prob(self, value):
        """Joint posterior log density of ``value`` ``(..., m)``."""
        return gaussian_logpdf(value - self.loc, self.covariance_matrix)


class ConditionedGP(GaussianPrediction):
    """Gaussian distribution of ``f(X_new) | y``: mean ``(m,)``, covariance ``K** - Vᵀ V``.

    ``variance`` needs only ``O(n m)`` memory; ``covariance_matrix`` and
    ``sample`` form the ``(m, m)`` matrix on request.
    """

    pytree_data_fields = ("kernel", "X_new", "V")

    def __init__(self, loc, kernel, X_new, V, extra_noise=None, validate_args=None):
        self.kernel = kernel
        self.X_new = X_new
        self.V = V
        super().__init__(loc, extra_noise, validate_args)

    def _posterior_variance(self):
        return self.kernel.diag(self.X_new) - jnp.sum(self.V * self.V, axis=0)

    def _posterior_covariance(self):
        return self.kernel(self.X_new) - self.V.T @ self.V


def prediction_inputs(process, X_new):
    """``X_new`` as ``(m, d)`` with the process's input dimension, or a ``ValueError``."""
    Xn = as_inputs(X_new, "X_new")
    if Xn.shape[1] != process.X.shape[1]:
        raise ValueError(
            f"X_new must have {process.X.shape[1]} input dimension(s) like X, got {Xn.shape[1]}"
        )
    return Xn


def prediction_noise(process, num_new: int, include_noise: bool, noise_new):
    """Observation-noise variances ``(m,)`` to add at the new inputs, or ``None`` for ``f`` itself."""
    if not include_noise:
        return None
    if noise_new is None:
        if jnp.ndim(process.noise) != 0:
            raise ValueError("the training noise is per point; pass noise_new for X_new")
        noise_new = process.noise
    return jnp.broadcast_to(jnp.asarray(noise_new), (num_new,))


def mean_at(process, X_new):
    """The prior mean function of a ``GaussianProcess`` evaluated at new inputs ``X_new`` -> ``(m,)``."""
    m = as_inputs(X_new, "X_new").shape[0]
    if process.mean_kind == "callable":
        return jnp.asarray(process.mean_fn(X_new))
    if process.mean_kind == "array":
        raise ValueError(
            "the GP mean was given as an array at the training inputs, so it cannot be evaluated at "
            "X_new; pass mean as a callable mean(X) -> (n,) to predict"
        )
    return jnp.full((m,), process.mean_constant)


def solve(process, y):
    """``(L, α)`` for ``K_y = L Lᵀ`` and ``α = K_y⁻¹ (y - m)`` under the jitter policy."""
    L = cholesky(process.covariance_matrix, name="GP covariance")
    return L, cho_solve(L, y - process.loc)
