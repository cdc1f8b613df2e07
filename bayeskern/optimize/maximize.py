"""Multi-start gradient ascent of an acquisition over the unit cube (jit + vmap, optax Adam).

1. ``raw_samples`` candidate batches ``(raw, q, d)`` from a scrambled Sobol
   sequence (or uniform draws) are scored in one vectorised call;
2. the ``num_restarts`` best start projected Adam ascent, all restarts at
   once (``vmap``-free: the acquisition is batched over its leading axis, and
   restarts are independent so the gradient of the summed value is the
   per-restart gradient); iterates are clipped to ``[0, 1]^d`` after every
   step, so bounds always hold;
3. the best final batch is returned.

An acquisition is a callable pytree (see ``bayeskern.optimize.acqf``: its
arrays are leaves, so a new acquisition with the same settings reuses the
compiled ascent) ``acq(Z)`` of ``Z`` ``(B, q, d)`` returning
``(B,)`` (joint value of each batch), or ``(B, q)`` when ``separable=True``
(independent values per slot, e.g. Thompson sampling with one sample
function per slot: then every slot keeps its own best restart).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.stats import qmc

from bayeskern._counts import as_count

__all__ = ["maximize_acquisition", "raw_candidates"]


def raw_candidates(key, num: int, d: int, *, sobol: bool = True):
    """``(num, d)`` points in the unit cube: scrambled Sobol (seeded from ``key``) or uniform."""
    if not sobol:
        return jax.random.uniform(key, (num, d))
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol's balance warning for non-powers of 2
            pts = qmc.Sobol(d, scramble=True, seed=seed).random(num)
    return jnp.asarray(pts)


def maximize_acquisition(acq, d: int, key, *, q: int = 1, num_restarts: int = 8, raw_samples: int = 256,
                         steps: int = 100, learning_rate: float = 0.02, sobol: bool = True,
                         separable: bool = False, extra_candidates=None):
    """Maximise ``acq`` over batches of ``q`` points in ``[0, 1]^d``.

    Args:
        acq: callable pytree ``(B, q, d) -> (B,)`` (or ``(B, q)`` if ``separable``).
        d: input dimension.
        key: PRNG key for the raw candidates.
        q: batch size.
        num_restarts: gradient-ascent starts.
        raw_samples: scored raw batches.
        steps, learning_rate: Adam settings (unit-cube scale).
        sobol: Sobol (True) or uniform raw candidates.
        separable: the acquisition is a sum of independent per-slot terms.
        extra_candidates: optional ``(k, d)`` points added as raw single-point starts
            (e.g. the incumbent), repeated over the ``q`` slots.

    Returns:
        ``(Z, value)``: the best batch ``(q, d)`` and its acquisition value(s).
    """
    q, num_restarts = as_count(q, "q"), as_count(num_restarts, "num_restarts")
    raw_samples = as_count(raw_samples, "raw_samples")
    steps = as_count(steps, "steps", minimum=0)
    if q < 1 or num_restarts < 1 or raw_samples < num_restarts:
        raise ValueError(f"need q >= 1, num_restarts >= 1 and raw_samples >= num_restarts; got q={q}, "
                         f"num_restarts={num_restarts}, raw_samples={raw_samples}")
    raw = raw_candidates(key, raw_samples * q, d, sobol=sobol).reshape(raw_samples, q, d)
    if extra_candidates is not None:
        extra = jnp.asarray(extra_candidates).reshape(-1, 1, d)
        raw = jnp.concatenate([raw, jnp.broadcast_to(extra, (extra.shape[0], q, d))], axis=0)
    return _ascend(acq, raw, num_restarts, steps, learning_rate, separable)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _ascend(acq, raw, num_restarts, steps, learning_rate, separable):
    def total(Z):
        return acq(Z)  # (B,) or (B, q)

    vals = total(raw)
    opt = optax.adam(learning_rate)
    if separable:
        # Per slot: take the best raw starts of that slot independently.
        idx = jnp.argsort(-vals, axis=0)[:num_restarts]  # (R, q)
        Z0 = jnp.take_along_axis(raw, idx[..., None], axis=0)
    else:
        idx = jnp.argsort(-vals)[:num_restarts]
        Z0 = raw[idx]

    def objective(Z):
        v = total(Z)
        return -jnp.sum(jnp.where(jnp.isfinite(v), v, 0.0))

    def step(carry, _):
        Z, s = carry
        g = jax.grad(objective)(Z)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        upd, s = opt.update(g, s, Z)
        return (jnp.clip(optax.apply_updates(Z, upd), 0.0, 1.0), s), None

    (Z, _), _ = jax.lax.scan(step, (Z0, opt.init(Z0)), None, length=steps)
    # Keep the start where ascent made things worse (or non-finite).
    Z_all = jnp.concatenate([Z, Z0], axis=0)
    v_all = total(Z_all)
    v_all = jnp.where(jnp.isnan(v_all), -jnp.inf, v_all)
    if separable:
        best = jnp.argmax(v_all, axis=0)  # (q,)
        slots = jnp.arange(Z_all.shape[1])
        return Z_all[best, slots], v_all[best, slots]
    best = jnp.argmax(v_all)
    return Z_all[best], v_all[best]
