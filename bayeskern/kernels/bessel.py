"""Exponentially scaled modified Bessel functions ``e^{-x} I_j(x)`` for j = 0..J."""

import jax.numpy as jnp
from jax.scipy.special import i0e


def scaled_bessel_i(order: int, x):
    """``e^{-x} I_j(x)`` for ``j = 0..order``, shape ``(order + 1,)``, ``x > 0`` scalar.

    Downward (Miller) recurrence normalised by ``I_0``, stable for all orders
    where forward recurrence loses every digit.
    """
    x = jnp.asarray(x)
    start = order + 60 + int(4 * order**0.5)
    vals = []
    i_next, i_cur = jnp.zeros_like(x), jnp.full_like(x, 1e-30)
    for j in range(start, 0, -1):
        i_prev = i_cur * (2.0 * j / x) + i_next
        i_next, i_cur = i_cur, i_prev
        # Rescale to avoid overflow; ratios are all that matter.
        scale = jnp.maximum(jnp.abs(i_cur), 1.0)
        i_next, i_cur = i_next / scale, i_cur / scale
        vals = [v / scale for v in vals]
        if j - 1 <= order:
            vals.insert(0, i_cur)
    # vals now holds unnormalised I_0..I_order (I_0 first).
    ratio = i0e(x) / vals[0]
    return jnp.stack([v * ratio for v in vals[: order + 1]])
