"""Closed-form discrete-time transitions ``A(dt) = expm(F dt)`` of state-space kernels.

A generic matrix exponential per time step (and its reverse-mode gradient)
dominates a Kalman filter's cost. Every supported model has a closed form:
for Matérn the drift has the single eigenvalue ``-λ`` so ``N = F + λI`` is
nilpotent and ``expm(F dt) = e^{-λ dt} Σ_{j<s} (dt N)^j / j!``; oscillators
are rotations; sums are block-diagonal and products Kronecker products
(``expm(F1⊕F2) = expm(F1) ⊗ expm(F2)``). ``Q = Pinf - A Pinf Aᵀ`` follows.

The closed form is the capability :func:`transition_matrix`, registered next
to each family's state-space form; the composites fold it in ``base.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from bayeskern.kernels.capabilities import capability
from bayeskern.kernels.state_space import StateSpaceModel, state_space

if TYPE_CHECKING:  # base.py imports this module
    from bayeskern.kernels.base import Kernel


@capability("closed-form state-space transition")
def transition_matrix(kernel: Kernel, dt, num_harmonics: int | None) -> jax.Array:
    """``A(dt)`` ``(s, s)`` for a scalar ``dt``, in the state order of ``state_space_form(kernel)``."""


def rotation(theta) -> jax.Array:
    """The ``(2, 2)`` rotation by angle ``theta`` ``()``."""
    c, s = jnp.cos(theta), jnp.sin(theta)
    return jnp.array([[c, -s], [s, c]])


def discrete_transitions(kernel: Kernel, dt, *, num_harmonics: int | None = None, model: StateSpaceModel | None = None):
    """``(A, Q)`` each ``(n, s, s)`` for steps ``dt`` ``(n,)``, with no matrix exponential.

    Agrees with ``state_space(kernel).transition(dt)`` (which uses ``expm``).
    Pass ``model`` to reuse an already built ``state_space(kernel)``.
    """
    if model is None:
        model = state_space(kernel, num_harmonics=num_harmonics)
    dt = jnp.asarray(dt, dtype=model.F.dtype)
    A = jax.vmap(lambda d: transition_matrix(kernel, d, num_harmonics))(dt)
    P = model.Pinf
    Q = P - jnp.einsum("nij,jk,nlk->nil", A, P, A)
    return A, 0.5 * (Q + jnp.swapaxes(Q, -1, -2))
