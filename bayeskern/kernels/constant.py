"""Constant and white-noise kernels, with their state-space capabilities."""

from __future__ import annotations

import jax.numpy as jnp

from bayeskern.kernels.base import Kernel, _check_scalar
from bayeskern.kernels.capabilities import refuse
from bayeskern.kernels.state_space import StateSpaceModel, real_array, state_space_form
from bayeskern.kernels.state_space_transitions import transition_matrix


class Constant(Kernel):
    """Constant: ``variance`` for every pair of inputs (a random offset)."""

    stationary = True
    _params = {"variance": (1.0, "positive")}

    def _check_shapes(self):
        _check_scalar("variance", self.variance, "Constant")

    def _gram(self, X1, X2):
        n2 = X1.shape[0] if X2 is None else X2.shape[0]
        return jnp.full((X1.shape[0], n2), self.variance, dtype=jnp.result_type(X1, self.variance))

    def _diag(self, X):
        return jnp.full(X.shape[:1], self.variance, dtype=jnp.result_type(X, self.variance))


@state_space_form.register(Constant)
def _constant_state_space(k, J):
    var = real_array(k.variance)
    one = jnp.ones((1, 1), dtype=var.dtype)
    return StateSpaceModel(F=0 * one, L=one, Qc=0 * one, H=one, Pinf=var * one)


@transition_matrix.register(Constant)
def _constant_transition(k, dt, J):
    return jnp.ones((1, 1), dtype=jnp.result_type(k.variance, float))


class White(Kernel):
    """White noise: ``variance · I`` for ``k(X)``; zero between two input sets ``k(X1, X2)``.

    As in scikit-learn's ``WhiteKernel``, noise is independent per observation,
    so it appears only on the diagonal of the one-argument Gram matrix.
    """

    stationary = True
    _params = {"variance": (1.0, "positive")}

    def _check_shapes(self):
        _check_scalar("variance", self.variance, "White")

    def _gram(self, X1, X2):
        dtype = jnp.result_type(X1, self.variance)
        if X2 is None:
            return self.variance * jnp.eye(X1.shape[0], dtype=dtype)
        return jnp.zeros((X1.shape[0], X2.shape[0]), dtype=dtype)

    def _diag(self, X):
        return jnp.full(X.shape[:1], self.variance, dtype=jnp.result_type(X, self.variance))


refuse(state_space_form, White,
       "White has no state-space form (white noise has no state); model it as observation noise")
