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

A back end supplies a hashable *spec* (its resolved static settings) whose
``build(kernel, X, dynamic)`` returns a *representation* (``dynamic =
spec.dynamic(process)``: array settings such as a PRNG key) with

* ``features(X) -> Φ`` ``(n, M)`` (the same basis at any inputs),
* ``weights`` ``(M,)``: the weights ``s`` of the kernel,
* ``check_inputs(X_new)``: warn or raise for inputs the basis cannot handle,

and ``spec.component_weights(kernel, X, target) -> s_c`` ``(M,)``: the
weights of one summand of a sum kernel (``ValueError`` if ``target`` is not
a summand, compared by identity, so this runs outside ``jit``). Densities,
LOO terms, prior draws and the posterior factorisation run as one compiled
program per spec and shape (the spec is a static argument).

**Components.** For a sum kernel both bases carry each summand on weights
``s_c`` with ``Σ_c s_c = s`` (HSGP: the summands' spectral densities on the
same basis; RFF: each summand's own block of columns). Given the total
weights ``w = √s ⊙ v``, each coordinate of a summand's weights is
``w_c | w ~ N((s_c/s) w, s_c − s_c²/s)``, so the posterior of one component
is exact in the finite model: mean ``Φ* ((s_c/√s) ⊙ μ_v)``, covariance
``Φ* [diag(s_c − s_c²/s) + B A⁻¹ B] Φ*ᵀ`` with ``B = diag(s_c/√s)``.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from bayeskern._checks import as_inputs
from bayeskern.gp.posterior import (
    GaussianPrediction,
    mean_at,
    prediction_inputs,
    prediction_noise,
)
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


def effective_noise(kernel, X, noise):
    """``noise + jitter`` (scalar or ``(n,)``) with the dense back end's relative jitter."""
    noise = jnp.asarray(noise, dtype=X.dtype)
    return noise + default_jitter(X.dtype) * jnp.mean(kernel.diag(X))


@functools.partial(jax.jit, static_argnames=("spec",))
def _build(kernel, X, dynamic, spec):
    return spec.build(kernel, X, dynamic)


def representation(process, spec):
    """The basis representation of ``process`` (a pytree; built by one compiled program per spec and shape).

    ``spec.dynamic(process)`` supplies array settings (e.g. the RFF key) so
    that changing them does not recompile.
    """
    return _build(process.kernel, process.X, spec.dynamic(process), spec)


def _factor(rep, kernel, X, noise):
    return woodbury_factor(rep.features(X), rep.weights, effective_noise(kernel, X, noise))


@jax.jit
def _log_prob(rep, kernel, X, noise, resid):
    return woodbury_logpdf_from_factor(resid, _factor(rep, kernel, X, noise))


@jax.jit
def _pointwise(rep, kernel, X, noise, resid):
    fac = _factor(rep, kernel, X, noise)
    n = resid.shape[-1]
    alpha = woodbury_solve(fac, resid.reshape(-1, n).T).T.reshape(resid.shape)
    var = 1.0 / woodbury_inverse_diagonal(fac)
    return -0.5 * (jnp.log(2 * math.pi * var) + alpha * alpha * var)


@functools.partial(jax.jit, static_argnames=("shape",))
def _sample(rep, X, noise, key, shape):
    Phi = rep.features(X)
    n, M = Phi.shape
    k_v, k_e = jax.random.split(key)
    v = jax.random.normal(k_v, shape + (M,), Phi.dtype)
    eps = jax.random.normal(k_e, shape + (n,), Phi.dtype)
    noise = jnp.broadcast_to(noise, (n,))
    return (v * safe_sqrt_weights(rep.weights)) @ Phi.T + jnp.sqrt(noise) * eps


@jax.jit
def _condition(rep, kernel, X, noise, resid):
    fac = _factor(rep, kernel, X, noise)
    return fac.chol, woodbury_posterior_weights(fac, resid)


@jax.jit
def _features(rep, X_new):
    return rep.features(X_new)


def log_prob(process, spec, value):
    """``log N(value | m, Φ diag(s) Φᵀ + N)``, ``(..., n) -> (...)``."""
    rep = representation(process, spec)
    return _log_prob(rep, process.kernel, process.X, process.noise, value - process.loc)


def pointwise_log_prob(process, spec, value):
    """Exact LOO terms of the low-rank-plus-diagonal model: ``α = K⁻¹ r``, ``σ²_i = 1 / [K⁻¹]_ii``."""
    rep = representation(process, spec)
    return _pointwise(rep, process.kernel, process.X, process.noise, value - process.loc)


def sample(process, spec, key, sample_shape):
    """Prior draws ``sample_shape + (n,)`` with noise: ``m + Φ (√s ⊙ v) + ε`` in ``O(n M)`` each."""
    rep = representation(process, spec)
    return process.loc + _sample(rep, process.X, process.noise, key, tuple(sample_shape))


class LowRankPosterior:
    """A low-rank GP conditioned on data, in weight space: ``v | y ~ N(mean_v, A⁻¹)``.

    Attributes:
        process: the prior ``GaussianProcess``.
        spec: the back end's resolved settings.
        chol: lower Cholesky factor of ``A`` ``(M, M)``.
        mean_v: posterior mean of the whitened weights ``(M,)``.
    """

    def __init__(self, process, spec, y):
        self.process = process
        self.spec = spec
        self.rep = representation(process, spec)
        self.chol, self.mean_v = _condition(self.rep, process.kernel, process.X, process.noise, y - process.loc)

    def features(self, X_new):
        """``(Φ(X_new), s)``: the basis at new inputs and the kernel's weights."""
        Xn = as_inputs(X_new, "X_new")
        self.spec.check_inputs(self.process.X, Xn)
        return _features(self.rep, Xn), self.rep.weights

    def _prior_mean(self, X_new, component):
        if component:
            return jnp.zeros(as_inputs(X_new, "X_new").shape[0])
        return mean_at(self.process, X_new)

    def at(self, X_new, *, kernel: Kernel | None = None, include_noise: bool = False, noise_new=None):
        """The conditioned distribution over ``f(X_new)``; arguments as ``GPPosterior.at``.

        ``kernel`` (a summand of the process's sum kernel, the same object)
        predicts that component; its prior mean is taken as zero.
        """
        proc = self.process
        Xn = prediction_inputs(proc, X_new)
        component = kernel is not None
        Phi_new, s = self.features(Xn)
        s_c = self.spec.component_weights(proc.kernel, proc.X, kernel) if component else None
        loc, V, extra_w = _predict(Phi_new, s, s_c, self.chol, self.mean_v)
        loc = self._prior_mean(X_new, component) + loc
        extra = prediction_noise(proc, Xn.shape[0], include_noise, noise_new)
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

        def draws(X_new):
            Phi_new, s = self.features(X_new)
            return self._prior_mean(X_new, False) + (v * safe_sqrt_weights(s)) @ Phi_new.T

        return draws


@jax.jit
def _predict(Phi_new, s, s_c, chol, mean_v):
    """``(loc, V, extra_w)`` of ``f* | y`` (zero prior mean): ``Cov = V Vᵀ + Φ* diag(extra_w) Φ*ᵀ``."""
    sqrt_s = safe_sqrt_weights(s)
    Linv_T = solve_triangular(chol, jnp.eye(chol.shape[0], dtype=chol.dtype), lower=True).T
    if s_c is None:
        ratio, extra_w = sqrt_s, None
    else:
        pos = s > 0
        ratio = jnp.where(pos, s_c / jnp.where(pos, sqrt_s, 1.0), 0.0)  # s_c / √s
        extra_w = jnp.maximum(jnp.where(pos, s_c - s_c * s_c / jnp.where(pos, s, 1.0), 0.0), 0.0)
    return Phi_new @ (ratio * mean_v), Phi_new @ (ratio[:, None] * Linv_T), extra_w


class LowRankConditioned(GaussianPrediction):
    """``f(X_new) | y`` of a low-rank GP: ``N(loc, V Vᵀ + Φ* diag(d) Φ*ᵀ [+ diag(noise)])``.

    ``mean``, ``variance`` and ``sample`` cost ``O(m M)`` per point (no
    ``m × m`` matrix); ``covariance_matrix`` and ``log_prob`` form it
    (without ``include_noise`` and with ``m > M`` that covariance is
    singular and the jittered density is not meaningful). ``d`` is non-zero
    only for one component of a sum kernel.
    """

    pytree_data_fields = ("V", "Phi_new", "extra_weights")

    def __init__(self, loc, V, Phi_new, extra_weights=None, extra_noise=None, validate_args=None):
        self.V = V
        self.Phi_new = Phi_new
        self.extra_weights = extra_weights
        super().__init__(loc, extra_noise, validate_args)

    def _posterior_variance(self):
        var = jnp.sum(self.V * self.V, axis=1)
        if self.extra_weights is not None:
            var = var + (self.Phi_new * self.Phi_new) @ self.extra_weights
        return var

    def _posterior_covariance(self):
        cov = self.V @ self.V.T
        if self.extra_weights is not None:
            cov = cov + (self.Phi_new * self.extra_weights) @ self.Phi_new.T
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


def entry_points(spec_of, label: str):
    """The back-end interface ``(log_prob, pointwise_log_prob, sample, condition)`` of a finite-basis
    model whose basis ``spec_of(process)`` describes; ``label`` names it in the docstrings."""

    def model_log_prob(process, value):
        return log_prob(process, spec_of(process), value)

    def model_pointwise_log_prob(process, value):
        return pointwise_log_prob(process, spec_of(process), value)

    def model_sample(process, key, sample_shape):
        return sample(process, spec_of(process), key, sample_shape)

    def model_condition(process, y):
        return LowRankPosterior(process, spec_of(process), y)

    model_log_prob.__doc__ = f"Woodbury log density of the {label} model, ``(..., n) -> (...)``."
    model_pointwise_log_prob.__doc__ = f"Exact LOO terms of the {label} model, ``(..., n)``."
    model_sample.__doc__ = "Prior draws (with noise), ``sample_shape + (n,)``."
    model_condition.__doc__ = "A ``LowRankPosterior`` (weight space) with ``at(X_new, ...)`` and ``sample_functions``."
    return model_log_prob, model_pointwise_log_prob, model_sample, model_condition
