"""Kernel structure for the Kronecker back end: writing a kernel as a product of per-axis factors.

``factor_kernel`` decides whether ``k(x, x') = scale · ∏_d k_d(x_d, x'_d)`` on
``D``-dimensional grid inputs, through the kernel capability
:func:`axis_factors` (families and composites register how they split), and
the per-axis Gram helpers evaluate the factors on axis coordinates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
from bayeskern.kernels.capabilities import UnsupportedKernelError, capability, refuse


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


#: One piece of a factorisation: ``(d, k_d)`` a kernel on axis ``d`` only, or ``(None, c)`` a scalar ``c``.
Piece = tuple[int | None, Any]


class _NotFactorable(ValueError):
    """A kernel that cannot be written over these axes for a reason other than its family."""


@capability("per-axis (Kronecker) factorisation")
def axis_factors(kernel: Kernel, D: int) -> list[Piece]:
    """``kernel``, which depends on two or more of the ``D`` grid axes, as a product of pieces.

    The capability of the Kronecker back end: a family registers how it splits
    into per-axis factors (``RBF`` and ``Periodic`` in ARD form do), ``Product``
    and ``Scaled`` fold their parts, and a kernel on one axis needs nothing
    (it is its own factor).

    Returns:
        Pieces ``(d, k_d)`` (a kernel depending on axis ``d`` only) and ``(None, c)``
        (a scalar), whose product is ``kernel``, in traversal order.
    """


def factor_kernel(kernel: Kernel, D: int) -> KernelFactors | str:
    """Per-axis factors of ``kernel`` on ``D``-dimensional grid inputs, or the reason it does not factor.

    Args:
        kernel: a bayeskern kernel.
        D: number of input dimensions (grid axes).

    Returns:
        ``KernelFactors`` when ``k(x, x') = scale · ∏_d k_d(x_d, x'_d)``,
        else a string saying why not (and what to use instead).
    """
    if any(isinstance(k, White) for k in kernel.walk()):
        return ("White noise sits on the diagonal by row identity, not as a function of the grid "
                "coordinates, so it does not factor over the axes; pass it as noise= instead")
    try:
        pieces = _factor(kernel, D)
    except (UnsupportedKernelError, _NotFactorable) as err:
        return str(err)
    axes: list[list[Kernel]] = [[] for _ in range(D)]
    scale = jnp.asarray(1.0)
    for d, piece in pieces:
        if d is None:
            scale = scale * piece
        else:
            axes[d].append(piece)
    return KernelFactors(tuple(tuple(a) for a in axes), scale)


def _factor(k: Kernel, D: int) -> list[Piece]:
    dims = k.depends_on(D)
    if any(d >= D for d in dims):
        raise _NotFactorable(f"{type(k).__name__} uses input dimension(s) {sorted(dims)} but X has {D}")
    if len(dims) == 1:
        (d,) = dims
        return [(d, k)]
    return axis_factors(k, D)


# -- composites ---------------------------------------------------------------
@axis_factors.register(Product)
def _product_factors(k: Product, D: int) -> list[Piece]:
    return _factor(k.k1, D) + _factor(k.k2, D)


@axis_factors.register(Scaled)
def _scaled_factors(k: Scaled, D: int) -> list[Piece]:
    return [(None, k.scale)] + _factor(k.kernel, D)


refuse(axis_factors, Sum, lambda k, D: (
    f"the kernel contains a sum over several input dimensions ({sorted(k.depends_on(D))}), which is not "
    f"a Kronecker product; the Kronecker back end needs a product of per-axis kernels (sums are "
    f"fine within one axis)"))
refuse(axis_factors, Warped, "a warped kernel over several input dimensions does not factor over the grid axes")


# -- families -------------------------------------------------------------------
def _order(k: Kernel, D: int) -> tuple[int, ...]:
    order = tuple(range(D)) if k.active_dims is None else tuple(k.active_dims)
    if k.input_dim not in (None, len(order)):
        raise _NotFactorable(
            f"{type(k).__name__} has hyperparameters for {k.input_dim} input dimension(s) but acts on {len(order)}")
    return order


@axis_factors.register(RBF)
def _rbf_factors(k: RBF, D: int) -> list[Piece]:
    order = _order(k, D)
    ls = jnp.broadcast_to(k.lengthscale, (len(order),))
    return [(d, RBF(lengthscale=ls[j], variance=1.0, active_dims=(d,))) for j, d in enumerate(order)] + [
        (None, k.variance)]


@axis_factors.register(Periodic)
def _periodic_factors(k: Periodic, D: int) -> list[Piece]:
    order = _order(k, D)
    ls = jnp.broadcast_to(k.lengthscale, (len(order),))
    per = jnp.broadcast_to(k.period, (len(order),))
    return [(d, Periodic(lengthscale=ls[j], period=per[j], variance=1.0, active_dims=(d,)))
            for j, d in enumerate(order)] + [(None, k.variance)]


@axis_factors.register(Constant)
def _constant_factors(k: Constant, D: int) -> list[Piece]:
    return [(None, k.variance)]


def _not_separable(k: Kernel, D: int) -> str:
    name, dims = type(k).__name__, sorted(k.depends_on(D))
    per_axis = " * ".join(f"{name}(active_dims=[{d}])" for d in dims)
    return (f"{name} over input dimensions {dims} is not separable (it is a function of the "
            f"joint distance, not a product over axes); use a product of per-axis kernels, e.g. "
            f"{per_axis}, or RBF/Periodic, whose ARD forms factor")


refuse(axis_factors, Stationary, _not_separable)  # Matérn, rational quadratic, cosine, spectral mixture
refuse(axis_factors, Kernel, lambda k, D: (
    f"{type(k).__name__} over input dimensions {sorted(k.depends_on(D))} does not factor over the grid axes"))


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
