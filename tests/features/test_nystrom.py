"""Nyström features (Williams & Seeger 2001) and landmark selection."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.features.nystrom import (
    INDUCING_JITTER,
    Nystrom,
    nystrom_features,
    select_landmarks,
)
from bayeskern.kernels import RBF, Matern52

RNG = np.random.default_rng(0)
X = RNG.uniform(-2.0, 2.0, (40, 2))
KERNEL = Matern52(lengthscale=np.array([0.7, 1.1]), variance=1.5)


K = np.asarray(KERNEL(X))


def _rows(Z):
    return [int(np.flatnonzero(np.all(X == z, axis=1))[0]) for z in Z]


@jax.jit
def _features_and_gram(Z):
    P = nystrom_features(KERNEL, X, Z, jitter=1e-12)
    return P, P @ P.T


def test_features_reproduce_the_nystrom_gram_and_are_exact_at_M_equal_n():
    order = select_landmarks(X, len(X), seed=0)  # k-means++ order: prefixes are nested landmark sets
    errors = []
    for M in (5, 20, 40):
        Z = order[:M]
        P, G = _features_and_gram(jnp.asarray(Z))
        assert P.shape == (40, M)
        idx = _rows(Z)
        Kmm = K[np.ix_(idx, idx)] + 1e-12 * 1.5 * np.eye(M)
        Knm = K[:, idx]
        np.testing.assert_allclose(G, Knm @ np.linalg.solve(Kmm, Knm.T), atol=1e-8)
        gap = K - np.asarray(G)
        assert np.linalg.eigvalsh(gap).min() > -1e-8  # Q_nn ⪯ K_nn
        errors.append(np.trace(gap))
    assert all(e2 <= e1 + 1e-10 for e1, e2 in itertools.pairwise(errors)), errors  # nested landmarks: monotone
    assert errors[0] > 1e-2 and errors[-1] < 1e-8  # exact at M = n


def test_default_jitter_and_class_interface():
    Z = select_landmarks(X, 8, seed=3)
    basis = Nystrom(KERNEL, Z)
    assert basis.num_features == 8
    P = np.asarray(jax.jit(lambda Z: nystrom_features(KERNEL, X, Z))(Z))
    np.testing.assert_allclose(basis(X), P, atol=1e-12)
    np.testing.assert_allclose(basis.gram(X[:5], X[5:9]), P[:5] @ P[5:9].T, atol=1e-12)
    idx = _rows(Z)
    Kmm = K[np.ix_(idx, idx)] + INDUCING_JITTER * 1.5 * np.eye(8)
    np.testing.assert_allclose(P @ P.T, K[:, idx] @ np.linalg.solve(Kmm, K[:, idx].T), atol=1e-9)
    # as a basis: draws f = Φ w, w ~ N(0, I) have covariance Q_nn
    w = np.random.default_rng(0).normal(size=(8, 20000))
    np.testing.assert_allclose(np.cov((P @ w)[:6]), (P @ P.T)[:6, :6], atol=0.08)


def test_features_are_differentiable_in_landmarks_and_hyperparameters():
    Z = jnp.asarray(select_landmarks(X, 6, seed=1))

    def trace_error(log_ls, Z):
        k = RBF(lengthscale=jnp.exp(log_ls))
        P = nystrom_features(k, X, Z)
        return jnp.sum(k.diag(X)) - jnp.sum(P * P)

    g_ls, g_Z = jax.jit(jax.grad(trace_error, argnums=(0, 1)))(jnp.log(0.8), Z)
    assert np.isfinite(g_ls) and np.all(np.isfinite(g_Z)) and np.any(g_Z != 0)
    h = 1e-6
    value = jax.jit(trace_error)
    fd = (value(jnp.log(0.8) + h, Z) - value(jnp.log(0.8) - h, Z)) / (2 * h)
    np.testing.assert_allclose(g_ls, fd, rtol=1e-5)


def test_select_landmarks_is_deterministic_and_checks_its_arguments():
    a = select_landmarks(X, 10, seed=7)
    np.testing.assert_array_equal(a, select_landmarks(X, 10, seed=7))
    assert not np.array_equal(a, select_landmarks(X, 10, seed=8))
    assert len({tuple(r) for r in a}) == 10 and all(any(np.all(r == x) for x in X) for r in a)
    r = select_landmarks(X, 10, seed=7, selection="random")
    np.testing.assert_array_equal(r, select_landmarks(X, 10, seed=7, selection="random"))
    # k-means++ spreads the landmarks: larger minimum pairwise distance than random subsets on average
    def min_dist(Z):
        D = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
        return D[np.triu_indices(len(Z), 1)].min()

    kpp = np.mean([min_dist(select_landmarks(X, 10, seed=s)) for s in range(10)])
    rnd = np.mean([min_dist(select_landmarks(X, 10, seed=s, selection="random")) for s in range(10)])
    assert kpp > rnd
    # duplicates in X: still distinct rows chosen while distinct rows remain
    Xd = np.repeat(X[:3], 5, axis=0)
    assert len({tuple(r) for r in select_landmarks(Xd, 3, seed=0)}) == 3
    with pytest.raises(ValueError, match="num"):
        select_landmarks(X, 0)
    with pytest.raises(ValueError, match="num"):
        select_landmarks(X, 41)
    with pytest.raises(ValueError, match="selection"):
        select_landmarks(X, 5, selection="grid")
    with pytest.raises(ValueError, match="X"):
        select_landmarks(np.array([[0.0], [np.nan]]), 1)


def test_landmarks_with_the_wrong_dimension_are_rejected():
    with pytest.raises(ValueError, match="landmarks"):
        nystrom_features(KERNEL, X, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="landmarks"):
        nystrom_features(KERNEL, X, np.zeros(4))  # (M,) only for 1-D inputs
    with pytest.raises(ValueError, match="X"):
        Nystrom(KERNEL, np.zeros((4, 2)))(np.zeros((3, 1)))
    P = nystrom_features(RBF(), np.linspace(0, 1, 7), np.array([0.2, 0.8]))  # 1-D: (M,) landmarks are fine
    assert P.shape == (7, 2)
