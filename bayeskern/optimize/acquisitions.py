"""Closed-form acquisition functions of a Gaussian predictive ``N(μ, σ²)`` (maximisation).

All functions are elementwise over broadcastable ``mu``, ``sigma`` and
``best`` arrays and differentiable in ``mu`` and ``sigma``. With
``z = (μ − best) / σ``:

* expected improvement (Jones, Schonlau & Welch 1998):
  ``EI = σ h(z)``, ``h(z) = φ(z) + z Φ(z)``;
* log EI (Ament et al. 2023): ``log σ + log h(z)`` evaluated without
  forming ``h`` where it underflows, so it stays finite (≈ ``−z²/2``) and
  has informative gradients far in the tail where ``EI`` is exactly 0;
* probability of improvement ``PI = Φ(z)`` and ``log PI = log Φ(z)``;
* upper confidence bound (Srinivas et al. 2010) ``UCB = μ + √β σ``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import erfcx, log_ndtr, ndtr

__all__ = [
    "expected_improvement",
    "log_expected_improvement",
    "log_h",
    "log_probability_of_improvement",
    "probability_of_improvement",
    "upper_confidence_bound",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_OVER_2 = 0.5 * math.log(math.pi / 2.0)


def _normal_pdf(z):
    return jnp.exp(-0.5 * z * z - _LOG_SQRT_2PI)


def expected_improvement(mu, sigma, best):
    """``E[max(f − best, 0)]`` for ``f ~ N(mu, sigma²)``; shapes broadcast, ``sigma > 0``."""
    z = (mu - best) / sigma
    return sigma * (_normal_pdf(z) + z * ndtr(z))


def _log1mexp(x):
    """``log(1 − exp(x))`` for ``x < 0`` (Mächler 2012)."""
    return jnp.where(x > -math.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def log_h(z):
    """``log(φ(z) + z Φ(z))``, accurate for every finite ``z`` (Ament et al. 2023, eq. 9).

    For ``z > −1`` the direct form is fine. Below, ``h(z) = φ(z) (1 − |z| R(|z|))``
    with the Mills ratio ``R(x) = Φ(−x)/φ(x) = √(π/2) erfcx(x/√2)``; the
    bracket is evaluated as ``log1mexp(log(|z| erfcx(|z|/√2)) + log √(π/2))``.
    Once ``1 − |z| R(|z|)`` loses all digits (``|z| > 1/√ε``) its asymptote
    ``1/z²`` is used.
    """
    z = jnp.asarray(z)
    eps = jnp.finfo(z.dtype).eps
    upper = z > -1.0
    z_up = jnp.where(upper, z, -1.0)  # keeps the unused branch finite for gradients
    direct = jnp.log(_normal_pdf(z_up) + z_up * ndtr(z_up))
    far = z < -1.0 / jnp.sqrt(eps)
    z_mid = jnp.where(upper, -2.0, jnp.where(far, -2.0, z))
    mid = -0.5 * z_mid**2 - _LOG_SQRT_2PI + _log1mexp(jnp.log(erfcx(-z_mid / math.sqrt(2.0)) * -z_mid)
                                                       + _LOG_SQRT_PI_OVER_2)
    z_far = jnp.where(far, z, -2.0)
    tail = -0.5 * z_far**2 - _LOG_SQRT_2PI - 2.0 * jnp.log(-z_far)
    return jnp.where(upper, direct, jnp.where(far, tail, mid))


def log_expected_improvement(mu, sigma, best):
    """``log EI``: finite for every finite input, including where ``EI`` underflows to 0."""
    z = (mu - best) / sigma
    return jnp.log(sigma) + log_h(z)


def probability_of_improvement(mu, sigma, best):
    """``P(f > best) = Φ((mu − best)/sigma)``."""
    return ndtr((mu - best) / sigma)


def log_probability_of_improvement(mu, sigma, best):
    """``log Φ((mu − best)/sigma)``, finite far in the lower tail."""
    return log_ndtr((mu - best) / sigma)


def upper_confidence_bound(mu, sigma, beta=2.0):
    """``mu + √beta · sigma``."""
    return mu + jnp.sqrt(beta) * sigma
