"""Pointwise log likelihood of every observed site, draw by draw (for LOO and WAIC)."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayeskern.infer._util import is_observation, jit_vmap_over_draws, trace_model


def _site_pointwise(fn, value):
    """Pointwise log density of one observed site.

    Uses ``fn.pointwise_log_prob(value)`` when the distribution defines it
    (shape ``batch_shape + event_shape``: one term per observed scalar, e.g.
    exact leave-one-out predictive densities of a multivariate normal),
    looking through ``ExpandedDistribution`` wrappers that plates add;
    otherwise ``fn.log_prob(value)`` (shape ``batch_shape``).
    """
    if hasattr(fn, "pointwise_log_prob"):
        return fn.pointwise_log_prob(value)
    if isinstance(fn, dist.ExpandedDistribution) and hasattr(fn.base_dist, "pointwise_log_prob"):
        lp = fn.base_dist.pointwise_log_prob(value)
        return jnp.broadcast_to(lp, fn.batch_shape + fn.event_shape)
    return fn.log_prob(value)


def pointwise_log_likelihood(model, samples: Mapping, *args, **kwargs) -> dict[str, jax.Array]:
    """Log likelihood of each observed site for each posterior draw.

    For each draw the latent sites are substituted into ``model`` (seeded, so
    sites without draws cannot go unnoticed: see Raises), the model is traced,
    and every observed sample site contributes

    - ``site["fn"].pointwise_log_prob(site["value"])`` when its distribution
      has such a method (duck typing: this is how a distribution whose single
      site holds many correlated observations, such as a Gaussian-process
      marginal likelihood, supplies one exact leave-one-out predictive log
      density per observation, so PSIS-LOO works on it), or
    - ``site["fn"].log_prob(site["value"])`` otherwise.

    ``numpyro.factor`` sites are observed sites too, but they hold no data
    (often they are priors or penalties), so they are skipped. Like
    ``numpyro.infer.log_likelihood``, neither the site's ``scale``
    (subsampling) nor handler masks are applied; plates enter through the
    site's (expanded) distribution. The computation is vmapped over draws
    and jitted (array arguments are traced, not baked in as constants).

    Args:
        model: a NumPyro model.
        samples: site -> ``(draws, ...)`` posterior draws of (at least) every
            latent site. Deterministic sites are ignored.
        *args: positional model arguments.
        **kwargs: keyword model arguments (observations included).

    Returns:
        observed site -> ``(draws, *batch_shape)`` array, or
        ``(draws, *batch_shape, *event_shape)`` where ``pointwise_log_prob``
        is used.

    Raises:
        ValueError: ``samples`` is empty, draws disagree in number, or a
            latent site has no draws.
    """
    samples = {k: jnp.asarray(v) for k, v in samples.items()}
    if not samples:
        raise ValueError("samples is empty: pass site -> (draws, ...) posterior draws")
    counts = {k: (v.shape[0] if v.ndim else None) for k, v in samples.items()}
    if None in counts.values() or len(set(counts.values())) != 1:
        raise ValueError(f"every site in samples needs the same leading number of draws, got {counts}")
    first = {k: v[0] for k, v in samples.items()}
    tr = trace_model(model, args, kwargs, data=first)
    latent = [
        n for n, s in tr.items()
        if s["type"] == "sample" and not s["is_observed"] and not s.get("infer", {}).get("is_auxiliary")
    ]
    missing = [n for n in latent if n not in samples]
    if missing:
        raise ValueError(f"samples has no draws for latent sites {missing}")
    keep = {n: samples[n] for n in latent}

    def one(draw, *a, **k):
        t = trace_model(model, a, k, data=draw)
        return {
            name: _site_pointwise(site["fn"], site["value"])
            for name, site in t.items()
            if is_observation(site)
        }

    if not keep:  # no latent sites: the likelihood does not vary over draws
        n = next(iter(counts.values()))
        single = one({}, *args, **kwargs)
        return {k: jnp.broadcast_to(v, (n,) + jnp.shape(v)) for k, v in single.items()}
    return jit_vmap_over_draws(one, args, kwargs)(keep)
