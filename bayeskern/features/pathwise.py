"""Pathwise posterior sampling (Wilson et al. 2020): posterior draws as functions of the inputs.

Matheron's rule turns a prior draw into a posterior draw:

    f_post(·) = m(·) + f_prior(·) + K(·, X) (K + diag(σ²))⁻¹ (y − m(X) − f_prior(X) − ε),

with ``ε ~ N(0, diag(σ²))``. The prior function ``f_prior(x) = φ(x)ᵀ w``,
``w ~ N(0, I)``, uses random Fourier features (so it can be evaluated
anywhere at ``O(M)`` per point) and the update uses the exact kernel. The
result is a set of ordinary functions that can be evaluated at *any* new
inputs, jointly consistent across calls — what Thompson sampling needs to
optimise a posterior draw. The posterior mean of the draws is exact; their
covariance differs from the exact posterior covariance only through the RFF
error of the prior (``O(1/√M)``, largest far from the data).

Cost: one ``O(n³)`` Cholesky at construction; each evaluation at ``m``
points costs ``O(m (n + M) S)`` for ``S`` sample functions.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from bayeskern._checks import as_inputs, as_observations, check_nonnegative
from bayeskern.features.random_fourier import RFFBasis
from bayeskern.kernels import Kernel
from bayeskern.linalg import cholesky
from bayeskern.linalg.triangular import cho_solve

__all__ = ["PathwiseSamples", "pathwise_posterior"]


@jax.tree_util.register_pytree_node_class
class PathwiseSamples:
    """``S`` posterior sample functions; ``samples(X_new)`` -> ``(S, m)``.

    Attributes:
        kernel: the kernel.
        X: training inputs ``(n, d)``.
        basis: the ``RFFBasis`` of the prior draws.
        weights: prior feature weights ``(S, C)``.
        update: ``(K + diag(σ²))⁻¹ (y − m(X) − f_prior(X) − ε)`` ``(n, S)``.
    """

    def __init__(self, kernel, X, basis, weights, update, mean_constant, mean_fn=None):
        self.kernel = kernel
        self.X = X
        self.basis = basis
        self.weights = weights
        self.update = update
        self.mean_constant = mean_constant
        self.mean_fn = mean_fn

    def tree_flatten(self):
        return (self.kernel, self.X, self.basis, self.weights, self.update, self.mean_constant), self.mean_fn

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        return cls(*leaves, mean_fn=aux)

    @property
    def num_samples(self) -> int:
        return self.weights.shape[0]

    def prior(self, X_new):
        """The prior draws ``f_prior(X_new)`` ``(S, m)`` (without mean)."""
        return self.weights @ self.basis.features(as_inputs(X_new, "X_new")).T

    def __call__(self, X_new):
        """Posterior sample functions at ``X_new`` ``(m,)|(m, d)`` -> ``(S, m)``."""
        Xn = as_inputs(X_new, "X_new")
        if Xn.shape[1] != self.X.shape[1]:
            raise ValueError(f"X_new must have {self.X.shape[1]} input dimension(s) like X, got {Xn.shape[1]}")
        return _evaluate(self, Xn)


@jax.jit
def _evaluate(samples, Xn):
    mean = samples.mean_fn(Xn) if samples.mean_fn is not None else samples.mean_constant
    return mean + samples.prior(Xn) + (samples.kernel(Xn, samples.X) @ samples.update).T


def pathwise_posterior(kernel: Kernel, X, y, *, noise=None, key, num_samples: int = 1, num_features: int = 1024,
                       rff_kind: str = "auto", mean=None) -> PathwiseSamples:
    """``num_samples`` posterior sample functions of ``f | y`` by pathwise conditioning.

    Args:
        kernel: a stationary kernel (or sum/positive multiple) with a frequency sampler.
        X: training inputs ``(n,)|(n, d)``.
        y: observations ``(n,)``.
        noise: observation-noise variance, scalar or ``(n,)`` (None: noise-free, with the jitter policy).
        key: PRNG key (frequencies, prior weights and noise draws all come from it).
        num_samples: number of sample functions ``S``.
        num_features: frequencies per stationary summand (``2M`` feature columns each).
        rff_kind: ``"auto"``, ``"iid"``, ``"orthogonal"`` or ``"simplex"`` (see ``random_fourier``).
        mean: None (zero), a scalar, or a callable ``mean(X) -> (n,)``.
    """
    X = as_inputs(X, "X")
    n, d = X.shape
    y = as_observations(y, "y")
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}")
    noise = jnp.zeros(()) if noise is None else jnp.asarray(noise, X.dtype)
    if noise.ndim > 1 or (noise.ndim == 1 and noise.shape[0] != n):
        raise ValueError(f"noise must be a scalar or have shape ({n},), got shape {noise.shape}")
    check_nonnegative(noise, "noise", "pathwise_posterior")
    if mean is None or callable(mean):
        mean_constant, mean_fn = jnp.zeros((), X.dtype), mean
    else:
        mean_constant, mean_fn = jnp.asarray(mean, X.dtype), None
        if mean_constant.ndim != 0:
            raise ValueError("mean must be None, a scalar or a callable mean(X) -> (n,)")
    mX = mean_fn(X) if mean_fn is not None else mean_constant
    # Validates the kernel and settings before tracing (clear ValueErrors).
    RFFBasis.from_kernel(kernel, jax.random.PRNGKey(0), 1, d, rff_kind)
    Ky = kernel(X) + jnp.diag(jnp.broadcast_to(noise, (n,)))
    L = cholesky(Ky, name="GP covariance (pathwise update)")
    basis, w, update = _draw(kernel, X, y - mX, noise, L, key, int(num_samples), int(num_features), rff_kind)
    return PathwiseSamples(kernel, X, basis, w, update, mean_constant, mean_fn)


@functools.partial(jax.jit, static_argnames=("num_samples", "num_features", "rff_kind"))
def _draw(kernel, X, resid, noise, L, key, num_samples, num_features, rff_kind):
    n = X.shape[0]
    k_freq, k_w, k_eps = jax.random.split(key, 3)
    basis = RFFBasis.from_kernel(kernel, k_freq, num_features, X.shape[1], rff_kind)
    Phi = basis.features(X)
    w = jax.random.normal(k_w, (num_samples, Phi.shape[1]), X.dtype)
    eps = jnp.sqrt(noise) * jax.random.normal(k_eps, (num_samples, n), X.dtype)
    update = cho_solve(L, (resid - w @ Phi.T - eps).T)  # (n, S)
    return basis, w, update
