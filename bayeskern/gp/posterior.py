"""GP posteriors: one factorisation, many predictions (Rasmussen & Williams Alg. 2.1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpyro.distributions import Distribution, constraints

from bayeskern._checks import as_inputs
from bayeskern.kernels import Kernel
from bayeskern.linalg import cholesky
from bayeskern.linalg.triangular import whiten


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
        from bayeskern.gp.process import solve

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
        from bayeskern.gp.process import mean_at

        proc = self.process
        Xn = as_inputs(X_new, "X_new")
        if Xn.shape[1] != proc.X.shape[1]:
            raise ValueError(
                f"X_new must have {proc.X.shape[1]} input dimension(s) like X, got {Xn.shape[1]}"
            )
        component = kernel is not None
        k = kernel if component else proc.kernel
        Ks = k(proc.X, Xn)  # (n, m)
        prior_mean = jnp.zeros(Xn.shape[0]) if component else mean_at(proc, X_new)
        mean = prior_mean + Ks.T @ self.alpha
        V = whiten(self.L, Ks)  # (n, m)
        extra = None
        if include_noise:
            if noise_new is None:
                if jnp.ndim(proc.noise) != 0:
                    raise ValueError("the training noise is per point; pass noise_new for X_new")
                noise_new = proc.noise
            extra = jnp.broadcast_to(jnp.asarray(noise_new), Xn.shape[:1])
        return ConditionedGP(mean, k, Xn, V, extra)


class ConditionedGP(Distribution):
    """Gaussian distribution of ``f(X_new) | y``: mean ``(m,)``, covariance ``K** - Vᵀ V``.

    ``variance`` needs only ``O(n m)`` memory; ``covariance_matrix`` and
    ``sample`` form the ``(m, m)`` matrix on request.
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("loc", "kernel", "X_new", "V", "extra_noise")

    def __init__(self, loc, kernel, X_new, V, extra_noise=None, validate_args=None):
        self.loc = loc
        self.kernel = kernel
        self.X_new = X_new
        self.V = V
        self.extra_noise = extra_noise
        super().__init__(batch_shape=(), event_shape=loc.shape[-1:], validate_args=validate_args)

    @property
    def mean(self):
        """Posterior mean ``(m,)``."""
        return self.loc

    @property
    def variance(self):
        """Posterior marginal variances ``(m,)`` (round-off negatives clipped to zero)."""
        var = self.kernel.diag(self.X_new) - jnp.sum(self.V * self.V, axis=0)
        if self.extra_noise is not None:
            var = var + self.extra_noise
        return jnp.maximum(var, 0.0)

    @property
    def covariance_matrix(self):
        """Posterior covariance ``(m, m)``."""
        cov = self.kernel(self.X_new) - self.V.T @ self.V
        cov = 0.5 * (cov + cov.T)
        if self.extra_noise is not None:
            cov = cov + jnp.diag(self.extra_noise)
        return cov

    def sample(self, key, sample_shape=()):
        """Joint draws ``sample_shape + (m,)``."""
        L = cholesky(self.covariance_matrix, name="posterior covariance")
        z = jax.random.normal(key, tuple(sample_shape) + self.event_shape, dtype=L.dtype)
        return self.loc + z @ L.T

    def log_prob(self, value):
        from bayeskern.linalg import gaussian_logpdf

        return gaussian_logpdf(value - self.loc, self.covariance_matrix)
