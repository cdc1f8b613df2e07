"""Non-stationary kernels built on inner products: Linear, Polynomial, ArcCosine."""

from __future__ import annotations

import math

import jax.numpy as jnp

from bayeskern.kernels.base import Kernel, _ard_dim, _check_ard, _check_scalar
from bayeskern.kernels.distances import safe_sqrt


class Linear(Kernel):
    """Linear (dot product): ``Σ_d variance_d x1_d x2_d``; ``variance`` scalar or per dimension."""

    _params = {"variance": (1.0, "positive")}

    @property
    def input_dim(self):
        return _ard_dim(self.variance)

    def _check_shapes(self):
        _check_ard("variance", self.variance, "Linear")

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        return (X1 * self.variance) @ X2.T

    def _diag(self, X):
        return jnp.sum(X * X * self.variance, axis=1)


class Polynomial(Kernel):
    """Polynomial: ``(variance · x1ᵀx2 + offset)^degree`` with integer ``degree`` >= 1 (static)."""

    _params = {"variance": (1.0, "positive"), "offset": (1.0, "nonnegative")}
    _static = ("degree",)
    degree: int = 2

    def __init__(self, *, degree: int = 2, **kwargs):
        if int(degree) != degree or degree < 1:
            raise ValueError(f"Polynomial: degree must be a positive integer, got {degree!r}")
        super().__init__(degree=int(degree), **kwargs)

    def _check_shapes(self):
        _check_scalar("variance", self.variance, "Polynomial")
        _check_scalar("offset", self.offset, "Polynomial")

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        return (self.variance * (X1 @ X2.T) + self.offset) ** self.degree

    def _diag(self, X):
        return (self.variance * jnp.sum(X * X, axis=1) + self.offset) ** self.degree


class ArcCosine(Kernel):
    """Arc-cosine kernel of Cho & Saul (2009), ``order`` 0, 1 or 2 (static).

    ``k = variance/π · |x̃1|^n |x̃2|^n J_n(θ)`` on augmented inner products
    ``x̃1ᵀx̃2 = weight_variance · x1ᵀx2 + bias_variance``, θ the angle between
    them: the covariance of an infinitely wide one-layer network with
    step (n=0), ReLU (n=1) or squared-ReLU (n=2) units.
    """

    _params = {
        "variance": (1.0, "positive"),
        "weight_variance": (1.0, "positive"),
        "bias_variance": (1.0, "nonnegative"),
    }
    _static = ("order",)
    order: int = 1

    def __init__(self, *, order: int = 1, **kwargs):
        if order not in (0, 1, 2):
            raise ValueError(f"ArcCosine: order must be 0, 1 or 2, got {order!r}")
        super().__init__(order=int(order), **kwargs)

    @property
    def input_dim(self):
        return _ard_dim(self.weight_variance)

    def _check_shapes(self):
        _check_scalar("variance", self.variance, "ArcCosine")
        _check_ard("weight_variance", self.weight_variance, "ArcCosine")
        _check_scalar("bias_variance", self.bias_variance, "ArcCosine")

    def _inner(self, A, B):
        return (A * self.weight_variance) @ B.T + self.bias_variance

    def _sqnorm(self, A):
        return jnp.sum(A * A * self.weight_variance, axis=1) + self.bias_variance

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        dot = self._inner(X1, X2)
        n1, n2 = self._sqnorm(X1), self._sqnorm(X2)
        prod = n1[:, None] * n2[None, :]
        # θ from atan2(|x1 × x2|, x1·x2): no arccos, so gradients stay finite at θ = 0.
        cross = safe_sqrt(jnp.maximum(prod - dot * dot, 0.0))
        theta = jnp.arctan2(cross, dot)
        return self.variance / math.pi * self._angular(theta, cross, dot, prod)

    def _angular(self, theta, cross, dot, prod):
        # |x|^n |y|^n J_n(θ) written with sinθ·|x||y| = cross and cosθ·|x||y| = dot.
        pi_minus = math.pi - theta
        if self.order == 0:
            return pi_minus
        if self.order == 1:
            return cross + pi_minus * dot
        return 3.0 * cross * dot + pi_minus * (prod + 2.0 * dot * dot)

    def _diag(self, X):
        sq = self._sqnorm(X)
        zero = jnp.zeros_like(sq)
        return self.variance / math.pi * self._angular(zero, zero, sq, sq * sq)
