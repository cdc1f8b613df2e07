"""Which hyperparameters a kernel family has, their site shapes, and checks on sampling options."""

import numpy as np
import numpyro.distributions as dist

from bayeskern.kernels import (
    ArcCosine,
    Binary,
    Constant,
    Cosine,
    Kernel,
    Linear,
    Periodic,
    Polynomial,
    Scaled,
    SpectralMixture,
    Warped,
    White,
)
from bayeskern.priors.data import DataScales


def check_kernel_class(kernel_cls) -> None:
    """Raise ``TypeError`` unless ``kernel_cls`` is a kernel family with declared hyperparameters."""
    if not (isinstance(kernel_cls, type) and issubclass(kernel_cls, Kernel)):
        raise TypeError(f"kernel_cls must be a Kernel subclass (e.g. Matern52), got {kernel_cls!r}")
    if issubclass(kernel_cls, (Binary, Scaled, Warped)) or not kernel_cls._params:
        raise TypeError(
            f"{kernel_cls.__name__} is a combinator, not a kernel family; sample its parts "
            "separately and combine the returned kernels (k1 + k2, k1 * k2)"
        )


def ard_params(kernel_cls) -> tuple[str, ...]:
    """The hyperparameters of ``kernel_cls`` that become ``(d,)`` vectors under ``ard=True``.

    RBF/Matérn/RQ: ``lengthscale``; Periodic: ``lengthscale`` and ``period``;
    Cosine: ``period``; Linear: ``variance``; ArcCosine: ``weight_variance``;
    SpectralMixture: none (its means and scales are always per dimension);
    Polynomial, Constant, White: none. A user kernel with a ``lengthscale``
    gets it.
    """
    if issubclass(kernel_cls, SpectralMixture):
        return ()
    if issubclass(kernel_cls, Periodic):
        return ("lengthscale", "period")
    if issubclass(kernel_cls, Cosine):
        return ("period",)
    if issubclass(kernel_cls, Linear):
        return ("variance",)
    if issubclass(kernel_cls, ArcCosine):
        return ("weight_variance",)
    if issubclass(kernel_cls, (Polynomial, Constant, White)):
        return ()
    return ("lengthscale",) if "lengthscale" in kernel_cls._params else ()


def check_options(kernel_cls, scales: DataScales, ard: bool, num_mixtures) -> None:
    """Validate ``ard`` and ``num_mixtures`` against the kernel class and the data."""
    name = kernel_cls.__name__
    if issubclass(kernel_cls, SpectralMixture):
        if num_mixtures is None:
            raise ValueError("SpectralMixture needs num_mixtures=Q (the number of components)")
        if isinstance(num_mixtures, bool) or int(num_mixtures) != num_mixtures or num_mixtures < 1:
            raise ValueError(f"num_mixtures must be a positive integer, got {num_mixtures!r}")
    elif num_mixtures is not None:
        raise ValueError(f"num_mixtures only applies to SpectralMixture, not {name}")
    if ard and not issubclass(kernel_cls, SpectralMixture):
        if not ard_params(kernel_cls):
            raise ValueError(f"{name} has no per-dimension hyperparameter; ard=True does not apply")
        if scales.dim is None:
            raise ValueError(
                "ard=True needs the number of input dimensions: pass X (shape (n, d)) or active_dims"
            )


def param_shape(kernel_cls, name: str, dim: int | None, ard: bool, num_mixtures=None) -> tuple[int, ...]:
    """Shape of the site for hyperparameter ``name``: ``()``, ``(d,)`` (ARD), ``(Q,)`` or ``(Q, d)``."""
    if issubclass(kernel_cls, SpectralMixture):
        q = int(num_mixtures)
        return (q,) if name == "weights" else (q, dim or 1)
    if ard and name in ard_params(kernel_cls):
        return (int(dim),)
    return ()


def as_site_distribution(d: dist.Distribution, shape: tuple[int, ...], label: str) -> dist.Distribution:
    """``d`` as one event of ``shape``: batch dimensions become event dimensions.

    A prior whose ``batch_shape + event_shape`` is ``shape`` is used as is
    (batch dimensions moved into the event); a prior with no event dimensions
    whose batch shape broadcasts to ``shape`` (a scalar prior, say) is first
    expanded, i.e. ``d.expand(shape).to_event(len(shape))``.

    Raises:
        ValueError: when the shapes fit neither way.
    """
    shape = tuple(shape)
    batch = tuple(d.batch_shape)
    full = batch + tuple(d.event_shape)
    if full == shape:
        return d.to_event(len(batch)) if batch else d
    if not d.event_shape and _broadcasts_to(batch, shape):
        return d.expand(list(shape)).to_event(len(shape))
    raise ValueError(
        f"the prior for {label} has shape {full} (batch {tuple(d.batch_shape)} + event "
        f"{tuple(d.event_shape)}), but the hyperparameter needs shape {shape} (or a scalar prior)"
    )


def _broadcasts_to(src: tuple[int, ...], dst: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(src, dst) == dst
    except ValueError:
        return False
