"""Composite kernels: sums, products, positive scalings and input warping."""

from __future__ import annotations

from typing import Callable

from bayeskern._checks import as_inputs
from bayeskern._display import short
from bayeskern.kernels.base import Kernel, _check_scalar, _over_batch, _validated


class _Binary(Kernel):
    """Two kernels combined pointwise; subclasses say how."""

    _params = {}

    def __init__(self, k1: Kernel, k2: Kernel):
        for name, k in (("k1", k1), ("k2", k2)):
            if not isinstance(k, Kernel):
                raise ValueError(f"{type(self).__name__}: {name} must be a Kernel, got {type(k).__name__}")
        object.__setattr__(self, "k1", k1)
        object.__setattr__(self, "k2", k2)
        object.__setattr__(self, "active_dims", None)

    def _leaf_names(self):
        return ("k1", "k2")

    @property
    def stationary(self):  # type: ignore[override]
        return self.k1.stationary and self.k2.stationary


class Sum(_Binary):
    """``k1 + k2``."""

    def _display_parts(self):
        return [repr(k) for k in self.components], {}

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.k1(X1, X2) + self.k2(X1, X2)

    @_over_batch
    def diag(self, X):
        return self.k1.diag(X) + self.k2.diag(X)

    @property
    def components(self) -> tuple[Kernel, ...]:
        """The summands, nested sums flattened."""
        out = []
        for k in (self.k1, self.k2):
            out.extend(k.components if isinstance(k, Sum) else (k,))
        return tuple(out)


class Product(_Binary):
    """``k1 * k2`` (elementwise product of Gram matrices)."""

    def _display_parts(self):
        return [repr(k) for k in self.components], {}

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.k1(X1, X2) * self.k2(X1, X2)

    @_over_batch
    def diag(self, X):
        return self.k1.diag(X) * self.k2.diag(X)

    @property
    def components(self) -> tuple[Kernel, ...]:
        """The factors, nested products flattened."""
        out = []
        for k in (self.k1, self.k2):
            out.extend(k.components if isinstance(k, Product) else (k,))
        return tuple(out)


class Scaled(Kernel):
    """``scale * kernel`` for a positive scalar ``scale`` (or ``(*batch, 1)`` for a batch of kernels)."""

    _params = {"scale": (1.0, "positive")}
    _batchable = ("scale",)

    def __init__(self, kernel: Kernel, scale=1.0):
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "scale", _validated(scale, "scale", "positive", "Scaled"))
        object.__setattr__(self, "active_dims", None)
        _check_scalar("scale", self.scale, "Scaled", batch=True)

    def _leaf_names(self):
        return ("kernel", "scale")

    def _display_parts(self):
        return [repr(self.kernel)], {"scale": short(self.scale)}

    @property
    def stationary(self):  # type: ignore[override]
        return self.kernel.stationary

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.scale * self.kernel(X1, X2)

    @_over_batch
    def diag(self, X):
        return self.scale * self.kernel.diag(X)


class Warped(Kernel):
    """``kernel(g(X1), g(X2))`` for an input transform ``g: (n, d) -> (n, d')`` (a JAX function).

    ``g`` is static: build the kernel inside the model when the warp has
    parameters of its own (e.g. ``RBF().warp(lambda X: jnp.log(X + c))``).
    """

    _params = {}

    def __init__(self, kernel: Kernel, transform: Callable):
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {type(transform).__name__}")
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "transform", transform)
        object.__setattr__(self, "active_dims", None)

    def _leaf_names(self):
        return ("kernel",)

    def _static_names(self):
        return ("transform", "active_dims")

    def _display_parts(self):
        return [repr(self.kernel)], {"transform": getattr(self.transform, "__name__", type(self.transform).__name__)}

    def _apply(self, X):
        return None if X is None else self.transform(as_inputs(X))

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.kernel(self._apply(X1), self._apply(X2))

    @_over_batch
    def diag(self, X):
        return self.kernel.diag(self._apply(X))
