"""State-space (linear SDE) forms of 1-D kernels, for the Kalman-filter GP back end.

A stationary GP ``f(t)`` with kernel ``k`` is written as ``f(t) = H x(t)`` for
the state of the linear time-invariant SDE

    dx/dt = F x + L w(t),   E[w(t) w(s)ᵀ] = Qc δ(t - s),

started in its stationary distribution ``x ~ N(0, Pinf)``, where
``F Pinf + Pinf Fᵀ + L Qc Lᵀ = 0`` (Hartikainen & Särkkä 2010; Särkkä & Solin
2019, ch. 12). Then ``k(τ) = H expm(F|τ|) Pinf Hᵀ``. Matérn 1/2, 3/2, 5/2,
``Cosine`` and ``Constant`` are exact; ``Periodic`` is approximated by a finite
sum of oscillators (Solin & Särkkä 2014). Sums, products and positive scalings
of these have state-space forms too.

Every matrix is built with ``jnp`` from the kernel's hyperparameters, so
``jit``/``grad``/``vmap`` through them works.

The form is the capability :func:`state_space_form`: each family registers
its builder next to its definition (``stationary.py``, ``constant.py``), the
composites ``Sum``, ``Product`` and ``Scaled`` one rule each (``base.py``),
and families without a form record why (``capabilities.refuse``).
:func:`state_space` checks the arguments and calls it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import block_diag

from bayeskern._checks import is_concrete
from bayeskern.kernels.capabilities import capability

if TYPE_CHECKING:  # base.py imports this module
    from bayeskern.kernels.base import Kernel

#: Largest number of squarings in ``_expm``: ``‖M‖₁`` up to ~2e10 (beyond it the result is NaN).
_MAX_SQUARINGS = 32
#: Higham's (2005) bound on ``‖M‖₁`` for the degree-13 Padé approximant (float64).
_THETA_13 = 5.371920351148152
_PADE_13 = (
    64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
    129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
    40840800.0, 960960.0, 16380.0, 182.0, 1.0,
)


@jax.jit
def _expm(M):
    """``expm(M)`` for ``M`` ``(s, s)``: Higham's (2005) scaling and squaring with a [13/13] Padé step.

    Used instead of ``jax.scipy.linalg.expm``, which (JAX 0.12) takes
    ``floor(log2(‖M‖₁/θ₁₃))`` squarings where the algorithm needs the ceiling,
    so its Padé step sees norms up to ``2θ₁₃`` and loses ~7 digits (error
    ~1e-9 at ``‖M‖₁ = 10``); it also returns NaN beyond 16 squarings
    (``‖M‖₁`` ~ 3.5e5, reached by a short-lengthscale Matérn 5/2 over a modest
    gap), and compiles about twice as slowly. Here the result is NaN only
    beyond ``_MAX_SQUARINGS``.
    """
    b = _PADE_13
    norm = jax.lax.stop_gradient(jnp.max(jnp.sum(jnp.abs(M), axis=0)))
    n = jnp.maximum(0.0, jnp.ceil(jnp.log2(norm / _THETA_13)))
    A = M * 2.0**-n
    eye = jnp.eye(A.shape[0], dtype=A.dtype)
    A2 = A @ A
    A4, A6 = A2 @ A2, A2 @ A2 @ A2
    U = A @ (A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2) + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    E = jnp.linalg.solve(V - U, V + U)

    def square(E, i):
        return jax.lax.cond(i < n, lambda e: e @ e, lambda e: e, E), None

    E, _ = jax.lax.scan(square, E, jnp.arange(_MAX_SQUARINGS, dtype=n.dtype))
    return jnp.where(n > _MAX_SQUARINGS, jnp.nan, E)


@functools.partial(jax.tree_util.register_dataclass, data_fields=["F", "L", "Qc", "H", "Pinf"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class StateSpaceModel:
    """A linear time-invariant SDE ``dx = F x dt + L dβ``, ``f = H x``, in its stationary state.

    Attributes:
        F: ``(s, s)`` feedback (drift) matrix.
        L: ``(s, q)`` noise-effect matrix.
        Qc: ``(q, q)`` spectral density of the white noise ``w``.
        H: ``(1, s)`` measurement matrix.
        Pinf: ``(s, s)`` stationary state covariance, solving
            ``F Pinf + Pinf Fᵀ + L Qc Lᵀ = 0``.
    """

    F: jax.Array
    L: jax.Array
    Qc: jax.Array
    H: jax.Array
    Pinf: jax.Array

    @property
    def state_dim(self) -> int:
        """Number of states ``s``."""
        return int(self.F.shape[-1])

    def transition(self, dt):
        """Discrete-time transition over a step ``dt >= 0``: ``x(t + dt) = A x(t) + N(0, Q)``.

        ``A = expm(F dt)`` and ``Q = Pinf - A Pinf Aᵀ`` (exact for a stationary model).

        Args:
            dt: scalar ``()`` or ``(n,)`` non-negative time steps.

        Returns:
            ``(A, Q)``, each ``(s, s)`` for a scalar ``dt`` or ``(n, s, s)`` for ``(n,)``.
            ``jax.vmap(model.transition)(dt)`` gives the same as ``model.transition(dt)``.

        Raises:
            ValueError: if ``dt`` has more than one dimension, or (when concrete) is negative.
        """
        dt = jnp.asarray(dt, dtype=jnp.result_type(self.F, float))
        if dt.ndim > 1:
            raise ValueError(f"dt must be a scalar or have shape (n,), got shape {dt.shape}")
        if is_concrete(dt) and np.any(~(np.asarray(dt) >= 0)):
            raise ValueError("dt must be non-negative (sort the inputs first)")
        return _transition(self, dt) if dt.ndim == 0 else jax.vmap(_transition, (None, 0))(self, dt)

    def covariance(self, tau):
        """The kernel implied by the model, ``k(τ) = H expm(F|τ|) Pinf Hᵀ``.

        Args:
            tau: ``(m,)`` lags (a scalar gives a scalar).

        Returns:
            ``(m,)`` covariances (shape of ``tau``).
        """
        tau = jnp.asarray(tau, dtype=jnp.result_type(self.F, float))
        return _covariance(self, tau.reshape(-1)).reshape(tau.shape)


@jax.jit
def _transition(model, dt):
    A = _expm(model.F * dt)
    Q = model.Pinf - A @ model.Pinf @ A.T
    return A, 0.5 * (Q + Q.T)


@jax.jit
def _covariance(model, tau):
    h = model.H[0]
    ph = model.Pinf @ h
    return jax.vmap(lambda t: h @ _expm(model.F * jnp.abs(t)) @ ph)(tau)


@capability("state-space form")
def state_space_form(kernel: Kernel, num_harmonics: int | None) -> StateSpaceModel:
    """The state-space form of ``kernel`` (the capability; :func:`state_space` checks the arguments first).

    Args:
        kernel: a kernel of one input dimension.
        num_harmonics: harmonics for approximate forms (``Periodic``), or None.

    Returns:
        A ``StateSpaceModel`` whose ``covariance(τ)`` reproduces ``kernel``.
    """


def state_space(kernel: Kernel, *, num_harmonics: int | None = None) -> StateSpaceModel:
    """The state-space form of a 1-D kernel.

    Supported: ``Matern12``, ``Matern32``, ``Matern52``, ``Cosine``, ``Constant``
    (exact), ``Periodic`` (approximate, needs ``num_harmonics``), and ``Sum``,
    ``Product`` and ``Scaled`` combinations of them, plus any family
    registered with ``state_space_form.register``. Lengthscales and periods
    must be scalars (or shape ``(1,)``) and ``active_dims`` must select at most
    one input dimension, the same for every component.

    ``Periodic`` becomes a constant state plus ``num_harmonics`` undamped
    oscillators at ``2πj/period`` with variances ``q_j`` from
    ``kernel.spectral_weights(num_harmonics)`` (Solin & Särkkä 2014); its
    covariance ``Σ_j q_j cos(2πjτ/period)`` falls short of the kernel by at most
    the dropped tail ``variance - Σ_j q_j`` (which shrinks fast once
    ``num_harmonics`` exceeds ~``3/lengthscale²``). The model has
    ``2·num_harmonics + 1`` states.

    ``Product`` uses ``F = F1 ⊗ I + I ⊗ F2``, ``Pinf = Pinf1 ⊗ Pinf2``,
    ``H = H1 ⊗ H2`` and ``L = I``, ``Qc = -(F Pinf + Pinf Fᵀ)`` so the model is
    stationary. Its covariance is exactly ``k1 · k2`` (the product state of two
    independent processes has covariance ``expm(F1τ)Pinf1 ⊗ expm(F2τ)Pinf2``).

    Args:
        kernel: the kernel (a ``bayeskern.kernels.Kernel``).
        num_harmonics: number of harmonics ``J >= 0`` for each ``Periodic`` component
            (ignored otherwise).

    Returns:
        A ``StateSpaceModel`` whose ``covariance(τ)`` reproduces ``kernel``.

    Raises:
        ValueError: for a non-kernel, for multi-dimensional (ARD) hyperparameters
            or ``active_dims``, and for ``Periodic`` without ``num_harmonics``.
        UnsupportedKernelError: (a ``TypeError`` and ``ValueError``) for kernels with
            no finite state-space form (``RBF``, ``RationalQuadratic``,
            ``SpectralMixture``, ``White``, dot-product and warped kernels).
    """
    # Any bayeskern kernel has walk(); base.py imports this module, so no isinstance(Kernel) here.
    if not callable(getattr(kernel, "walk", None)):
        raise ValueError(f"kernel must be a Kernel, got {type(kernel).__name__}")
    if num_harmonics is not None and (
        isinstance(num_harmonics, bool) or not isinstance(num_harmonics, (int, np.integer)) or num_harmonics < 0
    ):
        raise ValueError(f"num_harmonics must be a non-negative int, got {num_harmonics!r}")
    _check_dims(kernel)
    return state_space_form(kernel, num_harmonics)


# -- helpers for the builders ----------------------------------------------
def real_array(x) -> jax.Array:
    """``x`` as a real floating array (integers promoted)."""
    x = jnp.asarray(x)
    return x.astype(jnp.result_type(x, float))


def scalar_param(k: Kernel, name: str) -> jax.Array:
    """Hyperparameter ``name`` of ``k`` as a scalar ``()``; ``(1,)`` is accepted, ARD ``(d,)`` is not."""
    v = real_array(getattr(k, name))
    if v.ndim == 0:
        return v
    if v.shape == (1,):
        return v[0]
    raise ValueError(
        f"{type(k).__name__} has {name} of shape {v.shape} (one per input dimension); a state-space "
        f"form exists only for 1-D inputs, so use a scalar {name} or structure='dense'"
    )


def oscillators(q0, omegas, q) -> StateSpaceModel:
    """A constant state of variance ``q0`` ``()`` (if not None) plus undamped oscillators at ``omegas`` ``(J,)``
    with variances ``q`` ``(J,)``: ``2J (+1)`` states."""
    rot = jnp.array([[0.0, -1.0], [1.0, 0.0]], dtype=omegas.dtype)
    F = jnp.kron(jnp.diag(omegas), rot)
    Pinf = jnp.diag(jnp.repeat(q, 2))
    H = jnp.tile(jnp.array([[1.0, 0.0]], dtype=omegas.dtype), (1, omegas.shape[0]))
    if q0 is not None:
        F = block_diag(jnp.zeros((1, 1), F.dtype), F)
        Pinf = block_diag(jnp.reshape(q0, (1, 1)), Pinf)
        H = jnp.concatenate([jnp.ones((1, 1), H.dtype), H], axis=1)
    s = F.shape[0]
    return StateSpaceModel(F=F, L=jnp.eye(s, dtype=F.dtype), Qc=jnp.zeros((s, s), F.dtype), H=H, Pinf=Pinf)


def _check_dims(kernel: Kernel) -> None:
    """Every component must act on the same single input dimension (or on all, i.e. a 1-D input)."""
    seen = set()
    for k in kernel.walk():
        if k.active_dims is not None:
            if len(k.active_dims) > 1:
                raise ValueError(
                    f"{type(k).__name__} has active_dims={k.active_dims}: a state-space form needs "
                    "a kernel of one input dimension; use structure='dense'"
                )
            seen.add(k.active_dims)
    if len(seen) > 1:
        raise ValueError(
            f"components act on different input dimensions {sorted(seen)}; a state-space form "
            "needs all of them on one 1-D input"
        )
