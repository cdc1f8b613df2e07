"""Cholesky jitter policy of ``bayeskern.linalg.cholesky`` against numpy."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.kernels import RBF
from bayeskern.linalg import (
    CholeskyError,
    JitterWarning,
    add_jitter,
    cholesky,
    default_jitter,
    gaussian_logpdf,
    max_jitter,
)

N = 12


def _spd(n=N, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return A @ A.T + n * np.eye(n)


def _jittered(K, rel):
    K = np.asarray(K, dtype=np.float64)
    return K + rel * np.mean(np.diag(K)) * np.eye(K.shape[-1])


def _with_eigenvalues(eigs, seed=1):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    K = Q @ np.diag(eigs) @ Q.T
    return 0.5 * (K + K.T)


def test_policy_constants():
    assert default_jitter(jnp.float64) == 1e-10
    assert default_jitter(jnp.float32) == 1e-6
    assert max_jitter(jnp.float64) == 1e-4
    assert max_jitter(jnp.float32) == 1e-2


def test_add_jitter_is_relative_to_mean_diagonal():
    K = _spd()
    np.testing.assert_allclose(np.asarray(add_jitter(K, 1e-3)), _jittered(K, 1e-3), rtol=0, atol=1e-14)
    # batched: each matrix gets its own mean diagonal
    Kb = np.stack([K, 3.0 * K])
    out = np.asarray(add_jitter(Kb, 1e-3))
    np.testing.assert_allclose(out[1], _jittered(3.0 * K, 1e-3), rtol=1e-15)


def test_spd_matches_numpy_of_jittered_matrix_without_warning():
    K = _spd()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L = np.asarray(cholesky(K))
    ref = np.linalg.cholesky(_jittered(K, 1e-10))
    assert L.dtype == np.float64
    np.testing.assert_allclose(L, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    assert np.all(np.triu(L, 1) == 0.0)
    np.testing.assert_allclose(L @ L.T, _jittered(K, 1e-10), rtol=1e-12)


def test_explicit_jitter_argument():
    K = _spd()
    L = np.asarray(cholesky(K, jitter=1e-3))
    np.testing.assert_allclose(L, np.linalg.cholesky(_jittered(K, 1e-3)), rtol=1e-12)


def test_batched_matrices_factor_independently():
    Kb = np.stack([_spd(seed=0), 5.0 * _spd(seed=3)])
    L = np.asarray(cholesky(Kb))
    assert L.shape == Kb.shape
    for b in range(2):
        np.testing.assert_allclose(L[b], np.linalg.cholesky(_jittered(Kb[b], 1e-10)), rtol=1e-12)


@pytest.mark.parametrize("kind", ["duplicated_points", "low_rank"])
def test_rank_deficient_psd_factors_or_reports_jitter(kind):
    if kind == "duplicated_points":
        X = np.array([0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 2.0, 3.0, 3.5, 3.5, 4.0, 5.0])
        K = np.asarray(RBF(lengthscale=0.7)(X))
    else:
        X = np.random.default_rng(2).normal(size=(N, 2))
        K = X @ X.T  # rank 2
    assert np.linalg.matrix_rank(K) < N
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L = np.asarray(cholesky(K))
    assert np.all(np.isfinite(L))
    jitter_warnings = [w for w in caught if issubclass(w.category, JitterWarning)]
    if jitter_warnings:
        msg = str(jitter_warnings[0].message)
        used = float(re.search(r"jitter of ([0-9.]+e[-+][0-9]+)", msg).group(1))
        assert 1e-10 < used <= 1e-4
        np.testing.assert_allclose(L @ L.T, _jittered(K, used), rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(L @ L.T, _jittered(K, 1e-10), rtol=1e-10, atol=1e-12)


def test_escalation_warns_with_jitter_used():
    # smallest eigenvalue -1e-8 · mean diagonal: 1e-10 and 1e-9 fail, 1e-8 is borderline, 1e-7 works
    eigs = np.array([2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.5, 0.3, 0.2, -1e-8])
    K = _with_eigenvalues(eigs)
    with pytest.warns(JitterWarning) as rec:
        L = np.asarray(cholesky(K, name="Kfoo"))
    msg = str(rec[0].message)
    assert "Kfoo" in msg
    used = float(re.search(r"jitter of ([0-9.]+e[-+][0-9]+)", msg).group(1))
    assert used in (1e-8, 1e-7)
    assert "1.0e-10" in msg  # the default it started from
    np.testing.assert_allclose(L, np.linalg.cholesky(_jittered(K, used)), rtol=1e-10, atol=1e-12)


def test_indefinite_raises_cholesky_error_with_smallest_eigenvalue():
    K = _with_eigenvalues(np.array([3.0, 2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.6, 0.5, -1.0]))
    assert issubclass(CholeskyError, ValueError)
    with pytest.raises(CholeskyError) as info:
        cholesky(K, name="Kbad")
    msg = str(info.value)
    assert "Kbad" in msg
    assert "-1.000e+00" in msg
    assert "3.000e+00" in msg


def test_nan_matrix_raises():
    K = _spd()
    K[2, 3] = K[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cholesky(K)


@pytest.mark.parametrize("shape", [(3, 4), (5,), ()])
def test_non_square_raises(shape):
    with pytest.raises(ValueError, match="square"):
        cholesky(np.ones(shape))


def test_jit_indefinite_gives_non_finite_factor_not_exception():
    K = _with_eigenvalues(np.array([3.0, 2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.6, 0.5, -1.0]))
    L = jax.jit(cholesky)(K)
    assert not np.all(np.isfinite(np.asarray(L)))
    # while an SPD matrix under jit is unchanged
    Kp = _spd()
    np.testing.assert_allclose(np.asarray(jax.jit(cholesky)(Kp)), np.linalg.cholesky(_jittered(Kp, 1e-10)), rtol=1e-12)


def test_gaussian_logpdf_indefinite_is_minus_inf_with_zero_gradient():
    K = _with_eigenvalues(np.array([3.0, 2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.6, 0.5, -1.0]))
    r = np.linspace(-1.0, 1.0, N)
    assert float(gaussian_logpdf(r, K)) == -np.inf  # eager: -inf, no exception
    value, (dr, dK) = jax.jit(jax.value_and_grad(gaussian_logpdf, argnums=(0, 1)))(r, K)
    assert float(value) == -np.inf
    assert np.all(np.asarray(dr) == 0.0)  # zero, finite: a rejected proposal, not NaN
    assert np.all(np.asarray(dK) == 0.0)


def test_float32_cholesky_and_logpdf_close_to_float64():
    K64 = _spd()
    K32 = K64.astype(np.float32)
    r64 = np.linspace(-2.0, 2.0, N)
    r32 = r64.astype(np.float32)
    L32 = cholesky(K32)
    assert L32.dtype == jnp.float32
    L_ref = np.linalg.cholesky(_jittered(K64, 1e-6))  # float32 default relative jitter
    np.testing.assert_allclose(np.asarray(L32), L_ref, rtol=1e-5, atol=1e-5 * np.abs(L_ref).max())
    lp32 = gaussian_logpdf(jnp.asarray(r32), jnp.asarray(K32))
    lp64 = gaussian_logpdf(r64, K64)
    assert lp32.dtype == jnp.float32
    np.testing.assert_allclose(float(lp32), float(lp64), rtol=1e-5)
    g32 = jax.jit(jax.grad(gaussian_logpdf, argnums=1))(jnp.asarray(r32), jnp.asarray(K32))
    assert g32.dtype == jnp.float32
    a = np.linalg.solve(K64, r64)
    np.testing.assert_allclose(np.asarray(g32), 0.5 * (np.outer(a, a) - np.linalg.inv(K64)), rtol=1e-4, atol=1e-5)
