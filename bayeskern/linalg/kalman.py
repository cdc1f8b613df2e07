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


def kalman_smoother(A, Q, H, Pinf, y, noise, observed=None, readout=None):
    """Filter, then RTS smoother: posterior means and variances of ``f`` at every input.

    Args:
        A, Q, H, Pinf, y, noise, observed: as for ``kalman_log_likelihood``.
        readout: optional ``(1, s)`` row reading out the reported function
            (e.g. one summand of a sum kernel); the data are still observed through ``H``.

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
    h = (H if readout is None else readout)[0]
    mean = m_s @ h
    var = jnp.einsum("i,nij,j->n", h, P_s, h)
    return ll, mean, jnp.maximum(var, 0.0), m_s, P_s


def kalman_sample(key, A, Q, H, Pinf, y, noise, observed=None, num_samples: int = 1, readout=None):
    """Joint posterior draws of ``f`` at every input by forward filtering, backward sampling.

    Args:
        key: PRNG key.
        A, Q, H, Pinf, y, noise, observed: as for ``kalman_log_likelihood``.
        num_samples: number of joint draws.
        readout: optional ``(1, s)`` row for the reported function (default ``H``).

    Returns:
        ``(num_samples, n)`` draws of ``f = H x`` given the observed points.
    """
    _, (_, m_pred, P_pred, m_filt, P_filt) = _run_filter(A, Q, H, Pinf, y, noise, observed, keep=True)
    s = A.shape[-1]
    eye = jnp.eye(s, dtype=P_filt.dtype)

    def draw(k):
        k_last, k_rest = jax.random.split(k)
        x_last = m_filt[-1] + _safe_chol(P_filt[-1], eye) @ jax.random.normal(k_last, (s,), P_filt.dtype)

        def back(x_next, inputs):
            A_next, m_f, P_f, m_p_next, P_p_next, kk = inputs
            G = jnp.linalg.solve(P_p_next + 1e-12 * jnp.trace(P_p_next) * eye, A_next @ P_f).T
            mean = m_f + G @ (x_next - m_p_next)
            cov = P_f - G @ P_p_next @ G.T
            x = mean + _safe_chol(cov, eye) @ jax.random.normal(kk, (s,), P_f.dtype)
            return x, x

        keys = jax.random.split(k_rest, A.shape[0] - 1)
        inputs = (A[1:], m_filt[:-1], P_filt[:-1], m_pred[1:], P_pred[1:], keys)
        _, xs = jax.lax.scan(back, x_last, inputs, reverse=True)
        states = jnp.concatenate([xs, x_last[None]], axis=0)
        return states @ (H if readout is None else readout)[0]

    return jax.vmap(draw)(jax.random.split(key, num_samples))


def _safe_chol(P, eye):
    """Cholesky of a PSD (possibly singular) state covariance via a tiny relative jitter."""
    P = 0.5 * (P + P.T)
    return jnp.linalg.cholesky(P + (1e-12 * jnp.trace(P) + 1e-300) * eye)
