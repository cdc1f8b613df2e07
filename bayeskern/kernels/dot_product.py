"""Non-stationary kernels built on inner products: Linear, Polynomial, ArcCosine."""

from __future__ import annotations

import math

import jax.numpy as jnp

from bayeskern.kernels.base import Kernel, _ard_dim, _check_ard, _check_scalar
from bayeskern.kernels.capabilities import refuse
from bayeskern.kernels.distances import safe_sqrt, squared_distance
from bayeskern.kernels.state_space import state_space_form


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

    Known issue: with jaxlib 0.12 on CPU, the *jitted* gradient of order 0
    with respect to ``weight_variance``/``bias_variance`` is wrong when
    inputs coincide (eager gradients are right; an XLA optimisation bug,
    correct under ``XLA_FLAGS=--xla_backend_optimization_level=0``). The
    test suite tracks it with a strict xfail.
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

    def _augment(self, A):
        """Augmented inputs ``(n, d + 1)``: ``(√weight_variance ⊙ x, √bias_variance)``."""
        # Plain broadcasting, not broadcast_to: see Stationary.scaled_sqdist (XLA CPU issue).
        b = jnp.ones((A.shape[0], 1), A.dtype) * jnp.sqrt(self.bias_variance)
        return jnp.concatenate([A * jnp.sqrt(self.weight_variance), b], axis=1)

    def _gram(self, X1, X2):
        A = self._augment(X1)
        B = A if X2 is None else self._augment(X2)
        na = safe_sqrt(jnp.sum(A * A, axis=1))
        nb = safe_sqrt(jnp.sum(B * B, axis=1))
        U, V = A / na[:, None], B / nb[:, None]
        # Kahan's angle between unit vectors, θ = 2·atan2(|u - v|, |u + v|): accurate at θ ≈ 0
        # (where sqrt(|x|²|y|² - (x·y)²) loses half the digits) and gradients stay finite.
        theta = 2.0 * jnp.arctan2(safe_sqrt(squared_distance(U, V)), safe_sqrt(squared_distance(U, -V)))
        scale = (na[:, None] * nb[None, :]) ** self.order
        return self.variance / math.pi * scale * self._angular(theta)

    def _angular(self, theta):
        """``J_n(θ)`` of Cho & Saul (2009)."""
        pi_minus = math.pi - theta
        if self.order == 0:
            return pi_minus
        sin, cos = jnp.sin(theta), jnp.cos(theta)
        if self.order == 1:
            return sin + pi_minus * cos
        return 3.0 * sin * cos + pi_minus * (1.0 + 2.0 * cos * cos)

    def _diag(self, X):
        A = self._augment(X)
        sq = jnp.sum(A * A, axis=1)
        return self.variance / math.pi * sq**self.order * self._angular(jnp.zeros_like(sq))


for _family in (Linear, Polynomial, ArcCosine):
    refuse(state_space_form, _family,
           f"{_family.__name__} is not stationary, so it has no stationary state-space form; use structure='dense'")
