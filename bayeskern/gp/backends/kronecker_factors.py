"""Kernel structure for the Kronecker back end: writing a kernel as a product of per-axis factors.

``factor_kernel`` decides whether ``k(x, x') = scale · ∏_d k_d(x_d, x'_d)`` on
``D``-dimensional grid inputs, and the per-axis Gram helpers evaluate the
factors on axis coordinates.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bayeskern.kernels import (
    RBF,
    Constant,
    Kernel,
    Periodic,
    Product,
    Scaled,
    Stationary,
    Sum,
    Warped,
    White,
)


class KernelFactors(NamedTuple):
    """A kernel written as ``scale · ∏_d k_d(x_d, x'_d)``.

    Attributes:
        axes: for each input dimension ``d`` a tuple of kernels whose product
            is ``k_d``; each depends on dimension ``d`` only and is evaluated on
            inputs ``(m, D)`` whose other columns are ignored. An empty tuple
            means ``k_d = 1``.
        scale: scalar multiplier (product of ``Scaled`` scales and the
            variances taken out of separable multi-dimensional kernels).
    """

    axes: tuple
    scale: object


def _dims(k: Kernel, D: int) -> frozenset:
    """The input dimensions a kernel depends on."""
    if isinstance(k, (Sum, Product)):
        return _dims(k.k1, D) | _dims(k.k2, D)
    if isinstance(k, Scaled):
        return _dims(k.kernel, D)
    if isinstance(k, Warped) or k.active_dims is None:
        return frozenset(range(D))
    return frozenset(k.active_dims)


def _contains_white(k: Kernel) -> bool:
    if isinstance(k, White):
        return True
    if isinstance(k, (Sum, Product)):
        return _contains_white(k.k1) or _contains_white(k.k2)
    if isinstance(k, (Scaled, Warped)):
        return _contains_white(k.kernel)
    return False


def factor_kernel(kernel: Kernel, D: int) -> KernelFactors | str:
    """Per-axis factors of ``kernel`` on ``D``-dimensional grid inputs, or the reason it does not factor.

    Args:
        kernel: a bayeskern kernel.
        D: number of input dimensions (grid axes).

    Returns:
        ``KernelFactors`` when ``k(x, x') = scale · ∏_d k_d(x_d, x'_d)``,
        else a string saying why not (and what to use instead).
    """
    if _contains_white(kernel):
        return ("White noise sits on the diagonal by row identity, not as a function of the grid "
                "coordinates, so it does not factor over the axes; pass it as noise= instead")
    axes: list[list[Kernel]] = [[] for _ in range(D)]
    scales: list = []
    reason = _factor(kernel, D, axes, scales)
    if reason is not None:
        return reason
    scale = jnp.asarray(1.0)
    for s in scales:
        scale = scale * s
    return KernelFactors(tuple(tuple(a) for a in axes), scale)


def _factor(k: Kernel, D: int, axes, scales) -> str | None:
    dims = _dims(k, D)
    if any(d >= D for d in dims):
        return f"{type(k).__name__} uses input dimension(s) {sorted(dims)} but X has {D}"
    if len(dims) == 1:
        (d,) = dims
        axes[d].append(k)
        return None
    if isinstance(k, Product):
        return _factor(k.k1, D, axes, scales) or _factor(k.k2, D, axes, scales)
    if isinstance(k, Scaled):
        scales.append(k.scale)
        return _factor(k.kernel, D, axes, scales)
    name = type(k).__name__
    order = tuple(range(D)) if k.active_dims is None else tuple(k.active_dims)
    if type(k) in (RBF, Periodic) and k.input_dim not in (None, len(order)):
        return f"{name} has hyperparameters for {k.input_dim} input dimension(s) but acts on {len(order)}"
    if type(k) is RBF:
        ls = jnp.broadcast_to(k.lengthscale, (len(order),))
        for j, d in enumerate(order):
            axes[d].append(RBF(lengthscale=ls[j], variance=1.0, active_dims=(d,)))
        scales.append(k.variance)
        return None
    if type(k) is Periodic:
        ls = jnp.broadcast_to(k.lengthscale, (len(order),))
        per = jnp.broadcast_to(k.period, (len(order),))
        for j, d in enumerate(order):
            axes[d].append(Periodic(lengthscale=ls[j], period=per[j], variance=1.0, active_dims=(d,)))
        scales.append(k.variance)
        return None
    if type(k) is Constant:
        scales.append(k.variance)
        return None
    if isinstance(k, Sum):
        return (f"the kernel contains a sum over several input dimensions ({sorted(dims)}), which is not "
                f"a Kronecker product; the Kronecker back end needs a product of per-axis kernels (sums are "
                f"fine within one axis)")
    if isinstance(k, Warped):
        return "a warped kernel over several input dimensions does not factor over the grid axes"
    if isinstance(k, Stationary):  # Matérn, rational quadratic, cosine, spectral mixture
        per_axis = " * ".join(f"{name}(active_dims=[{d}])" for d in sorted(dims))
        return (f"{name} over input dimensions {sorted(dims)} is not separable (it is a function of the "
                f"joint distance, not a product over axes); use a product of per-axis kernels, e.g. "
                f"{per_axis}, or RBF/Periodic, whose ARD forms factor")
    return f"{name} over input dimensions {sorted(dims)} does not factor over the grid axes"


def _embed(x, d: int, D: int):
    """Axis coordinates ``(m,)`` as inputs ``(m, D)`` with the values in column ``d``."""
    x = jnp.asarray(x)
    return jnp.zeros((x.shape[0], D), x.dtype).at[:, d].set(x)


def axis_gram(kernels, x1, x2, d: int, D: int) -> jnp.ndarray:
    """``k_d(x1, x2)`` ``(m1, m2)`` for per-axis factors ``kernels`` (``x2=None``: symmetric)."""
    Z1 = _embed(x1, d, D)
    Z2 = None if x2 is None else _embed(x2, d, D)
    m2 = Z1.shape[0] if Z2 is None else Z2.shape[0]
    G = jnp.ones((Z1.shape[0], m2), Z1.dtype)
    for k in kernels:
        G = G * k(Z1, Z2)
    return G


def _cross_factors(factors: KernelFactors, coords, Xn):
    """Per-axis cross-covariances ``W_d`` ``(m, m_d)`` between ``Xn`` ``(m, D)`` and the grid (scale in ``W_0``)."""
    D = len(coords)
    W = [axis_gram(factors.axes[d], Xn[:, d], coords[d], d, D) for d in range(D)]
    W[0] = factors.scale * W[0]
    return W
