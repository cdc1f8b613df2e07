"""From a latent Gaussian ``N(f*; μ, s²)`` to predictive probabilities and densities.

:func:`bernoulli_probability` (logit by adaptive Gauss-Hermite quadrature or
MacKay's probit approximation; probit in closed form) and
:func:`predictive_log_density` (``log ∫ p(y | f) N(f; μ, s²) df`` for any
elementwise likelihood, by adaptive Gauss-Hermite quadrature). Inputs are the
per-draw latent predictive means and variances of
:func:`~bayeskern.gp.laplace.predict.predict_latent` or any other Gaussian
predictive.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import logsumexp, ndtr

__all__ = ["bernoulli_probability", "predictive_log_density"]


def _gauss_hermite(num_points: int, dtype):
    if int(num_points) < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    x, w = np.polynomial.hermite.hermgauss(int(num_points))
    # ∫ g(f) N(f; μ, s²) df = Σ_i w_i/√π g(μ + √2 s x_i)
    return jnp.asarray(x, dtype), jnp.asarray(np.log(w) - 0.5 * math.log(math.pi), dtype)


def _mean_var(mean, var):
    mean = jnp.asarray(mean, dtype=jnp.result_type(float))
    var = jnp.asarray(var, dtype=mean.dtype)
    try:
        shape = jnp.broadcast_shapes(mean.shape, var.shape)
    except ValueError:
        raise ValueError(f"mean and var must broadcast, got shapes {mean.shape} and {var.shape}") from None
    if not isinstance(var, jax.core.Tracer) and not np.all(np.asarray(var) >= 0):
        raise ValueError("var must be non-negative (and not NaN)")
    if not isinstance(mean, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(mean))):
        raise ValueError("mean must be finite")
    return jnp.broadcast_to(mean, shape), jnp.broadcast_to(var, shape)


def bernoulli_probability(mean, var, *, link: str = "logit", approx: str = "quadrature", num_points: int = 64):
    """``P(y = 1) = ∫ σ(f) N(f; mean, var) df`` elementwise, shape of ``broadcast(mean, var)``.

    Args:
        mean, var: latent predictive means and variances (broadcastable arrays).
        link: ``"logit"`` (``σ`` the logistic) or ``"probit"`` (``σ = Φ``: exact closed
            form ``Φ(μ / √(1 + s²))``).
        approx: for the logit link: ``"quadrature"`` (adaptive ``num_points``-point
            Gauss-Hermite as in :func:`predictive_log_density`; at the default 64 points
            absolute errors below 1e-10 for ``s² ≤ 4``, 2e-6 for ``s² ≤ 25``, 4e-5 at
            ``s² = 100``: the logistic's step is off the nodes' centre when ``|μ|`` and ``s``
            are large) or ``"probit"`` (MacKay's ``σ(μ / √(1 + π s²/8))``, errors up to about 0.02).
        num_points: Gauss-Hermite points.
    """
    if link not in ("logit", "probit"):
        raise ValueError(f"link must be 'logit' or 'probit', got {link!r}")
    if approx not in ("quadrature", "probit"):
        raise ValueError(f"approx must be 'quadrature' or 'probit', got {approx!r}")
    mu, v = _mean_var(mean, var)
    if link == "probit":
        return ndtr(mu / jnp.sqrt(1.0 + v))
    if approx == "probit":
        return jax.nn.sigmoid(mu / jnp.sqrt(1.0 + math.pi * v / 8.0))
    # Adaptive nodes (centred on σ(f)N(f)): at 64 points 2e-6 at (μ, s²) = (4, 25), where nodes
    # centred on the prior are 8e-6 off (5e-4 at 32 points).
    return jnp.exp(predictive_log_density(_bernoulli_logit, mu, v, jnp.ones_like(mu), num_points=num_points))


def _bernoulli_logit(f):
    return dist.Bernoulli(logits=f)


def predictive_log_density(likelihood, mean, var, y, *, num_points: int = 32, adaptive: bool = True,
                           newton_steps: int = 30):
    """``log ∫ p(y | f) N(f; mean, var) df`` elementwise, by Gauss-Hermite quadrature.

    Plain Gauss-Hermite centres the nodes on the prior ``N(mean, var)``; it is
    poor when the likelihood is much narrower than ``√var`` (a Gaussian with
    ``σ = 0.4`` against ``var = 4``: 0.09 nats off at 32 points). The default,
    adaptive Gauss-Hermite (Liu & Pierce 1994), centres the nodes at the mode
    of the integrand and scales them by its curvature (a few safeguarded
    Newton steps per element, curvature of the likelihood clipped at 0 so the
    scale exists for non-log-concave likelihoods). At 32 points it is exact for
    Gaussian likelihoods, within 1e-9 nats for Bernoulli-logit and about 1e-6
    (5e-5 for ``y = 0`` at ``var = 25``) for Poisson; for a bimodal integrand
    (a Student-t outlier far from ``mean``) one centre misses a mode: errors up
    to about 0.05 nats at 32 points, 0.02 at 64.

    Args:
        likelihood: ``f -> numpyro Distribution`` acting elementwise (e.g.
            ``lambda f: dist.Bernoulli(logits=f)``); called on ``(Q, *shape)`` nodes.
        mean, var: latent predictive means and variances, broadcastable to ``shape``
            (e.g. ``(S, m)`` per hyperparameter draw, or ``(m,)``).
        y: observations broadcastable to ``shape`` (e.g. ``(m,)``).
        num_points: quadrature points ``Q``.
        adaptive: centre and scale the nodes on the integrand (default) or on the prior.
        newton_steps: Newton steps for the adaptive centre.

    Returns:
        Array of ``broadcast(mean, var, y)`` shape. The NLPD of a Bayesian fit over
        ``S`` draws is ``-(logsumexp(out, axis=0) - log S).mean()`` with ``out`` ``(S, m)``.
    """
    if not callable(likelihood):
        raise ValueError(f"likelihood must be a callable f -> numpyro Distribution, got {type(likelihood).__name__}")
    mu, v = _mean_var(mean, var)
    y = jnp.asarray(y)
    try:
        shape = jnp.broadcast_shapes(mu.shape, y.shape)
    except ValueError:
        raise ValueError(f"y must broadcast with mean/var, got shapes {y.shape} and {mu.shape}") from None
    mu, v = jnp.broadcast_to(mu, shape), jnp.broadcast_to(v, shape)
    x, logw = _gauss_hermite(num_points, mu.dtype)
    expand = (-1,) + (1,) * len(shape)
    x, logw = x.reshape(expand), logw.reshape(expand)

    def logp(f):
        return jnp.broadcast_to(likelihood(f).log_prob(y), f.shape)

    if not adaptive:
        return logsumexp(logp(mu[None] + jnp.sqrt(2.0 * v)[None] * x) + logw, axis=0)
    point = v <= 0
    vs = jnp.where(point, 1.0, v)
    centre, prec = _integrand_mode(logp, mu, vs, int(newton_steps))
    scale = jnp.sqrt(2.0 / prec)
    nodes = centre[None] + scale[None] * x
    log_prior = -0.5 * (nodes - mu[None]) ** 2 / vs[None] - 0.5 * jnp.log(2.0 * math.pi * vs)[None]
    # ∫ g(f) df = s Σ_i w_i e^{x_i²} g(c + s x_i), with g = p(y | f) N(f; μ, v) (logw carries -½ log π).
    out = logsumexp(logp(nodes) + log_prior + logw + x**2, axis=0) + jnp.log(scale) + 0.5 * math.log(math.pi)
    return jnp.where(point, logp(mu[None])[0], out)


def _integrand_mode(logp, mu, v, steps):
    """Elementwise mode and curvature of ``log p(y | f) + log N(f; μ, v)`` (safeguarded Newton)."""
    def obj(f):
        return logp(f[None])[0] - 0.5 * (f - mu) ** 2 / v

    def d12(f):
        g_fn = jax.grad(lambda z: jnp.sum(logp(z[None])[0]))
        g, h = jax.jvp(g_fn, (f,), (jnp.ones_like(f),))
        return g, -h

    def step(_, f):
        g, w = d12(f)
        prec = 1.0 / v + jnp.maximum(w, 0.0)
        delta = (g - (f - mu) / v) / prec
        base = obj(f)

        def halve(_, t):  # shrink the step where it does not raise the (1-D) objective
            worse = ~(obj(f + t * delta) >= base)
            return jnp.where(worse, 0.5 * t, t)

        t = jax.lax.fori_loop(0, 20, halve, jnp.ones_like(f))
        new = f + t * delta
        return jnp.where(jnp.isfinite(obj(new)) & (obj(new) >= base), new, f)

    f = jax.lax.fori_loop(0, steps, step, mu)
    _, w = d12(f)
    return f, 1.0 / v + jnp.maximum(w, 0.0)
