"""Pairwise distances with gradients that stay finite at zero distance."""

import jax.numpy as jnp


def squared_distance(X1, X2):
    """Squared Euclidean distances ``(n1, n2)`` between rows of ``X1`` ``(n1, d)`` and ``X2`` ``(n2, d)``.

    Differences are formed explicitly (not ``|x|² + |y|² - 2xᵀy``) so that
    coincident points give exactly zero and nearby points keep their digits;
    XLA fuses the broadcast, so this costs no extra memory.
    """
    diff = X1[:, None, :] - X2[None, :, :]
    return jnp.sum(diff * diff, axis=-1)


def safe_sqrt(r2):
    """``sqrt(r2)`` whose gradient is 0 (not inf/NaN) where ``r2 == 0``.

    Written as ``sqrt(max(r2, tiny))`` (value ``~1e-154`` at zero in float64):
    the double-``where`` form triggers an XLA CPU miscompilation of some
    jitted float64 gradients in jaxlib 0.12 (wrong variance gradients when
    pairs coincide), which this form avoids.
    """
    return jnp.sqrt(jnp.maximum(r2, jnp.finfo(jnp.result_type(r2)).tiny))
