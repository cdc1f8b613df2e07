"""Shared machinery of the low-rank back ends (``hsgp``, ``rff``): ``K ≈ Φ diag(s) Φᵀ``.

The model these back ends compute *exactly* is the finite-basis one,

    y = m(X) + Φ(X) diag(√s) v + ε,    v ~ N(0, I_M),    ε ~ N(0, diag(noise + jitter)),

so ``Cov(y) = Φ diag(s) Φᵀ + diag(noise + jitter)`` with ``jitter`` the
same relative jitter as the dense back end (``default_jitter`` times the
mean prior variance, which only matters for noise-free processes). Log
density, solves and leave-one-out terms go through
``bayeskern.linalg.woodbury`` in ``O(n M²)``; the posterior lives in weight
space, ``v | y ~ N(A⁻¹ Uᵀ N⁻¹ r, A⁻¹)`` with ``U = Φ diag(√s)`` and
``A = I + Uᵀ N⁻¹ U``.

A back end supplies a *representation* of its process with

* ``features(X) -> Φ`` ``(n, M)`` (the same basis at any inputs),
* ``weights`` ``(M,)``: the weights ``s`` of the process's kernel,
* ``component_weights(target) -> s_c`` ``(M,)``: the weights of one summand
  of a sum kernel (``ValueError`` if ``target`` is not a summand),
* ``check_inputs(X_new)``: warn or raise for inputs the basis cannot handle.

**Components.** For a sum kernel both bases carry each summand on weights
``s_c`` with ``Σ_c s_c = s`` (HSGP: the summands' spectral densities on the
same basis; RFF: each summand's own block of columns). Given the total
weights ``w = √s ⊙ v``, each coordinate of a summand's weights is
``w_c | w ~ N((s_c/s) w, s_c − s_c²/s)``, so the posterior of one component
is exact in the finite model: mean ``Φ* ((s_c/√s) ⊙ μ_v)``, covariance
``Φ* [diag(s_c − s_c²/s) + B A⁻¹ B] Φ*ᵀ`` with ``B = diag(s_c/√s)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from numpyro.distributions import Distribution, constraints

from bayeskern._checks import as_inputs
from bayeskern.kernels import Kernel
from bayeskern.linalg import default_jitter
from bayeskern.linalg.woodbury import (
    safe_sqrt_weights,
    woodbury_factor,
    woodbury_inverse_diagonal,
    woodbury_logpdf_from_factor,
    woodbury_posterior_weights,
    woodbury_solve,
)


def effective_noise(process):
    """``noise + jitter`` (scalar or ``(n,)``) with the dense back end's relative jitter."""
    noise = jnp.asarray(process.noise, dtype=process.X.dtype)
    jitter = default_jitter(process.X.dtype) * jnp.mean(process.kernel.diag(process.X))
    return noise + jitter


def factor(process, rep):
    """Woodbury factor of the process's covariance at its inputs."""
    return woodbury_factor(rep.features(process.X), rep.weights, effective_noise(process))


def log_prob(process, rep, value):
    """``log N(value | m, Φ diag(s) Φᵀ + N)``, ``(..., n) -> (...)``."""
    return woodbury_logpdf_from_factor(value - process.loc, factor(process, rep))


def pointwise_log_prob(process, rep, value):
    """Exact LOO terms of the low-rank-plus-diagonal model: ``α = K⁻¹ r``, ``σ²_i = 1 / [K⁻¹]_ii``."""
    fac = factor(process, rep)
    r = value - process.loc
    n = r.shape[-1]
    R = r.reshape(-1, n).T
    alpha = woodbury_solve(fac, R).T.reshape(r.shape)
    var = 1.0 / woodbury_inverse_diagonal(fac)
    return -0.5 * (jnp.log(2 * math.pi * var) + alpha * alpha * var)


def sample(process, rep, key, sample_shape):
    """Prior draws ``sample_shape + (n,)`` with noise: ``m + Φ (√s ⊙ v) + ε`` in ``O(n M)`` each."""
    Phi = rep.features(process.X)
    n, M = Phi.shape
    k_v, k_e = jax.random.split(key)
    shape = tuple(sample_shape)
    v = jax.random.normal(k_v, shape + (M,), Phi.dtype)
    eps = jax.random.normal(k_e, shape + (n,), Phi.dtype)
    noise = jnp.broadcast_to(process.noise, (n,))
    return process.loc + (v * safe_sqrt_weights(rep.weights)) @ Phi.T + jnp.sqrt(noise) * eps


class LowRankPosterior:
    """A low-rank GP conditioned on data, in weight space: ``v | y ~ N(mean_v, A⁻¹)``.

    Attributes:
        process: the prior ``GaussianProcess``.
        rep: the back end's basis representation.
        chol: lower Cholesky factor of ``A`` ``(M, M)``.
        mean_v: posterior mean of the whitened weights ``(M,)``.
    """

    def __init__(self, process, rep, y):
        self.process = process
        self.rep = rep
        fac = factor(process, rep)
        self.chol = fac.chol
        self.mean_v = woodbury_posterior_weights(fac, y - process.loc)

    def _prior_mean(self, X_new, component):
        from bayeskern.gp.process import mean_at

        if component:
            return jnp.zeros(as_inputs(X_new, "X_new").shape[0])
        return mean_at(self.process, X_new)

    def at(self, X_new, *, kernel: Kernel | None = None, include_noise: bool = False, noise_new=None):
        """The conditioned distribution over ``f(X_new)``; arguments as ``GPPosterior.at``.

        ``kernel`` (a summand of the process's sum kernel, the same object)
        predicts that component; its prior mean is taken as zero.
        """
        proc = self.process
        Xn = as_inputs(X_new, "X_new")
        if Xn.shape[1] != proc.X.shape[1]:
            raise ValueError(f"X_new must have {proc.X.shape[1]} input dimension(s) like X, got {Xn.shape[1]}")
        self.rep.check_inputs(Xn)
        component = kernel is not None
        s = self.rep.weights
        sqrt_s = safe_sqrt_weights(s)
        Phi_new = self.rep.features(Xn)
        Linv_T = solve_triangular(self.chol, jnp.eye(self.chol.shape[0], dtype=self.chol.dtype), lower=True).T
        if component:
            s_c = self.rep.component_weights(kernel)
            pos = s > 0
            ratio = jnp.where(pos, s_c / jnp.where(pos, sqrt_s, 1.0), 0.0)  # s_c / √s
            extra_w = jnp.maximum(jnp.where(pos, s_c - s_c * s_c / jnp.where(pos, s, 1.0), 0.0), 0.0)
        else:
            ratio, extra_w = sqrt_s, None
        loc = self._prior_mean(X_new, component) + Phi_new @ (ratio * self.mean_v)
        V = Phi_new @ (ratio[:, None] * Linv_T)  # (m, M): Cov = V Vᵀ + Φ* diag(extra_w) Φ*ᵀ
        extra = None
        if include_noise:
            if noise_new is None:
                if jnp.ndim(proc.noise) != 0:
                    raise ValueError("the training noise is per point; pass noise_new for X_new")
                noise_new = proc.noise
            extra = jnp.broadcast_to(jnp.asarray(noise_new), Xn.shape[:1])
        return LowRankConditioned(loc, V, Phi_new, extra_w, extra)

    def sample_functions(self, key, num_samples: int = 1):
        """``num_samples`` posterior draws of the whole function, evaluable at any inputs.

        Returns a callable ``f(X_new) -> (num_samples, m)``: each draw is
        ``m(x) + Φ(x) (√s ⊙ v)`` for one weight vector ``v`` from the
        posterior, so repeated calls are jointly consistent (Thompson
        sampling). Outside the HSGP box the draws are meaningless.
        """
        M = self.chol.shape[0]
        z = jax.random.normal(key, (int(num_samples), M), self.chol.dtype)
        v = self.mean_v + solve_triangular(self.chol, z.T, lower=True, trans="T").T  # A⁻¹ covariance
        w = v * safe_sqrt_weights(self.rep.weights)
        rep, prior_mean = self.rep, self._prior_mean

        def draws(X_new):
            Xn = as_inputs(X_new, "X_new")
            rep.check_inputs(Xn)
            return prior_mean(X_new, False) + w @ rep.features(Xn).T

        return draws


class LowRankConditioned(Distribution):
    """``f(X_new) | y`` of a low-rank GP: ``N(loc, V Vᵀ + Φ* diag(d) Φ*ᵀ [+ diag(noise)])``.

    ``mean``, ``variance`` and ``sample`` cost ``O(m M)`` per point (no
    ``m × m`` matrix); ``covariance_matrix`` and ``log_prob`` form it.
    ``d`` is non-zero only for one component of a sum kernel.
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("loc", "V", "Phi_new", "extra_weights", "extra_noise")

    def __init__(self, loc, V, Phi_new, extra_weights=None, extra_noise=None, validate_args=None):
        self.loc = loc
        self.V = V
        self.Phi_new = Phi_new
        self.extra_weights = extra_weights
        self.extra_noise = extra_noise
        super().__init__(batch_shape=(), event_shape=loc.shape[-1:], validate_args=validate_args)

    @property
    def mean(self):
        """Posterior mean ``(m,)``."""
        return self.loc

    @property
    def variance(self):
        """Posterior marginal variances ``(m,)``."""
        var = jnp.sum(self.V * self.V, axis=1)
        if self.extra_weights is not None:
            var = var + (self.Phi_new * self.Phi_new) @ self.extra_weights
        if self.extra_noise is not None:
            var = var + self.extra_noise
        return var

    @property
    def covariance_matrix(self):
        """Posterior covariance ``(m, m)``."""
        cov = self.V @ self.V.T
        if self.extra_weights is not None:
            cov = cov + (self.Phi_new * self.extra_weights) @ self.Phi_new.T
        cov = 0.5 * (cov + cov.T)
        if self.extra_noise is not None:
            cov = cov + jnp.diag(self.extra_noise)
        return cov

    def sample(self, key, sample_shape=()):
        """Joint draws ``sample_shape + (m,)`` through the weight-space factors (``O(m M)`` each)."""
        shape = tuple(sample_shape)
        k1, k2, k3 = jax.random.split(key, 3)
        m, M = self.V.shape
        out = self.loc + jax.random.normal(k1, shape + (M,), self.V.dtype) @ self.V.T
        if self.extra_weights is not None:
            z = jax.random.normal(k2, shape + (self.Phi_new.shape[1],), self.V.dtype)
            out = out + (z * jnp.sqrt(self.extra_weights)) @ self.Phi_new.T
        if self.extra_noise is not None:
            out = out + jnp.sqrt(self.extra_noise) * jax.random.normal(k3, shape + (m,), self.V.dtype)
        return out

    def log_prob(self, value):
        """Joint posterior density of ``value`` ``(..., m)`` (dense ``m × m``, with the jitter policy).

        Without ``include_noise`` and with ``m > M`` the covariance is
        singular and the jittered density is not meaningful.
        """
        from bayeskern.linalg import gaussian_logpdf

        return gaussian_logpdf(value - self.loc, self.covariance_matrix)
