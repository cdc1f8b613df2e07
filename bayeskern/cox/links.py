"""Links from a latent Gaussian field ``f`` to a non-negative intensity ``λ = g(f)``.

Each link gives ``intensity(f)`` and a numerically stable
``log_intensity(f)`` (the likelihood needs ``log λ`` at the events), plus
``inverse(rate)`` to centre a field's prior mean at a given rate.
Derivatives come from JAX autodiff.

* ``"log"``: ``λ = exp(f)`` -- the log-Gaussian Cox process (Møller et al. 1998).
* ``"softplus"``: ``λ = log(1 + exp(f))``.
* ``"square"``: ``λ = (f + offset)²`` -- the permanental process (Lloyd et al. 2015;
  John & Hensman 2018).
* ``"sigmoid"``: ``λ = max_rate · σ(f)`` -- the sigmoidal Gaussian Cox process
  (Adams, Murray & MacKay 2009); ``max_rate`` may be a sampled value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["LINKS", "Link", "get_link"]


@dataclasses.dataclass(frozen=True)
class Link:
    """A link ``λ = g(f)`` with its log and inverse.

    Attributes:
        name: ``"log"``, ``"softplus"``, ``"square"`` or ``"sigmoid"``.
        intensity: ``f -> λ`` (elementwise).
        log_intensity: ``f -> log λ`` (elementwise, stable).
        inverse: ``λ -> f`` (JAX, traceable), used to centre priors.
    """

    name: str
    intensity: Callable
    log_intensity: Callable
    inverse: Callable


def _log_softplus(f):
    # For very negative f, softplus(f) = exp(f)(1 + O(exp f)) and log softplus ~ f.
    return jnp.where(f < -30.0, f, jnp.log(jax.nn.softplus(jnp.maximum(f, -30.0))))


def _log_link():
    return Link("log", jnp.exp, lambda f: f, lambda r: jnp.log(r))


def _softplus_link():
    return Link("softplus", jax.nn.softplus, _log_softplus, lambda r: jnp.log(jnp.expm1(r)))


def _square_link(offset=0.0):
    return Link(
        "square",
        lambda f: (f + offset) ** 2,
        lambda f: 2.0 * jnp.log(jnp.abs(f + offset)),
        lambda r: jnp.sqrt(r) - offset,
    )


def _sigmoid_link(max_rate=1.0):
    return Link(
        "sigmoid",
        lambda f: max_rate * jax.nn.sigmoid(f),
        lambda f: jnp.log(max_rate) + jax.nn.log_sigmoid(f),
        lambda r: jnp.log(r / (max_rate - r)),
    )


LINKS = {"log": _log_link, "softplus": _softplus_link, "square": _square_link, "sigmoid": _sigmoid_link}


def get_link(link, **params) -> Link:
    """The :class:`Link` for a name (with ``offset=`` for ``"square"``, ``max_rate=`` for ``"sigmoid"``) or a Link.

    Raises:
        ValueError: unknown name, parameters given to a link that takes none, or a non-positive ``max_rate``.
    """
    if isinstance(link, Link):
        return link
    if link not in LINKS:
        raise ValueError(f"link must be one of {sorted(LINKS)} or a Link, got {link!r}")
    allowed = {"square": {"offset"}, "sigmoid": {"max_rate"}}.get(link, set())
    params = {k: v for k, v in params.items() if v is not None}
    extra = set(params) - allowed
    if extra:
        raise ValueError(f"link {link!r} takes {sorted(allowed) or 'no parameters'}, got {sorted(extra)}")
    mr = params.get("max_rate")
    if mr is not None and not isinstance(mr, jax.core.Tracer) and not np.all(np.asarray(mr) > 0):
        raise ValueError(f"max_rate must be positive, got {mr!r}")
    return LINKS[link](**params)
