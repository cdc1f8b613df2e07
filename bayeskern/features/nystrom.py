"""Nyström features and landmark (inducing-input) selection (Williams & Seeger 2001).

With ``M`` landmarks ``Z`` and ``K_mm + εI = L Lᵀ`` (Cholesky), the Nyström
feature map is

    Φ(X) = K(X, Z) L⁻ᵀ,    shape (n, M),

so that ``Φ Φᵀ = K_nm (K_mm + εI)⁻¹ K_mn = Q_nn``, the Nyström approximation of
``K_nn``. Any model written on a finite basis (``f = Φ w`` with ``w ~ N(0, I)``)
can use it; a draw of ``f`` then has covariance exactly ``Q_nn``. As ``Z``
fills the input set ``Q_nn → K_nn``, and with ``Z = X`` it equals ``K_nn`` up to
the jitter ``ε``.

The same factor ``L`` is what the sparse GP back ends (``bayeskern.gp.backends.sgpr``,
``bayeskern.gp.svgp``) use for their inducing inputs, and they share the jitter
default :data:`INDUCING_JITTER` defined here.

Jitter. ``ε = jitter · mean(diag K_mm)`` with ``jitter = 1e-6`` by default, larger
than the exact-GP default (``1e-10`` in float64) on purpose: landmarks and
inducing inputs are usually chosen or learned to be dense where the data
are, so ``K_mm`` is often numerically singular (e.g. hundreds of inducing
points on a 1-D interval under an RBF kernel). The jitter is equivalent to
observing the landmarks with a tiny noise, so ``Q_nn ⪯ K_nn`` still holds
(the sparse GP bounds stay bounds). On concrete matrices a failed Cholesky is
retried with a larger jitter and a ``JitterWarning`` (the
``bayeskern.linalg.cholesky`` policy); under ``jit`` it gives non-finite
values instead. Pass ``jitter=`` to change it (e.g. ``1e-10`` to reproduce an
exact GP with ``Z = X``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.kernels import Kernel
from bayeskern.linalg import cholesky

#: Default relative jitter on ``K_mm`` for landmark / inducing-point methods.
INDUCING_JITTER = 1e-6

SELECTIONS = ("kmeans++", "random")


def select_landmarks(X, num: int, *, selection: str = "kmeans++", seed: int = 0) -> np.ndarray:
    """Choose ``num`` rows of ``X`` as landmarks / inducing inputs, deterministically given ``seed``.

    Args:
        X: inputs ``(n,)`` or ``(n, d)`` (concrete values, not traced).
        num: number of landmarks ``M`` (``1 <= M <= n``).
        selection: how the landmarks are chosen: ``"kmeans++"`` (default): k-means++ seeding (Arthur &
            Vassilvitskii 2007): the first point uniformly, each next one with
            probability proportional to its squared Euclidean distance to the
            nearest point chosen so far, which spreads the landmarks over the
            data (scale the inputs first if their dimensions have very
            different units). ``"random"``: a uniformly random subset.
        seed: seed of the NumPy generator used; the same seed gives the same landmarks.

    Returns:
        ``(M, d)`` NumPy array of distinct rows of ``X`` (float64), in the order chosen.

    Raises:
        ValueError: ``X`` is traced or not finite, ``num`` is out of range, or ``selection`` is unknown.
    """
    if not is_concrete(X):
        raise ValueError("X must hold concrete values to select landmarks (call this outside jit)")
    Xa = np.asarray(as_inputs(X, "X"), dtype=np.float64)
    n = Xa.shape[0]
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or not 1 <= num <= n:
        raise ValueError(f"num must be an integer in [1, n={n}], got {num!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    rng = np.random.default_rng(seed)
    if selection == "random":
        idx = rng.choice(n, size=int(num), replace=False)
        return Xa[np.sort(idx)].copy()
    idx = np.empty(int(num), dtype=np.int64)
    idx[0] = rng.integers(n)
    d2 = np.sum((Xa - Xa[idx[0]]) ** 2, axis=1)
    chosen = np.zeros(n, dtype=bool)
    chosen[idx[0]] = True
    for j in range(1, int(num)):
        weights = np.where(chosen, 0.0, d2)
        total = weights.sum()
        if not total > 0:  # only duplicates of chosen points remain: pick uniformly among the rest
            weights = (~chosen).astype(np.float64)
            total = weights.sum()
        i = int(rng.choice(n, p=weights / total))
        idx[j] = i
        chosen[i] = True
        d2 = np.minimum(d2, np.sum((Xa - Xa[i]) ** 2, axis=1))
    return Xa[idx].copy()


def landmark_cholesky(kernel: Kernel, Z, *, jitter: float | None = None, name: str = "K_mm"):
    """Lower Cholesky factor ``(M, M)`` of ``K(Z, Z) + jitter · mean(diag) · I``.

    ``jitter`` defaults to :data:`INDUCING_JITTER`; see the module docstring for the policy.
    """
    rel = INDUCING_JITTER if jitter is None else float(jitter)
    return cholesky(kernel(Z), jitter=rel, name=name)


def nystrom_features(kernel: Kernel, X, landmarks, *, jitter: float | None = None):
    """Nyström feature matrix ``Φ = K(X, Z) L⁻ᵀ`` ``(n, M)`` with ``Φ Φᵀ = Q_nn``.

    Args:
        kernel: covariance function (its hyperparameters may be traced).
        X: inputs ``(n,)`` or ``(n, d)``.
        landmarks: ``Z`` ``(M,)`` or ``(M, d)``, same input dimension as ``X``
            (see :func:`select_landmarks`); may be traced (learnable).
        jitter: relative jitter on ``K_mm`` (default :data:`INDUCING_JITTER`).

    Returns:
        ``(n, M)`` features. Rotating them (``Φ R`` with ``R`` orthogonal)
        leaves ``Φ Φᵀ`` unchanged, so only ``Φ Φᵀ`` is meaningful.

    Raises:
        ValueError: ``X`` and ``landmarks`` disagree in input dimension.
    """
    Xa = as_inputs(X, "X")
    Z = as_landmarks(landmarks, Xa.shape[1], "landmarks")
    L = landmark_cholesky(kernel, Z, jitter=jitter, name="Nyström landmark kernel matrix K_mm")
    return solve_triangular(L, kernel(Z, Xa), lower=True).T


class Nystrom:
    """A Nyström basis: fixed kernel and landmarks, features at any inputs.

    ``Nystrom(kernel, Z)(X)`` is ``nystrom_features(kernel, X, Z)``, computed
    from one factorisation of ``K_mm`` made at construction.

    Attributes:
        kernel: the kernel.
        landmarks: ``(M, d)`` landmarks.
        L: lower Cholesky factor of the jittered ``K_mm``.
    """

    def __init__(self, kernel: Kernel, landmarks, *, jitter: float | None = None):
        self.kernel = kernel
        self.landmarks = as_landmarks(landmarks, None, "landmarks")
        self.L = landmark_cholesky(kernel, self.landmarks, jitter=jitter,
                                   name="Nyström landmark kernel matrix K_mm")

    @property
    def num_features(self) -> int:
        """``M``."""
        return self.landmarks.shape[0]

    def __call__(self, X):
        """Features ``(n, M)`` at ``X`` ``(n,)`` or ``(n, d)``."""
        Xa = as_inputs(X, "X")
        if Xa.shape[1] != self.landmarks.shape[1]:
            raise ValueError(f"X must have {self.landmarks.shape[1]} input dimension(s) like the landmarks, "
                             f"got {Xa.shape[1]}")
        return solve_triangular(self.L, self.kernel(self.landmarks, Xa), lower=True).T

    def gram(self, X1, X2=None):
        """Low-rank Gram approximation ``Φ(X1) Φ(X2)ᵀ`` ``(n1, n2)``."""
        P1 = self(X1)
        return P1 @ (P1 if X2 is None else self(X2)).T


def as_landmarks(Z, d: int | None, name: str) -> jnp.ndarray:
    """``Z`` as ``(M, d)``, checking the input dimension against ``d`` when given."""
    Za = jnp.asarray(Z)
    if Za.ndim == 1 and (d is None or d == 1):
        Za = Za[:, None]
    if Za.ndim != 2 or Za.shape[0] < 1 or (d is not None and Za.shape[1] != d):
        want = "(M, d)" if d is None else f"(M, {d}) (or (M,) for 1-D inputs) to match the inputs' {d} dimension(s)"
        raise ValueError(f"{name} must have shape {want}, got shape {Za.shape}")
    if is_concrete(Za) and not bool(np.all(np.isfinite(np.asarray(Za)))):
        raise ValueError(f"{name} contains NaN or infinite values")
    if not jnp.issubdtype(Za.dtype, jnp.floating):
        Za = Za.astype(jnp.result_type(float))
    return Za
