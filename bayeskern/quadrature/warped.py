"""Warped BQ for non-negative integrands: square-root warping, WSABI-L (Gunter et al. 2014).

``f = α + ½ g²`` with ``g ~ GP(0, k)`` fitted to ``g(X) = √(2 (f(X) - α))``,
``α = 0.8 · min f(X)``. Linearising the square about the GP mean ``m_g``
makes ``f`` approximately Gaussian with mean ``α + ½ m_g²`` and covariance
``m_g(x) C_g(x, x') m_g(x')``, so

* ``E[F] = α π(1) + ½ wᵀ Q w`` with ``w = K⁻¹ g(X)`` and
  ``Q_ij = ∫ k(x, x_i) k(x, x_j) dπ`` (closed form for RBF via the product
  of two RBFs, an RBF of lengthscale ``ℓ/√2`` at the midpoint; QMC otherwise);
* ``Var[F] = ∫∫ m_g C_g m_g dπ dπ``, estimated on scrambled-Sobol points of
  ``π`` (a non-negative quadratic form, so never negative).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._counts import as_count
from bayeskern.kernels import RBF, Kernel
from bayeskern.linalg import cholesky
from bayeskern.quadrature.embeddings import embed, has_closed_form
from bayeskern.quadrature.hyper import fit_kernel
from bayeskern.quadrature.measures import Empirical, Measure
from bayeskern.quadrature.posterior import IntegralPosterior
from bayeskern.quadrature.qmc import sobol


class WSABIState:
    """The square-root GP of a WSABI-L model: ``kernel``, points ``X`` ``(n, d)``, ``alpha``, weights ``w`` ``(n,)``.

    ``mask`` ``(n,)`` (optional) marks padding rows of ``X`` that are ignored
    (their covariances are zeroed), so designs of growing size share one compilation.
    """

    def __init__(self, kernel, measure, X, fX, alpha, mask=None):
        self.kernel, self.measure, self.X, self.alpha = kernel, measure, X, alpha
        n = X.shape[0]
        self.keep = jnp.ones((n,), bool) if mask is None else jnp.asarray(mask, bool)
        g = jnp.where(self.keep, jnp.sqrt(2.0 * jnp.maximum(fX - alpha, 0.0)), 0.0)
        K = jnp.where(self.keep[:, None] & self.keep[None, :], kernel(X), jnp.eye(n, dtype=X.dtype))
        self.L = cholesky(K, name="k(X, X)")
        self.w = jax.scipy.linalg.solve_triangular(self.L.T, jax.scipy.linalg.solve_triangular(self.L, g, lower=True),
                                                   lower=False)

    def _k(self, T):
        return jnp.where(self.keep[:, None], self.kernel(self.X, T), 0.0)

    def g_mean(self, T):
        return self._k(T).T @ self.w

    def g_cov(self, T1, T2):
        B1 = jax.scipy.linalg.solve_triangular(self.L, self._k(T1), lower=True)
        B2 = jax.scipy.linalg.solve_triangular(self.L, self._k(T2), lower=True)
        return self.kernel(T1, T2) - B1.T @ B2

    def acquisition(self, x):
        """Uncertainty sampling on the warped model: ``m_g(x)² σ_g²(x) p(x)²`` for one point ``(d,)``."""
        x = x[None, :]
        m = self.g_mean(x)[0]
        B = jax.scipy.linalg.solve_triangular(self.L, self._k(x)[:, 0], lower=True)
        var = jnp.maximum(self.kernel.diag(x)[0] - B @ B, 0.0)
        return m**2 * var * self.measure.density(x)[0] ** 2


def wsabi_acquisition(kernel, measure, X, mask, fX, alpha):
    """WSABI-L uncertainty sampling as a function of one point (a module-level factory for
    :func:`~bayeskern.quadrature.design.multistart`); arguments as for :class:`WSABIState`."""
    return WSABIState(kernel, measure, X, fX, alpha, mask).acquisition


def _q_matrix(kernel, measure, X, qmc_points, seed):
    base = kernel
    if isinstance(base, RBF) and base.active_dims is None and has_closed_form(base, measure):
        half = RBF(lengthscale=base.lengthscale / jnp.sqrt(2.0), variance=base.variance)
        diff = (X[:, None, :] - X[None, :, :]) / base.lengthscale
        mid = 0.5 * (X[:, None, :] + X[None, :, :]).reshape(-1, X.shape[1])
        z = embed(half, measure, mid, warn=False).z.reshape(X.shape[0], X.shape[0])
        return base.variance * jnp.exp(-0.25 * jnp.sum(diff * diff, -1)) * z
    T, wt = _nodes(measure, qmc_points, seed)
    KT = kernel(T, X)
    return (KT * wt[:, None]).T @ KT


def _nodes(measure, num, seed):
    if isinstance(measure, Empirical):
        return measure.points, measure.weights
    return sobol(measure, num, seed=seed), jnp.full((num,), measure.mass / num)


def wsabi_l(X, fX, measure: Measure, kernel=RBF, *, alpha=None, qmc_points: int = 1024, seed: int = 0,
            ard: bool = True, return_state: bool = False):
    """WSABI-L posterior over ``∫ f dπ`` for a non-negative integrand evaluated at ``X`` ``(n, d)``.

    Args:
        X, fX: points and non-negative evaluations ``(n,)``.
        measure: the integration measure.
        kernel: kernel of the square-root GP: a family (MAP hyperparameters) or an instance.
        alpha: the offset (default ``0.8 · min fX``).
        qmc_points: scrambled-Sobol points for the variance (and ``Q`` without a closed form).
        seed: QMC seed; ard: per-dimension lengthscales for a learned kernel.
        return_state: also return the :class:`WSABIState` (for designs).

    Returns:
        :class:`IntegralPosterior` (and the state when asked).
    """
    qmc_points = as_count(qmc_points, "qmc_points")
    X = measure.check_points(X, "X")
    fX = jnp.asarray(fX, dtype=X.dtype).reshape(-1)
    if fX.shape != X.shape[:1]:
        raise ValueError(f"fX must have shape ({X.shape[0]},), got {fX.shape}")
    if np.any(np.asarray(fX) < 0) or not np.all(np.isfinite(np.asarray(fX))):
        raise ValueError("WSABI needs finite, non-negative integrand values fX (e.g. likelihoods)")
    a = 0.8 * jnp.min(fX) if alpha is None else jnp.asarray(alpha, X.dtype)
    if isinstance(kernel, type):
        g = np.sqrt(2.0 * np.maximum(np.asarray(fX - a), 0.0))
        kernel, _ = fit_kernel(X, g, kernel, ard=ard, offset=0.0, seed=seed)
    if not isinstance(kernel, Kernel):
        raise ValueError(f"kernel must be a bayeskern kernel family or instance, got {kernel!r}")
    st = WSABIState(kernel, measure, X, fX, a)
    Q = _q_matrix(kernel, measure, X, qmc_points, seed)
    mean = a * measure.mass + 0.5 * st.w @ Q @ st.w
    T, wt = _nodes(measure, qmc_points, seed + 1)
    mT = st.g_mean(T) * wt
    var = mT @ st.g_cov(T, T) @ mT
    post = IntegralPosterior(mean, jnp.maximum(var, 0.0), raw_variances=var)
    return (post, st) if return_state else post
