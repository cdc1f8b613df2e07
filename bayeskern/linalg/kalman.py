"""Kalman filter and Rauch-Tung-Striebel smoother for 1-D GPs in state-space form.

For a GP ``f(t) = H x(t)`` whose state follows a linear SDE (see
``bayeskern.kernels.state_space``) and scalar observations
``y_k = f(t_k) + ε_k``, ``ε_k ~ N(0, r_k)``, the filter gives the exact log
marginal likelihood in ``O(n s³)`` time and ``O(n s²)`` memory (Särkkä &
Solin 2019, ch. 10, 12). Inputs must be sorted; ties are allowed (a zero
step has ``A = I``, ``Q = 0``). Points with ``observed = False`` are
predicted but not used, which is how the smoother predicts at new inputs.

Gradients come from reverse-mode autodiff through ``lax.scan`` (the
per-step residuals are ``O(s²)``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def _filter_step(H, carry, inputs):
    m, P = carry
    A, Q, y, r, obs = inputs
    m_pred = A @ m
    P_pred = A @ P @ A.T + Q
    h = H[0]
    Ph = P_pred @ h
    S = h @ Ph + r
    v = y - h @ m_pred
    gain = Ph / S
    m_upd = m_pred + gain * v
    P_upd = P_pred - jnp.outer(gain, Ph)
    P_upd = 0.5 * (P_upd + P_upd.T)
    m_new = jnp.where(obs, m_upd, m_pred)
    P_new = jnp.where(obs, P_upd, P_pred)
    ll = jnp.where(obs, -0.5 * (jnp.log(2 * math.pi * S) + v * v / S), 0.0)
    return (m_new, P_new), (ll, m_pred, P_pred, m_new, P_new)


def kalman_log_likelihood(A, Q, H, Pinf, y, noise, observed=None):
    """Log marginal likelihood of sorted scalar observations.

    Args:
        A: ``(n, s, s)`` transitions from the previous input (the first is ignored
            relative to the stationary prior, pass the identity).
        Q: ``(n, s, s)`` process-noise covariances of those steps.
        H: ``(1, s)`` measurement matrix.
        Pinf: ``(s, s)`` stationary covariance (prior of the first state).
        y: ``(n,)`` observations.
        noise: scalar or ``(n,)`` observation-noise variances.
        observed: optional ``(n,)`` boolean mask; unobserved points add nothing.

    Returns:
        Scalar log likelihood.
    """
    ll, _ = _run_filter(A, Q, H, Pinf, y, noise, observed, keep=False)
    return ll


def _run_filter(A, Q, H, Pinf, y, noise, observed, keep):
    n, s = A.shape[0], A.shape[-1]
    r = jnp.broadcast_to(jnp.asarray(noise, y.dtype), (n,))
    obs = jnp.ones((n,), bool) if observed is None else jnp.asarray(observed, bool)
    init = (jnp.zeros((s,), Pinf.dtype), Pinf)

    def step(carry, inputs):
        new_carry, out = _filter_step(H, carry, inputs)
        return new_carry, (out if keep else out[0])

    _, outs = jax.lax.scan(step, init, (A, Q, y, r, obs))
    if keep:
        return jnp.sum(outs[0]), outs
    return jnp.sum(outs), None


def kalman_smoother(A, Q, H, Pinf, y, noise, observed=None):
    """Filter, then RTS smoother: posterior means and variances of ``f`` at every input.

    Args:
        as for ``kalman_log_likelihood``.

    Returns:
        ``(log_likelihood, mean (n,), variance (n,), state_means (n, s), state_covs (n, s, s))``.
    """
    ll, (_, m_pred, P_pred, m_filt, P_filt) = _run_filter(A, Q, H, Pinf, y, noise, observed, keep=True)

    def back(carry, inputs):
        m_next_s, P_next_s = carry
        A_next, m_f, P_f, m_p_next, P_p_next = inputs
        # G = P_f A_nextᵀ P_pred_next⁻¹ via a solve of the symmetric predicted covariance.
        G = jnp.linalg.solve(P_p_next, A_next @ P_f).T
        m_s = m_f + G @ (m_next_s - m_p_next)
        P_s = P_f + G @ (P_next_s - P_p_next) @ G.T
        P_s = 0.5 * (P_s + P_s.T)
        return (m_s, P_s), (m_s, P_s)

    last = (m_filt[-1], P_filt[-1])
    inputs = (A[1:], m_filt[:-1], P_filt[:-1], m_pred[1:], P_pred[1:])
    _, (m_rest, P_rest) = jax.lax.scan(back, last, inputs, reverse=True)
    m_s = jnp.concatenate([m_rest, m_filt[-1:]], axis=0)
    P_s = jnp.concatenate([P_rest, P_filt[-1:]], axis=0)
    h = H[0]
    mean = m_s @ h
    var = jnp.einsum("i,nij,j->n", h, P_s, h)
    return ll, mean, jnp.maximum(var, 0.0), m_s, P_s
