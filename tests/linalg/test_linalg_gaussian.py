"""Triangular helpers and the Gaussian log density (value and custom VJP) against references."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from jax.scipy.linalg import solve_triangular
from scipy.stats import multivariate_normal

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Matern52, Periodic
from bayeskern.linalg import (
    cho_solve,
    gaussian_logpdf,
    gaussian_logpdf_from_cholesky,
    inverse_from_cholesky,
    logdet_from_cholesky,
    whiten,
)

N = 12
JIT = 1e-10


def _spd(n=N, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return A @ A.T + 0.5 * n * np.eye(n)


def _jittered(K, rel=JIT):
    return K + rel * np.mean(np.diag(K)) * np.eye(K.shape[-1])


# -- triangular helpers ----------------------------------------------------
def test_triangular_helpers_against_numpy():
    K = _spd()
    L = np.linalg.cholesky(K)
    rng = np.random.default_rng(5)
    b = rng.normal(size=N)
    B = rng.normal(size=(N, 3))
    np.testing.assert_allclose(np.asarray(cho_solve(L, b)), np.linalg.solve(K, b), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(cho_solve(L, B)), np.linalg.solve(K, B), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(whiten(L, B)), np.linalg.solve(L, B), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(whiten(L, b)), np.linalg.solve(L, b), rtol=1e-10)
    sign, logdet = np.linalg.slogdet(K)
    assert sign == 1.0
    np.testing.assert_allclose(float(logdet_from_cholesky(L)), logdet, rtol=1e-12)
    Kinv = np.asarray(inverse_from_cholesky(L))
    np.testing.assert_allclose(Kinv, np.linalg.inv(K), rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(Kinv, Kinv.T)
    # batched log-determinant
    Lb = np.stack([L, np.linalg.cholesky(2.0 * K)])
    np.testing.assert_allclose(
        np.asarray(logdet_from_cholesky(Lb)), [logdet, logdet + N * np.log(2.0)], rtol=1e-12
    )


# -- log density value -----------------------------------------------------
def test_gaussian_logpdf_matches_scipy():
    K = _spd()
    r = np.random.default_rng(1).normal(size=N)
    ref = multivariate_normal(mean=np.zeros(N), cov=_jittered(K)).logpdf(r)
    np.testing.assert_allclose(float(gaussian_logpdf(r, K)), ref, rtol=1e-8)
    # and the tiny default jitter really is tiny
    np.testing.assert_allclose(
        float(gaussian_logpdf(r, K)), multivariate_normal(np.zeros(N), K).logpdf(r), rtol=1e-8
    )


def test_gaussian_logpdf_batched_r_and_K():
    K = _spd()
    R = np.random.default_rng(2).normal(size=(3, N))
    mvn = multivariate_normal(mean=np.zeros(N), cov=_jittered(K))
    f = jax.jit(gaussian_logpdf)
    out = np.asarray(f(R, K))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, mvn.logpdf(R), rtol=1e-8)
    Kb = np.stack([K, _spd(seed=4), 2.0 * K])
    outb = np.asarray(f(R, Kb))
    ref = [multivariate_normal(np.zeros(N), _jittered(Kb[i])).logpdf(R[i]) for i in range(3)]
    np.testing.assert_allclose(outb, ref, rtol=1e-8)


def test_gaussian_logpdf_from_cholesky_matches_scipy():
    K = _spd()
    L = np.linalg.cholesky(K)
    R = np.random.default_rng(3).normal(size=(3, N))
    mvn = multivariate_normal(mean=np.zeros(N), cov=K)
    np.testing.assert_allclose(float(gaussian_logpdf_from_cholesky(R[0], L)), mvn.logpdf(R[0]), rtol=1e-10)
    out = np.asarray(gaussian_logpdf_from_cholesky(R, L))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, mvn.logpdf(R), rtol=1e-10)


def test_gaussian_logpdf_from_cholesky_two_batch_dims():
    """Docstring promises r (..., n) -> (...); a (2, 3, n) batch must work too."""
    K = _spd()
    L = np.linalg.cholesky(K)
    R = np.random.default_rng(3).normal(size=(2, 3, N))
    out = np.asarray(gaussian_logpdf_from_cholesky(R, L))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, multivariate_normal(np.zeros(N), K).logpdf(R), rtol=1e-10)


# -- custom gradient -------------------------------------------------------
def _plain_logpdf(r, K):
    """Reference: plain Cholesky implementation differentiated by JAX (jitter held constant,
    as in the analytic rule)."""
    n = r.shape[-1]
    c = jax.lax.stop_gradient(JIT * jnp.mean(jnp.diag(K)))
    L = jnp.linalg.cholesky(K + c * jnp.eye(n))
    a = solve_triangular(L, r, lower=True)
    return -0.5 * a @ a - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * n * jnp.log(2 * jnp.pi)


def test_custom_gradient_matches_autodiff_of_plain_cholesky():
    K = _spd()
    r = np.random.default_rng(6).normal(size=N)
    both = jax.jit(lambda r, K: (jax.value_and_grad(gaussian_logpdf, argnums=(0, 1))(r, K),
                                 jax.value_and_grad(_plain_logpdf, argnums=(0, 1))(r, K)))
    (v, (dr, dK)), (v_ref, (dr_ref, dK_ref)) = both(r, K)
    np.testing.assert_allclose(float(v), float(v_ref), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(dr), np.asarray(dr_ref), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(dK), np.asarray(dK_ref), rtol=1e-8, atol=1e-12)
    # closed form ½(ααᵀ - K⁻¹), α = K⁻¹ r
    alpha = np.linalg.solve(K, r)
    np.testing.assert_allclose(
        np.asarray(dK), 0.5 * (np.outer(alpha, alpha) - np.linalg.inv(K)), rtol=1e-7, atol=1e-10
    )


def test_custom_gradient_batched_r():
    K = _spd()
    R = np.random.default_rng(7).normal(size=(3, N))
    w = np.array([1.0, -2.0, 0.5])  # distinct cotangents per batch element

    def f(R, K):
        return jnp.sum(w * gaussian_logpdf(R, K))

    def g(R, K):
        return jnp.sum(w * jax.vmap(_plain_logpdf, in_axes=(0, None))(R, K))

    (dR, dK), (dR_ref, dK_ref) = jax.jit(lambda R, K: (jax.grad(f, argnums=(0, 1))(R, K),
                                                        jax.grad(g, argnums=(0, 1))(R, K)))(R, K)
    np.testing.assert_allclose(np.asarray(dR), np.asarray(dR_ref), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(dK), np.asarray(dK_ref), rtol=1e-8, atol=1e-12)


# -- gradient pushed through kernel hyperparameters -------------------------
_X1 = np.linspace(0.0, 3.0, 12)
_X2 = np.random.default_rng(8).uniform(0.0, 2.0, size=(12, 2))
_Y = np.sin(2.0 * _X1) + 0.3 * np.random.default_rng(9).normal(size=12)


def _build(case, p):
    if case == "rbf":
        return RBF(lengthscale=p["ls"], variance=p["var"]), _X1
    if case == "matern52_ard":
        return Matern52(lengthscale=p["ls"], variance=p["var"]), _X2
    return RBF(lengthscale=p["ls"], variance=p["var"]) + Periodic(
        lengthscale=p["pls"], period=p["period"], variance=p["pvar"]
    ), _X1


def _numpy_gram(case, p):
    """The same kernels written out in numpy (R&W 2006 eqs. 4.9, 4.17, 4.31)."""
    if case == "matern52_ard":
        D = (_X2[:, None, :] - _X2[None, :, :]) / p["ls"]
        r = np.sqrt(np.sum(D * D, axis=-1))
        s = np.sqrt(5.0) * r
        return p["var"] * (1.0 + s + s * s / 3.0) * np.exp(-s)
    tau = _X1[:, None] - _X1[None, :]
    K = p["var"] * np.exp(-0.5 * tau**2 / p["ls"] ** 2)
    if case == "sum_rbf_periodic":
        K = K + p["pvar"] * np.exp(-2.0 * np.sin(np.pi * tau / p["period"]) ** 2 / p["pls"] ** 2)
    return K


def _numpy_loglik(case, p):
    C = _numpy_gram(case, p) + p["noise"] * np.eye(12)
    return multivariate_normal(np.zeros(12), C).logpdf(_Y)


_PARAMS = {
    "rbf": {"ls": 0.8, "var": 1.3, "noise": 0.1},
    "matern52_ard": {"ls": np.array([0.6, 1.4]), "var": 0.9, "noise": 0.05},
    "sum_rbf_periodic": {"ls": 1.5, "var": 0.7, "pls": 0.9, "period": 1.1, "pvar": 0.6, "noise": 0.2},
}


@pytest.mark.parametrize("case", list(_PARAMS))
def test_hyperparameter_gradient_matches_autodiff_and_finite_differences(case):
    params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in _PARAMS[case].items()}

    def ours(p):
        k, X = _build(case, p)
        return GaussianProcess(k, X, noise=p["noise"]).log_prob(_Y)

    def reference(p):
        k, X = _build(case, p)
        C = k(X) + p["noise"] * jnp.eye(12)
        return dist.MultivariateNormal(jnp.zeros(12), covariance_matrix=C).log_prob(_Y)

    (v, g), (v_ref, g_ref) = jax.jit(lambda p: (jax.value_and_grad(ours)(p), jax.value_and_grad(reference)(p)))(params)
    np.testing.assert_allclose(float(v), float(v_ref), rtol=1e-8)
    np.testing.assert_allclose(float(v), _numpy_loglik(case, _PARAMS[case]), rtol=1e-8)
    for name in params:
        np.testing.assert_allclose(np.asarray(g[name]), np.asarray(g_ref[name]), rtol=1e-6, atol=1e-9,
                                   err_msg=f"{case}: d/d{name}")

    # central finite differences of an independent numpy implementation, one coordinate at a time
    base = {k: np.asarray(v, dtype=np.float64) for k, v in _PARAMS[case].items()}
    for name, value in base.items():
        flat = np.atleast_1d(value)
        fd = np.empty_like(flat)
        for j in range(flat.size):
            h = 1e-5 * max(1.0, abs(flat[j]))
            up, down = flat.copy(), flat.copy()
            up[j] += h
            down[j] -= h
            f_up = _numpy_loglik(case, {**base, name: up.reshape(value.shape)})
            f_down = _numpy_loglik(case, {**base, name: down.reshape(value.shape)})
            fd[j] = (f_up - f_down) / (2 * h)
        np.testing.assert_allclose(np.atleast_1d(np.asarray(g[name])), fd, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case}: finite differences d/d{name}")


def test_second_derivative_through_custom_vjp():
    """Laplace approximations need forward-over-reverse derivatives through the custom VJP."""
    K = _spd()
    r = np.random.default_rng(10).normal(size=N)

    ours = float(jax.jit(jax.hessian(lambda s: gaussian_logpdf(r, s * K)))(1.3))
    # closed form: d²/ds² [-½ rᵀK⁻¹r/s - ½ n log s] = -rᵀK⁻¹r/s³ + n/(2s²)
    q = r @ np.linalg.solve(K, r)
    np.testing.assert_allclose(ours, -q / 1.3**3 + N / (2 * 1.3**2), rtol=1e-7)
