"""Kronecker-structured linear algebra for Gaussian processes on Cartesian grids.

Saatçi (2012, ch. 5) and Gilboa, Saatçi & Cunningham (2015): on a grid with
``D`` axes of ``m_1, ..., m_D`` points (``N = ∏ m_d``), a kernel that factors
over the axes has the Gram matrix ``K = K_1 ⊗ ... ⊗ K_D`` with ``K_d``
``(m_d, m_d)``. Nothing of size ``N × N`` is ever formed:

* matrix-vector products reshape the vector to the grid tensor
  ``(m_1, ..., m_D)`` and apply each ``K_d`` along its own axis
  (``O(N Σ_d m_d)``);
* ``K = (⊗ Q_d)(⊗ Λ_d)(⊗ Q_d)ᵀ`` from the per-axis eigendecompositions
  (``O(Σ_d m_d³)``), so ``K + σ² I`` has eigenvalues ``λ_i + σ²`` and
  ``log det(K + σ² I) = Σ_i log(λ_i + σ²)``; solves apply ``(⊗ Q_d)ᵀ``, divide,
  and apply ``⊗ Q_d`` (Saatçi 2012, Alg. 5.2);
* anything that breaks the structure (missing cells, heteroscedastic noise)
  is solved by conjugate gradients with Kronecker products inside.

Conventions: a vector over the grid ``(..., N)`` is the grid tensor
``(..., m_1, ..., m_D)`` flattened in C (row-major) order, last axis
fastest; with that order ``(A_1 ⊗ ... ⊗ A_D) v`` is ``A_d`` applied along
tensor axis ``d`` for every ``d``. Leading dimensions of vectors are batch
dimensions.

Gradients: ``kron_gaussian_logpdf``, ``kron_noisy_logdet`` and
``kron_noisy_solve`` have custom VJPs written from the matrix identities
(``∂ log det M = tr(M⁻¹ ∂M)``, ``∂ M⁻¹ b = -M⁻¹ ∂M M⁻¹ b``) projected onto each
``K_d``. They never differentiate eigenvectors, whose JAX derivative divides
by eigenvalue gaps: NaN when two eigenvalues coincide and wrong (round-off
divided by a tiny gap) when they nearly do, e.g. a periodic kernel on a grid
spanning whole periods (a circulant matrix with paired eigenvalues).
``kron_eigh`` itself is plain ``jnp.linalg.eigh``: differentiate through its
eigenvectors only where eigenvalues are known to be distinct.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

__all__ = [
    "KroneckerEigen", "kron_mvp", "kron_diag", "kron_vector", "kron_eigh", "kron_noisy_solve",
    "kron_noisy_logdet", "kron_gaussian_logpdf", "kron_inverse_diagonal", "kron_sqrt_mvp", "kron_spectral_mvp",
]

LOG_2PI = math.log(2 * math.pi)


# -- products ----------------------------------------------------------------
def _shape(mats) -> tuple[int, ...]:
    return tuple(int(A.shape[-1]) for A in mats)


@jax.jit
def kron_mvp(mats: Sequence, v):
    """``(A_1 ⊗ ... ⊗ A_D) v`` without forming the Kronecker product.

    Args:
        mats: per-axis matrices ``A_d`` ``(p_d, m_d)`` (rectangular allowed).
        v: ``(..., N)`` with ``N = ∏ m_d`` (C order over the grid).

    Returns:
        ``(..., P)`` with ``P = ∏ p_d``. Cost ``O(N Σ_d p_d)`` for square factors.
    """
    mats = tuple(mats)
    v = jnp.asarray(v)
    sizes = _shape(mats)
    N = math.prod(sizes)
    if v.shape[-1] != N:
        raise ValueError(f"kron_mvp: v must have last dimension {N} = prod{sizes}, got shape {v.shape}")
    batch = v.shape[:-1]
    x = _apply_along(mats, v.reshape(batch + sizes), len(batch))
    return x.reshape(batch + (-1,))


def _apply_along(mats, T, nb: int, skip: int | None = None):
    """Apply ``mats[d]`` along tensor axis ``nb + d`` of ``T`` ``(batch..., m_1..m_D)``, except ``skip``."""
    for d, A in enumerate(mats):
        if d == skip or A is None:
            continue
        T = jnp.moveaxis(jnp.tensordot(A, T, axes=([1], [nb + d])), 0, nb + d)
    return T


@jax.jit
def kron_vector(vectors: Sequence):
    """``v_1 ⊗ ... ⊗ v_D`` for ``v_d`` ``(..., m_d)`` (shared leading batch shape) -> ``(..., N)``."""
    vectors = [jnp.asarray(v) for v in vectors]
    out = vectors[0]
    for v in vectors[1:]:
        out = (out[..., :, None] * v[..., None, :]).reshape(out.shape[:-1] + (-1,))
    return out


@jax.jit
def kron_diag(mats: Sequence):
    """Diagonal ``(N,)`` of ``K_1 ⊗ ... ⊗ K_D`` for square ``K_d`` ``(m_d, m_d)``."""
    return kron_vector([jnp.diagonal(A) for A in mats])


# -- eigendecomposition -------------------------------------------------------
class KroneckerEigen(NamedTuple):
    """Per-axis eigendecompositions ``K_d = Q_d diag(λ_d) Q_dᵀ``.

    Attributes:
        values: tuple of ``(m_d,)`` eigenvalues, as computed (not clipped:
            round-off negatives of a semi-definite ``K_d`` are swamped by the
            noise, and a genuinely indefinite factor must show up as a
            non-positive-definite ``K + σ² I``, as it does for dense Cholesky).
        vectors: tuple of ``(m_d, m_d)`` orthogonal eigenvector matrices.
    """

    values: tuple
    vectors: tuple

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(v.shape[0]) for v in self.values)

    def eigenvalues(self):
        """All ``N`` eigenvalues ``⊗_d λ_d`` ``(N,)`` of ``⊗ K_d``, in grid (not sorted) order."""
        return kron_vector(self.values)


@jax.jit
def kron_eigh(mats: Sequence) -> KroneckerEigen:
    """Eigendecompositions of the symmetric per-axis matrices ``K_d`` ``(m_d, m_d)``.

    Cost ``O(Σ_d m_d³)``. Eigenvalues are not clipped.
    """
    vals, vecs = [], []
    for A in mats:
        w, Q = jnp.linalg.eigh(0.5 * (A + A.T))
        vals.append(w)
        vecs.append(Q)
    return KroneckerEigen(tuple(vals), tuple(vecs))


def kron_spectral_mvp(eig: KroneckerEigen, s: jax.Array, B: jax.Array) -> jax.Array:
    """``Q diag(s) Qᵀ B``: a function of ``⊗ K_d`` given by its values ``s`` on the eigenvalues, applied to ``B``.

    ``Q = ⊗_d Q_d`` are the eigenvectors of ``eig``. With ``s = 1 / (λ + σ²)``
    (``λ = eig.eigenvalues()``) this is the solve ``(⊗ K_d + σ² I)⁻¹ B``; with
    ``s = λ`` the product ``(⊗ K_d) B``; any ``s`` gives a preconditioner with
    the same eigenvectors. ``O(N Σ_d m_d)``, nothing ``N x N`` is formed.

    Args:
        eig: per-axis eigendecompositions (:func:`kron_eigh`), ``N = ∏ m_d``.
        s: ``(N,)`` spectrum, in grid order like ``eig.eigenvalues()``.
        B: ``(..., N)`` vectors over the grid (C order); leading axes are batch axes.

    Returns:
        ``(..., N)``.
    """
    t = kron_mvp([Q.T for Q in eig.vectors], B)
    return kron_mvp(eig.vectors, s * t)


@jax.jit
def kron_inverse_diagonal(eig: KroneckerEigen, noise):
    """``diag((⊗ K_d + noise I)⁻¹)`` ``(N,)`` from the eigendecomposition, in ``O(N Σ m_d)``.

    ``[Q S Qᵀ]_jj = Σ_i Q_ji² s_i`` and ``Q_ji² = ∏_d (Q_d)²_{j_d i_d}``, so the
    diagonal is ``(⊗_d Q_d∘Q_d) s`` with ``s = 1/(λ + noise)``.
    """
    s = 1.0 / (eig.eigenvalues() + noise)
    return kron_mvp([Q * Q for Q in eig.vectors], s)


@jax.jit
def kron_sqrt_mvp(eig: KroneckerEigen, z):
    """``(⊗_d Q_d Λ_d^{1/2}) z`` for ``z`` ``(..., N)``: covariance ``⊗ K_d`` (negative ``λ`` clipped to 0)."""
    return kron_mvp([Q * jnp.sqrt(jnp.maximum(w, 0.0))[None, :] for w, Q in zip(eig.values, eig.vectors, strict=True)], z)


# -- gradient helpers -------------------------------------------------------------
def axis_gram(A, B, nb: int, d: int):
    """``Σ_{batch, other axes} A[.., a, ..] B[.., b, ..]`` -> ``(m_d, m_d)`` for tensors ``(batch..., m_1..m_D)``."""
    axes = [i for i in range(A.ndim) if i != nb + d]
    return jnp.tensordot(A, B, axes=(axes, axes))


def _logdet_axis_weights(eig: KroneckerEigen, s, d: int):
    """``w_d[k] = Σ_{i: i_d = k} s_i ∏_{e≠d} λ_{e, i_e}`` ``(m_d,)``.

    With it ``∂/∂K_d log det(⊗K + σ²I) = Q_d diag(w_d) Q_dᵀ``.
    """
    shape = eig.shape
    T = s.reshape(shape)
    for e, w in enumerate(eig.values):
        if e == d:
            continue
        bshape = [1] * len(shape)
        bshape[e] = shape[e]
        T = T * w.reshape(bshape)
    other = tuple(e for e in range(len(shape)) if e != d)
    return jnp.sum(T, axis=other)


def _logdet_cotangent(eig: KroneckerEigen, s, g):
    """Per-axis cotangents ``g · ∂ log det / ∂K_d`` and ``g · ∂/∂noise``."""
    dK = tuple(g * (Q * _logdet_axis_weights(eig, s, d)[None, :]) @ Q.T for d, Q in enumerate(eig.vectors))
    return dK, g * jnp.sum(s)


def _bilinear_cotangent(mats, U, W, shape):
    """Cotangents of ``Σ_b U_bᵀ (⊗K) W_b`` w.r.t. each ``K_d`` and w.r.t. a scalar noise on the diagonal.

    ``U``, ``W``: ``(B, N)``. Returns ``(dK tuple, dnoise)`` with
    ``dK_d[a, b] = Σ U[.., a, ..] ((⊗_{e≠d} K_e) W)[.., b, ..]``.
    """
    nb = 1
    Ut = U.reshape(U.shape[:1] + shape)
    Wt = W.reshape(W.shape[:1] + shape)
    dK = tuple(axis_gram(Ut, _apply_along(mats, Wt, nb, skip=d), nb, d) for d in range(len(mats)))
    return dK, jnp.sum(U * W)


# -- log-determinant, solve and Gaussian log density on a full grid ------------------
def _as_batch(B):
    B = jnp.asarray(B)
    return B.reshape((-1, B.shape[-1])), B.shape[:-1]


@jax.custom_vjp
def _noisy_logdet(mats, noise):
    eig = kron_eigh(mats)
    return jnp.sum(jnp.log(eig.eigenvalues() + noise))


def _noisy_logdet_fwd(mats, noise):
    eig = kron_eigh(mats)
    lam = eig.eigenvalues() + noise
    return jnp.sum(jnp.log(lam)), (eig, 1.0 / lam)


def _noisy_logdet_bwd(res, g):
    eig, s = res
    return _logdet_cotangent(eig, s, g)


_noisy_logdet.defvjp(_noisy_logdet_fwd, _noisy_logdet_bwd)


@jax.jit
def kron_noisy_logdet(mats: Sequence, noise):
    """``log det(K_1 ⊗ ... ⊗ K_D + noise · I)`` -> scalar (Saatçi 2012, Alg. 5.2).

    Args:
        mats: symmetric positive semi-definite ``K_d`` ``(m_d, m_d)``.
        noise: scalar ``σ² > 0`` (non-positive gives ``-inf``/NaN).

    Gradient: ``∂/∂K_d = Q_d diag(w_d) Q_dᵀ`` with
    ``w_d[k] = Σ_{i_d = k} ∏_{e≠d} λ_{e,i_e} / (λ_i + σ²)`` and ``∂/∂σ² = Σ 1/(λ_i + σ²)``.
    """
    return _noisy_logdet(tuple(mats), jnp.asarray(noise))


@jax.custom_vjp
def _noisy_solve(mats, noise, B):
    eig = kron_eigh(mats)
    return kron_spectral_mvp(eig, 1.0 / (eig.eigenvalues() + noise), B)


def _noisy_solve_fwd(mats, noise, B):
    eig = kron_eigh(mats)
    s = 1.0 / (eig.eigenvalues() + noise)
    X = kron_spectral_mvp(eig, s, B)
    return X, (mats, eig, s, X)


def _noisy_solve_bwd(res, Xbar):
    mats, eig, s, X = res
    Bbar = kron_spectral_mvp(eig, s, Xbar)  # M symmetric: M⁻ᵀ X̄ = M⁻¹ X̄
    # d X = -M⁻¹ dM X  =>  cotangent of M is -B̄ Xᵀ, projected onto each factor.
    dK, dnoise = _bilinear_cotangent(mats, -Bbar.reshape(-1, Bbar.shape[-1]), X.reshape(-1, X.shape[-1]),
                                     eig.shape)
    return dK, dnoise, Bbar


_noisy_solve.defvjp(_noisy_solve_fwd, _noisy_solve_bwd)


@jax.jit
def kron_noisy_solve(mats: Sequence, noise, B):
    """``(K_1 ⊗ ... ⊗ K_D + noise · I)⁻¹ B`` for ``B`` ``(..., N)`` -> ``(..., N)``.

    ``O(Σ m_d³ + N Σ m_d)`` per call (eigendecompositions included). The
    gradient is the exact ``-M⁻¹ ∂M M⁻¹ B`` (no eigenvector derivatives).
    """
    return _noisy_solve(tuple(mats), jnp.asarray(noise), jnp.asarray(B))


def _gauss_parts(mats, noise, R):
    eig = kron_eigh(mats)
    lam = eig.eigenvalues() + noise
    s = 1.0 / lam
    T = kron_mvp([Q.T for Q in eig.vectors], R)  # (B, N)
    quad = jnp.sum(T * T * s, axis=-1)
    logdet = jnp.sum(jnp.log(lam))
    N = R.shape[-1]
    value = -0.5 * quad - 0.5 * logdet - 0.5 * N * LOG_2PI
    ok = jnp.isfinite(value)
    return jnp.where(ok, value, -jnp.inf), eig, s, T, ok


@jax.custom_vjp
def _gaussian(R, mats, noise):
    return _gauss_parts(mats, noise, R)[0]


def _gaussian_fwd(R, mats, noise):
    value, eig, s, T, ok = _gauss_parts(mats, noise, R)
    alpha = kron_mvp(eig.vectors, s * T)  # (B, N)
    return value, (mats, eig, s, alpha, ok)


def _gaussian_bwd(res, g):
    mats, eig, s, alpha, ok = res
    g = jnp.where(ok, g, 0.0)  # a rejected (non-finite) point gets a zero gradient, not NaN
    # value_b = -½ r_bᵀ M⁻¹ r_b - ½ log det M:  ∂/∂M = ½ α αᵀ - ½ M⁻¹.
    dK_q, dn_q = _bilinear_cotangent(mats, 0.5 * g[:, None] * alpha, alpha, eig.shape)
    dK_l, dn_l = _logdet_cotangent(eig, s, -0.5 * jnp.sum(g))
    dK = tuple(a + b for a, b in zip(dK_q, dK_l, strict=True))
    return -g[:, None] * alpha, dK, dn_q + dn_l


_gaussian.defvjp(_gaussian_fwd, _gaussian_bwd)


@jax.jit
def kron_gaussian_logpdf(r, mats: Sequence, noise):
    """``log N(r | 0, K_1 ⊗ ... ⊗ K_D + noise · I)`` for ``r`` ``(..., N)`` (grid order) -> ``(...)``.

    Exact: one eigendecomposition per axis, two Kronecker products per
    vector; ``O(Σ m_d³ + N Σ m_d)``. A non-finite value becomes ``-inf``
    (with a zero gradient). The custom VJP returns
    ``∂/∂K_d`` of ``½ αᵀ(⊗K)α`` terms and ``-½ Q_d diag(w_d) Q_dᵀ`` (see
    ``kron_noisy_logdet``), ``∂/∂noise = ½ αᵀα - ½ Σ 1/(λ_i + σ²)`` and
    ``∂/∂r = -α``, ``α = M⁻¹ r``.
    """
    R, batch = _as_batch(r)
    return _gaussian(R, tuple(mats), jnp.asarray(noise)).reshape(batch)
