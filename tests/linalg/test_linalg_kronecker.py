"""``bayeskern.linalg.kronecker`` against dense NumPy: products, eigen-solves, log-determinants,
their custom gradients, conjugate gradients, and grid detection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.linalg.cg import cg_solve, conjugate_gradient
from bayeskern.linalg.grid import find_grid, grid_points, locate_on_grid
from bayeskern.linalg.kronecker import (
    kron_diag,
    kron_eigh,
    kron_gaussian_logpdf,
    kron_inverse_diagonal,
    kron_mvp,
    kron_noisy_logdet,
    kron_noisy_solve,
    kron_spectral_mvp,
    kron_sqrt_mvp,
    kron_vector,
)

RNG = np.random.default_rng(0)
SHAPE = (3, 2, 4)
NOISE = 0.3


def _spd(m, rng=RNG):
    A = rng.normal(size=(m, m))
    return A @ A.T / m + 0.1 * np.eye(m)


MATS = [_spd(m) for m in SHAPE]
N = int(np.prod(SHAPE))


def _dense(mats):
    out = np.ones((1, 1))
    for A in mats:
        out = np.kron(out, np.asarray(A))
    return out


def _dense_j(mats):
    out = jnp.ones((1, 1))
    for A in mats:
        out = jnp.kron(out, A)
    return out


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# -- products -------------------------------------------------------------------------
def test_mvp_square_rectangular_and_batched():
    v = RNG.normal(size=(2, 3, N))
    np.testing.assert_allclose(kron_mvp(MATS, v), v @ _dense(MATS).T, rtol=1e-12, atol=1e-12)
    rect = [RNG.normal(size=(p, m)) for p, m in zip((2, 6, 1), SHAPE, strict=True)]
    np.testing.assert_allclose(kron_mvp(rect, v[0]), v[0] @ _dense(rect).T, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="last dimension 24"):
        kron_mvp(MATS, np.ones(23))


def test_diag_and_vector():
    np.testing.assert_allclose(kron_diag(MATS), np.diag(_dense(MATS)), rtol=1e-14)
    vs = [RNG.normal(size=(2, m)) for m in SHAPE]
    ref = np.stack([np.kron(np.kron(vs[0][b], vs[1][b]), vs[2][b]) for b in range(2)])
    np.testing.assert_allclose(kron_vector(vs), ref, rtol=1e-14)


def test_eigh_inverse_diagonal_and_square_root():
    eig = kron_eigh(MATS)
    assert eig.shape == SHAPE
    K = _dense(MATS)
    np.testing.assert_allclose(np.sort(eig.eigenvalues()), np.linalg.eigvalsh(K), rtol=1e-10, atol=1e-12)
    M = K + NOISE * np.eye(N)
    np.testing.assert_allclose(kron_inverse_diagonal(eig, NOISE), np.diag(np.linalg.inv(M)), rtol=1e-10)
    S = np.asarray(kron_sqrt_mvp(eig, np.eye(N))).T  # columns S e_i
    np.testing.assert_allclose(S @ S.T, K, rtol=1e-10, atol=1e-12)



def test_spectral_mvp_applies_a_function_of_the_kronecker_matrix():
    eig = kron_eigh(MATS)
    K = _dense(MATS)
    B = RNG.normal(size=(2, N))
    lam = eig.eigenvalues()
    np.testing.assert_allclose(kron_spectral_mvp(eig, lam, B), B @ K, rtol=1e-9, atol=1e-12)  # K symmetric
    solved = kron_spectral_mvp(eig, 1.0 / (lam + NOISE), B)
    np.testing.assert_allclose(solved, np.linalg.solve(K + NOISE * np.eye(N), B.T).T, rtol=1e-9)

# -- noisy solve, log-determinant, Gaussian log density --------------------------------
def test_values_against_dense():
    K = _dense(MATS)
    M = K + NOISE * np.eye(N)
    B = RNG.normal(size=(3, N))
    assert abs(float(kron_noisy_logdet(MATS, NOISE)) - np.linalg.slogdet(M)[1]) < 1e-10
    np.testing.assert_allclose(kron_noisy_solve(MATS, NOISE, B), np.linalg.solve(M, B.T).T, rtol=1e-10, atol=1e-12)
    ref = multivariate_normal(np.zeros(N), M).logpdf(B)
    np.testing.assert_allclose(kron_gaussian_logpdf(B, MATS, NOISE), ref, rtol=1e-12)
    assert kron_gaussian_logpdf(B.reshape(3, 1, N), MATS, NOISE).shape == (3, 1)


def _dense_logpdf(r, mats, noise):
    M = _dense_j(mats) + noise * jnp.eye(N)
    L = jnp.linalg.cholesky(M)
    a = jax.scipy.linalg.cho_solve((L, True), r)
    return -0.5 * r @ a - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * N * np.log(2 * np.pi)


def test_custom_gradients_against_dense_autodiff():
    mats = tuple(jnp.asarray(A) for A in MATS)
    r = jnp.asarray(RNG.normal(size=N))
    W = jnp.asarray(RNG.normal(size=(2, N)))
    B = jnp.asarray(RNG.normal(size=(2, N)))
    pairs = [
        (jax.jit(jax.grad(lambda r, m, s: kron_gaussian_logpdf(r, m, s), argnums=(0, 1, 2)))(r, mats, NOISE),
         jax.grad(_dense_logpdf, argnums=(0, 1, 2))(r, mats, NOISE)),
        (jax.grad(lambda m, s: kron_noisy_logdet(m, s), argnums=(0, 1))(mats, NOISE),
         jax.grad(lambda m, s: jnp.linalg.slogdet(_dense_j(m) + s * jnp.eye(N))[1], argnums=(0, 1))(mats, NOISE)),
        (jax.grad(lambda m, s, b: jnp.sum(W * kron_noisy_solve(m, s, b)), argnums=(0, 1, 2))(mats, NOISE, B),
         jax.grad(lambda m, s, b: jnp.sum(W * jnp.linalg.solve(_dense_j(m) + s * jnp.eye(N), b.T).T),
                  argnums=(0, 1, 2))(mats, NOISE, B)),
    ]
    for got, ref in pairs:
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
            assert _rel(a, b) < 1e-9


def test_gradient_finite_with_repeated_eigenvalues():
    """A circulant factor (periodic kernel on a grid spanning whole periods) has paired eigenvalues:
    differentiating through JAX's eigenvectors there gives NaN or (pairs split by round-off) a wrong
    gradient; the custom VJP, written from the matrix identities, matches dense."""
    x = np.arange(8) / 8.0
    C = jnp.asarray(np.exp(-2 * np.sin(np.pi * (x[:, None] - x[None, :])) ** 2 / 0.7**2))
    w = np.linalg.eigvalsh(np.asarray(C))
    assert np.min(np.diff(np.sort(w))) < 1e-10  # degenerate pairs
    A = jnp.asarray(_spd(3))
    r = jnp.asarray(RNG.normal(size=24))

    def naive(C):  # quadratic form through eigenvectors, differentiated by JAX's eigh rule
        w1, Q1 = jnp.linalg.eigh(C)
        w2, Q2 = jnp.linalg.eigh(A)
        t = kron_mvp([Q1.T, Q2.T], r)
        return jnp.sum(t * t / (kron_vector([w1, w2]) + NOISE))

    ref = jax.grad(lambda C: _dense_logpdf_n(r, [C, A], NOISE, 24))(C)
    quad_ref = jax.grad(lambda C: r @ jnp.linalg.solve(jnp.kron(C, A) + NOISE * jnp.eye(24), r))(C)
    bad = np.asarray(jax.grad(naive)(C))
    assert not np.all(np.isfinite(bad)) or _rel(bad, quad_ref) > 1e-3
    got = jax.grad(lambda C: kron_gaussian_logpdf(r, [C, A], NOISE))(C)
    assert np.all(np.isfinite(np.asarray(got)))
    assert _rel(got, ref) < 1e-9


def _dense_logpdf_n(r, mats, noise, n):
    M = jnp.kron(mats[0], mats[1]) + noise * jnp.eye(n)
    return jax.scipy.stats.multivariate_normal.logpdf(r, jnp.zeros(n), M)


def test_non_positive_definite_gives_minus_inf_and_zero_gradient():
    A = -jnp.eye(3)
    val, g = jax.value_and_grad(lambda s: kron_gaussian_logpdf(jnp.ones(9), [jnp.eye(3), A], s))(0.1)
    assert val == -jnp.inf and g == 0.0


# -- conjugate gradients ---------------------------------------------------------------
def test_conjugate_gradients_solution_preconditioner_and_gradient():
    K = _dense(MATS)
    M = jnp.asarray(K + NOISE * np.eye(N))
    b = jnp.asarray(RNG.normal(size=N))
    x, info = conjugate_gradient(lambda v: M @ v, b, tol=1e-12)
    np.testing.assert_allclose(x, np.linalg.solve(M, b), rtol=1e-9)
    assert float(info.residual) <= 1e-12 and int(info.iterations) > 1
    # the exact inverse as preconditioner: one step
    Minv = jnp.linalg.inv(M)
    x1, info1 = conjugate_gradient(lambda v: M @ v, b, precondition=lambda v: Minv @ v, tol=1e-10)
    assert int(info1.iterations) <= 2
    # implicit gradient through custom_linear_solve
    got = jax.grad(lambda M, b: jnp.sum(cg_solve(lambda v: M @ v, b, tol=1e-12)[0] ** 2), argnums=(0, 1))(M, b)
    ref = jax.grad(lambda M, b: jnp.sum(jnp.linalg.solve(M, b) ** 2), argnums=(0, 1))(M, b)
    for a, c in zip(got, ref, strict=True):
        assert _rel(a, c) < 1e-7
    _, info2 = conjugate_gradient(lambda v: M @ v, b, tol=1e-14, maxiter=3)
    assert int(info2.iterations) == 3 and float(info2.residual) > 1e-14


# -- grids ---------------------------------------------------------------------------
AX = (np.array([0.0, 0.5, 1.5, 2.0]), np.array([-1.0, 1.0, 3.0]))


def test_find_grid_any_row_order():
    G = grid_points(AX)
    perm = RNG.permutation(len(G))
    coords, cells = find_grid(G[perm])
    for c, a in zip(coords, AX, strict=True):
        np.testing.assert_array_equal(c, a)
    np.testing.assert_array_equal(cells, perm)  # row i of G[perm] is grid cell perm[i]
    np.testing.assert_array_equal(G[perm][np.argsort(cells)], G)


def test_find_grid_reasons():
    G = grid_points([np.arange(8.0), np.arange(5.0)])
    with pytest.raises(ValueError, match="37 of the 40 combinations"):
        find_grid(G[3:])
    with pytest.raises(ValueError, match="rows 0 and 40 are the same point"):
        find_grid(np.vstack([G, G[:1]]))
    with pytest.raises(ValueError, match="not a Cartesian grid"):
        find_grid(RNG.uniform(size=(30, 2)))


def test_locate_on_grid():
    G = grid_points(AX)
    sub = G[[5, 0, 11]]
    np.testing.assert_array_equal(locate_on_grid(sub, AX), [5, 0, 11])
    np.testing.assert_array_equal(locate_on_grid(sub + 1e-12, AX), [5, 0, 11])  # round-off tolerated
    bad = G.copy()
    bad[5, 1] = 0.2
    with pytest.raises(ValueError, match="point 5 is not on the grid.*axis 1"):
        locate_on_grid(bad, AX)
    with pytest.raises(ValueError, match="same grid cell"):
        locate_on_grid(G[[1, 2, 1]], AX)
    with pytest.raises(ValueError, match="2 axes but X has 3"):
        locate_on_grid(np.zeros((2, 3)), AX)
