"""Closed-form discrete-time transitions ``A(dt) = expm(F dt)`` of state-space kernels.

A generic matrix exponential per time step (and its reverse-mode gradient)
dominates a Kalman filter's cost. Every supported model has a closed form:
for Matérn the drift has the single eigenvalue ``-λ`` so ``N = F + λI`` is
nilpotent and ``expm(F dt) = e^{-λ dt} Σ_{j<s} (dt N)^j / j!``; oscillators
are rotations; sums are block-diagonal and products Kronecker products
(``expm(F1⊕F2) = expm(F1) ⊗ expm(F2)``). ``Q = Pinf - A Pinf Aᵀ`` follows.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.linalg import block_diag

from bayeskern.kernels.base import Kernel
from bayeskern.kernels.composite import Product, Scaled, Sum
from bayeskern.kernels.constant import Constant
from bayeskern.kernels.state_space import StateSpaceModel, _scalar, state_space
from bayeskern.kernels.stationary import Cosine, Matern12, Matern32, Matern52, Periodic


def _rotation(theta):
    c, s = jnp.cos(theta), jnp.sin(theta)
    return jnp.array([[c, -s], [s, c]])


def _transition_matrix(k: Kernel, dt, J):
    """``A(dt)`` ``(s, s)`` for a scalar ``dt``, in the state order of ``state_space(k)``."""
    if isinstance(k, Matern12):
        lam = 1.0 / _scalar(k, "lengthscale")
        return jnp.reshape(jnp.exp(-lam * dt), (1, 1))
    if isinstance(k, (Matern32, Matern52)):
        model = state_space(k)
        s = model.state_dim
        lam = math.sqrt(3.0 if s == 2 else 5.0) / _scalar(k, "lengthscale")
        N = model.F + lam * jnp.eye(s, dtype=model.F.dtype)
        term = jnp.eye(s, dtype=model.F.dtype)
        total = term
        for j in range(1, s):
            term = term @ N * (dt / j)
            total = total + term
        return jnp.exp(-lam * dt) * total
    if isinstance(k, Cosine):
        return _rotation(2 * math.pi / _scalar(k, "period") * dt)
    if isinstance(k, Periodic):
        omega = 2 * math.pi / _scalar(k, "period")
        blocks = [jnp.ones((1, 1), dtype=jnp.result_type(omega))]
        blocks += [_rotation(j * omega * dt) for j in range(1, J + 1)]
        return block_diag(*blocks)
    if isinstance(k, Constant):
        return jnp.ones((1, 1), dtype=jnp.result_type(k.variance, float))
    if isinstance(k, Scaled):
        return _transition_matrix(k.kernel, dt, J)
    if isinstance(k, Product):
        return jnp.kron(_transition_matrix(k.k1, dt, J), _transition_matrix(k.k2, dt, J))
    if isinstance(k, Sum):
        return block_diag(_transition_matrix(k.k1, dt, J), _transition_matrix(k.k2, dt, J))
    raise ValueError(f"{type(k).__name__} has no closed-form transition")  # state_space() rejects first


def discrete_transitions(kernel: Kernel, dt, *, num_harmonics: int | None = None, model: StateSpaceModel | None = None):
    """``(A, Q)`` each ``(n, s, s)`` for steps ``dt`` ``(n,)``, with no matrix exponential.

    Agrees with ``state_space(kernel).transition(dt)`` (which uses ``expm``).
    Pass ``model`` to reuse an already built ``state_space(kernel)``.
    """
    if model is None:
        model = state_space(kernel, num_harmonics=num_harmonics)
    dt = jnp.asarray(dt, dtype=model.F.dtype)
    A = jax.vmap(lambda d: _transition_matrix(kernel, d, num_harmonics))(dt)
    P = model.Pinf
    Q = P - jnp.einsum("nij,jk,nlk->nil", A, P, A)
    return A, 0.5 * (Q + jnp.swapaxes(Q, -1, -2))
