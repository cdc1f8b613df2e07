"""``inverse_from_cholesky``: the LAPACK (potri) path against the XLA path and NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (float64)
from bayeskern.linalg import gaussian_logpdf, inverse_from_cholesky, triangular

RNG = np.random.default_rng(4)


@pytest.fixture(autouse=True)
def _lapack_at_every_size(monkeypatch):
    """The matrices here are small; take the LAPACK path for them too (read at trace time)."""
    monkeypatch.setattr(triangular, "POTRI_MIN_SIZE", 0)


def _spd(n, dtype):
    A = RNG.normal(size=(n, n))
    return (A @ A.T / n + np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("xla", ["0", "1"])
def test_inverse_matches_numpy_and_is_symmetric(monkeypatch, dtype, tol, xla):
    monkeypatch.setenv("BAYESKERN_XLA_INVERSE", xla)
    K = _spd(40, dtype)
    L = jnp.linalg.cholesky(jnp.asarray(K))
    for f in (inverse_from_cholesky, jax.jit(inverse_from_cholesky)):
        Kinv = np.asarray(f(L))
        assert Kinv.dtype == dtype
        np.testing.assert_allclose(Kinv, np.linalg.inv(K.astype(np.float64)), atol=tol * 10, rtol=tol * 10)
        if xla == "0":
            np.testing.assert_array_equal(Kinv, Kinv.T)


def test_inverse_under_vmap_matches_per_matrix():
    Ks = np.stack([_spd(12, np.float64) for _ in range(3)])
    Ls = jnp.linalg.cholesky(jnp.asarray(Ks))
    out = jax.vmap(inverse_from_cholesky)(Ls)
    np.testing.assert_allclose(out, np.linalg.inv(Ks), rtol=1e-10, atol=1e-12)


def test_failed_factor_gives_nan_not_an_exception():
    assert np.all(np.isnan(np.asarray(jax.jit(inverse_from_cholesky)(jnp.full((4, 4), jnp.nan)))))


def test_lapack_and_xla_gradients_of_the_gaussian_log_density_agree(monkeypatch):
    K = jnp.asarray(_spd(30, np.float64))
    r = jnp.asarray(RNG.normal(size=30))
    grads = {}
    for xla in ("0", "1"):
        monkeypatch.setenv("BAYESKERN_XLA_INVERSE", xla)
        grads[xla] = jax.grad(gaussian_logpdf, argnums=1)(r, K)  # eager: the env var is read at trace time
    np.testing.assert_allclose(grads["0"], grads["1"], rtol=1e-10, atol=1e-13)
