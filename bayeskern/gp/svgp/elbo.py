"""The SVGP evidence lower bound: marginals of ``q(f)``, KL terms, the optimal Gaussian ``q`` and natural gradients."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from bayeskern._checks import as_inputs, as_observations
from bayeskern.features.nystrom import (
    as_landmarks,
    landmark_cholesky,
    select_landmarks,
)
from bayeskern.gp.svgp.quadrature import NUM_QUADRATURE, expected_log_likelihood
from bayeskern.kernels import Kernel


def select_inducing(X, num: int, seed: int = 0, *, selection: str = "kmeans++") -> np.ndarray:
    """``num`` inducing inputs ``(M, d)`` chosen among the rows of ``X``, deterministically given ``seed``.

    ``selection="kmeans++"`` (default; spreads points by squared distance) or
    ``"random"`` (a uniform subset); see ``bayeskern.features.nystrom.select_landmarks``.
    """
    return select_landmarks(X, num, selection=selection, seed=seed)


def _check_q(q_loc, q_scale_tril, M):
    if jnp.shape(q_loc) != (M,) or jnp.shape(q_scale_tril) != (M, M):
        raise ValueError(f"q_loc must have shape ({M},) and q_scale_tril ({M}, {M}) for {M} inducing inputs, "
                         f"got {jnp.shape(q_loc)} and {jnp.shape(q_scale_tril)}")


def q_marginals(kernel: Kernel, X, inducing, q_loc, q_scale_tril, *, whiten: bool = True, jitter=None, L=None):
    """Mean and variance ``(n,)`` of ``q(f(X))`` (zero prior mean).

    Whitened (default): ``q(v) = N(q_loc, q_scale_tril q_scale_trilᵀ)`` with
    ``u = L v``. Not whitened: ``q(u) = N(q_loc, q_scale_tril q_scale_trilᵀ)``
    directly. ``L`` (the factor of the jittered ``K_mm``) may be passed to
    avoid refactorising.
    """
    Xa = as_inputs(X, "X")
    Z = as_landmarks(inducing, Xa.shape[1], "inducing")
    _check_q(q_loc, q_scale_tril, Z.shape[0])
    if L is None:
        L = landmark_cholesky(kernel, Z, jitter=jitter, name="inducing-point kernel matrix K_mm")
    A = solve_triangular(L, kernel(Z, Xa), lower=True)  # (M, n)
    P = A if whiten else solve_triangular(L, A, lower=True, trans="T")  # K_mm⁻¹ K_mn when not whitened
    mean = P.T @ q_loc
    SP = q_scale_tril.T @ P
    var = kernel.diag(Xa) - jnp.sum(A * A, axis=0) + jnp.sum(SP * SP, axis=0)
    return mean, jnp.maximum(var, 0.0)


def kl_whitened(q_loc, q_scale_tril):
    """``KL(N(q_loc, S) ‖ N(0, I))`` with ``S = q_scale_tril q_scale_trilᵀ``."""
    M = q_loc.shape[-1]
    logdet = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(q_scale_tril))))
    return 0.5 * (jnp.sum(q_scale_tril**2) + jnp.sum(q_loc**2) - M - logdet)


def _kl_unwhitened(q_loc, q_scale_tril, L):
    """``KL(N(q_loc, S) ‖ N(0, L Lᵀ))``."""
    M = q_loc.shape[-1]
    LiS = solve_triangular(L, q_scale_tril, lower=True)
    Lim = solve_triangular(L, q_loc, lower=True)
    logdet_q = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(q_scale_tril))))
    logdet_p = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L)))
    return 0.5 * (jnp.sum(LiS**2) + jnp.sum(Lim**2) - M + logdet_p - logdet_q)


def _mean_values(mean, X):
    if mean is None:
        return 0.0
    if callable(mean):
        return jnp.asarray(mean(X))
    return jnp.asarray(mean)


def svgp_elbo(kernel: Kernel, X, y, likelihood: Callable, inducing, q_loc, q_scale_tril, *,
              num_data: int | None = None, whiten: bool = True, jitter=None, mean=None,
              num_quadrature: int = NUM_QUADRATURE):
    """The SVGP evidence lower bound, estimated on the batch ``(X, y)``.

    Args:
        kernel: covariance function.
        X: batch inputs ``(b,)`` or ``(b, d)``; y: batch observations ``(b,)``.
        likelihood: ``f -> Distribution`` (elementwise), e.g.
            ``lambda f: dist.Poisson(jnp.exp(f))``.
        inducing: ``Z`` ``(M, d)``.
        q_loc, q_scale_tril: ``q(v)`` (whitened) or ``q(u)`` parameters, ``(M,)``, ``(M, M)``.
        num_data: size ``n`` of the full data set the batch was drawn from
            (default ``b``: the batch is the data). The likelihood sum is scaled
            by ``n / b``, which makes the estimate unbiased for uniformly
            drawn batches.
        whiten: whitened parametrisation (see :func:`q_marginals`).
        jitter: relative jitter on ``K_mm``.
        mean: prior mean: ``None`` (zero), a scalar or ``(b,)`` array, or a callable
            ``mean(X) -> (b,)`` (called with the inputs as a 2-D ``(b, d)`` array).
        num_quadrature: Gauss–Hermite nodes.

    Returns:
        Scalar ELBO (estimate).
    """
    Xa = as_inputs(X, "X")
    b = Xa.shape[0]
    y = as_observations(y, "y")
    if y.shape != (b,):
        raise ValueError(f"y must have shape ({b},) to match X, got {y.shape}")
    Z = as_landmarks(inducing, Xa.shape[1], "inducing")
    L = landmark_cholesky(kernel, Z, jitter=jitter, name="inducing-point kernel matrix K_mm")
    mu, var = q_marginals(kernel, Xa, Z, q_loc, q_scale_tril, whiten=whiten, L=L)
    mu = mu + _mean_values(mean, Xa)
    ell = expected_log_likelihood(likelihood, y, mu, var, num_quadrature)
    kl = kl_whitened(q_loc, q_scale_tril) if whiten else _kl_unwhitened(q_loc, q_scale_tril, L)
    scale = (b if num_data is None else num_data) / b
    return scale * jnp.sum(ell) - kl


def optimal_gaussian_q(kernel: Kernel, X, y, noise, inducing, *, whiten: bool = True, jitter=None, mean=None):
    """Closed-form optimal ``q`` for a Gaussian likelihood ``N(y_i | f_i, noise_i)``.

    ``S = (I + A Λ⁻¹ Aᵀ)⁻¹``, ``μ_v = S A Λ⁻¹ (y − m)`` in whitened coordinates
    (``A = L⁻¹ K_mn``); mapped to ``q(u)`` (``L μ_v``, ``L L_S``) when not whitened.
    At this ``q`` the SVGP ELBO equals the collapsed SGPR (VFE) bound.

    Returns:
        ``(q_loc (M,), q_scale_tril (M, M))``.
    """
    Xa = as_inputs(X, "X")
    Z = as_landmarks(inducing, Xa.shape[1], "inducing")
    L = landmark_cholesky(kernel, Z, jitter=jitter, name="inducing-point kernel matrix K_mm")
    A = solve_triangular(L, kernel(Z, Xa), lower=True)
    lam = jnp.broadcast_to(jnp.asarray(noise, A.dtype), (Xa.shape[0],))
    r = as_observations(y, "y") - _mean_values(mean, Xa)
    M = Z.shape[0]
    B = jnp.eye(M, dtype=A.dtype) + (A / lam) @ A.T
    S = jnp.linalg.inv(B)
    S = 0.5 * (S + S.T)
    loc = S @ (A @ (r / lam))
    tril = jnp.linalg.cholesky(S)
    if whiten:
        return loc, tril
    return L @ loc, L @ tril


def natural_gradient_step(elbo_fn: Callable, q_loc, q_scale_tril, step_size: float):
    """One natural-gradient step on a Gaussian ``q = N(q_loc, S)`` (Salimbeni, Eleftheriadis & Hensman 2018).

    With natural parameters ``θ = (S⁻¹μ, −½S⁻¹)`` and expectation parameters
    ``η = (μ, S + μμᵀ)``, the natural gradient in ``θ`` is the ordinary
    gradient in ``η``: ``θ ← θ + γ ∂ELBO/∂η``. For a Gaussian likelihood and
    ``γ = 1`` this lands exactly on the optimal ``q`` (with full batches).
    A step that leaves ``S`` not positive definite is rejected (``q`` unchanged).

    Args:
        elbo_fn: ``(q_loc, q_scale_tril) -> ELBO`` (scalar, differentiable).
        q_loc, q_scale_tril: current ``q``, ``(M,)``, ``(M, M)``.
        step_size: ``γ`` in ``(0, 1]``.

    Returns:
        ``(q_loc, q_scale_tril)`` after the step.
    """
    M = q_loc.shape[0]
    eye = jnp.eye(M, dtype=q_loc.dtype)

    def in_eta(eta1, eta2):
        cov = eta2 - jnp.outer(eta1, eta1)
        return elbo_fn(eta1, jnp.linalg.cholesky(0.5 * (cov + cov.T)))

    S = q_scale_tril @ q_scale_tril.T
    g1, g2 = jax.grad(in_eta, argnums=(0, 1))(q_loc, S + jnp.outer(q_loc, q_loc))
    g2 = 0.5 * (g2 + g2.T)
    Linv = solve_triangular(q_scale_tril, eye, lower=True)
    prec = Linv.T @ Linv
    theta1 = prec @ q_loc + step_size * g1
    new_prec = prec - 2.0 * step_size * g2  # −2 θ₂
    Lp = jnp.linalg.cholesky(0.5 * (new_prec + new_prec.T))
    Lp_inv = solve_triangular(Lp, eye, lower=True)
    new_S = Lp_inv.T @ Lp_inv
    new_loc = new_S @ theta1
    new_tril = jnp.linalg.cholesky(0.5 * (new_S + new_S.T))
    ok = jnp.all(jnp.isfinite(new_tril)) & jnp.all(jnp.isfinite(new_loc))
    return jnp.where(ok, new_loc, q_loc), jnp.where(ok, new_tril, q_scale_tril)
