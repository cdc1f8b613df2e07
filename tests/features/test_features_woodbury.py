"""``bayeskern.linalg.woodbury`` against dense NumPy/SciPy linear algebra on the same matrices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.linalg.woodbury import (
    safe_sqrt_weights,
    woodbury_factor,
    woodbury_inverse_diagonal,
    woodbury_logdet,
    woodbury_logpdf,
    woodbury_posterior_weights,
    woodbury_solve,
)

RNG = np.random.default_rng(3)
N, M = 40, 7
PHI = RNG.normal(size=(N, M))
S = np.exp(RNG.normal(size=M))
S[-1] = 0.0  # an underflowed spectral weight
R = RNG.normal(size=N)


def _dense(noise):
    return PHI @ np.diag(S) @ PHI.T + np.diag(np.broadcast_to(noise, (N,)))


NOISES = [0.3, np.linspace(0.05, 0.9, N)]
IDS = ["scalar_noise", "per_point_noise"]


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_logpdf_matches_dense(noise):
    C = _dense(noise)
    ref = multivariate_normal(np.zeros(N), C).logpdf(R)
    got = float(woodbury_logpdf(R, PHI, S, noise))
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    # batched residuals (..., n)
    Rb = RNG.normal(size=(2, 3, N))
    gotb = np.asarray(woodbury_logpdf(Rb, PHI, S, noise))
    assert gotb.shape == (2, 3)
    np.testing.assert_allclose(gotb, multivariate_normal(np.zeros(N), C).logpdf(Rb), rtol=1e-10)


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_solve_logdet_inverse_diagonal(noise):
    C = _dense(noise)
    fac = woodbury_factor(PHI, S, noise)
    np.testing.assert_allclose(np.asarray(woodbury_solve(fac, R)), np.linalg.solve(C, R), rtol=1e-9, atol=1e-12)
    B = RNG.normal(size=(N, 3))
    np.testing.assert_allclose(np.asarray(woodbury_solve(fac, B)), np.linalg.solve(C, B), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float(woodbury_logdet(fac)), np.linalg.slogdet(C)[1], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(woodbury_inverse_diagonal(fac)), np.diag(np.linalg.inv(C)), rtol=1e-9)


def test_posterior_weights_match_bayesian_linear_regression():
    noise = 0.2
    fac = woodbury_factor(PHI, S, noise)
    U = PHI * np.sqrt(S)
    A = np.eye(M) + U.T @ U / noise
    np.testing.assert_allclose(np.asarray(woodbury_posterior_weights(fac, R)), np.linalg.solve(A, U.T @ R / noise),
                               rtol=1e-10, atol=1e-13)
    Lc = np.asarray(fac.chol)
    np.testing.assert_allclose(Lc @ Lc.T, A, rtol=1e-12)


def test_gradient_matches_dense_autodiff():
    noise = np.linspace(0.05, 0.9, N)
    s_pos = S + 0.1  # dense sqrt-free formula; compare all three gradients

    def dense(Phi, s, nz):
        C = Phi @ jnp.diag(s) @ Phi.T + jnp.diag(nz)
        L = jnp.linalg.cholesky(C)
        a = jax.scipy.linalg.cho_solve((L, True), R)
        return -0.5 * R @ a - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * N * np.log(2 * np.pi)

    got = jax.jit(jax.grad(woodbury_logpdf, argnums=(1, 2, 3)))(R, PHI, s_pos, noise)
    ref = jax.jit(jax.grad(dense, argnums=(0, 1, 2)))(PHI, s_pos, noise)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-8, atol=1e-11)


def test_zero_weight_has_finite_gradient():
    g = jax.jit(jax.grad(lambda s: woodbury_logpdf(R, PHI, s, 0.3)))(S)
    assert np.all(np.isfinite(np.asarray(g)))
    assert float(jax.grad(lambda x: safe_sqrt_weights(x))(0.0)) == 0.0


def test_nonfinite_gives_minus_inf():
    assert float(woodbury_logpdf(R, PHI, S, 0.0)) == -np.inf
