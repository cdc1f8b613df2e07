"""Random Fourier features: unbiasedness, the 1/√M error rate, orthogonal and simplex couplings."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.features import (
    RFFBasis,
    orthogonal_directions,
    rff_features,
    rff_frequencies,
    simplex_directions,
)
from bayeskern.kernels import RBF, Linear, Matern52, Periodic, SpectralMixture

RNG = np.random.default_rng(0)
X4 = RNG.normal(size=(40, 4)) * 0.7
LS4 = np.array([1.0, 1.5, 0.8, 1.2])
SEEDS = jnp.arange(24)


SIZES = (32, 128, 512)


@functools.partial(jax.jit, static_argnames=("kind",))
def _relative_errors(kernel, X, kind):
    """Relative Frobenius errors ``(len(SEEDS), len(SIZES))`` of Φ Φᵀ.

    One draw of 512 frequencies per seed; the first M rows are a valid draw of
    M (whole blocks of d for the coupled kinds), so one compilation serves all M.
    """
    K = kernel(X)

    def one(seed):
        basis = RFFBasis.from_kernel(kernel, jax.random.PRNGKey(seed), SIZES[-1], X.shape[1], kind)
        out = []
        for M in SIZES:
            sub = RFFBasis([basis.frequencies[0][:M]], basis.variances, basis.active_dims)
            P = sub.features(X)
            out.append(jnp.linalg.norm(P @ P.T - K) / jnp.linalg.norm(K))
        return jnp.stack(out)

    return jax.vmap(one)(SEEDS)


@pytest.mark.slow
def test_error_rate_and_couplings():
    """For each kind the error falls as 1/√M; orthogonal and simplex couplings are not worse than i.i.d."""
    k = RBF(lengthscale=LS4, variance=1.3)
    errs = {kind: np.asarray(_relative_errors(k, X4, kind)).mean(0) for kind in ("iid", "orthogonal", "simplex")}
    for kind, e in errs.items():
        # 4x the features: error / 2 (1/√M), within Monte Carlo slack
        ratios = e[:-1] / e[1:]
        assert np.all((ratios > 1.6) & (ratios < 2.5)), (kind, e)
    # coupled frequencies are not worse than i.i.d. ones on average (measured: 10-20 % better)
    assert np.all(errs["orthogonal"] <= errs["iid"] * 1.02), errs
    assert np.all(errs["simplex"] <= errs["iid"] * 1.02), errs


@pytest.mark.slow
@pytest.mark.parametrize("kernel, kind", [(Matern52, "iid"), (RBF, "orthogonal"), (RBF, "simplex")])
def test_unbiased(kernel, kind):
    k = kernel(lengthscale=LS4, variance=0.8)
    X = X4[:8]

    @jax.jit
    def grams(seeds):
        def gram(seed):
            P = RFFBasis.from_kernel(k, jax.random.PRNGKey(seed), 8, 4, kind).features(X)
            return P @ P.T
        return jax.vmap(gram)(seeds)

    G = grams(jnp.arange(2000))
    mean, se = np.asarray(G.mean(0)), np.asarray(G.std(0)) / np.sqrt(2000)
    assert np.all(np.abs(mean - np.asarray(k(X))) < 4.5 * se + 1e-12)


@pytest.mark.slow
def test_direction_blocks():
    Q = np.asarray(orthogonal_directions(jax.random.PRNGKey(0), 10, 4))
    assert Q.shape == (10, 4)
    np.testing.assert_allclose(Q[:4] @ Q[:4].T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(Q[4:8] @ Q[4:8].T, np.eye(4), atol=1e-12)
    S = np.asarray(simplex_directions(jax.random.PRNGKey(1), 8, 4))
    G = S[:4] @ S[:4].T
    np.testing.assert_allclose(np.diag(G), 1.0, atol=1e-12)
    np.testing.assert_allclose(G[~np.eye(4, dtype=bool)], -1.0 / 3.0, atol=1e-12)
    s1 = np.asarray(simplex_directions(jax.random.PRNGKey(1), 5, 1))
    assert set(np.abs(s1).ravel()) == {1.0}


@pytest.mark.parametrize("kind", ["iid", "orthogonal", "simplex"])
def test_fixed_key_is_a_scale_family(kind):
    """Same key: frequencies for lengthscale ℓ are the unit ones divided by ℓ (how models keep them fixed)."""
    key = jax.random.PRNGKey(7)
    w1 = np.asarray(rff_frequencies(RBF(lengthscale=1.0), key, 9, 3, kind))
    w2 = np.asarray(rff_frequencies(RBF(lengthscale=np.array([2.0, 0.5, 1.0])), key, 9, 3, kind))
    np.testing.assert_allclose(w2, w1 / np.array([2.0, 0.5, 1.0]), rtol=1e-12)
    # and gradients with respect to the lengthscale flow through the rescaling
    g = jax.grad(lambda ls: jnp.sum(rff_features(RBF(lengthscale=ls), X4[:, :3], key=key, num_features=9,
                                                  kind=kind)))(1.3)
    assert np.isfinite(float(g))


@pytest.mark.slow
def test_other_kernels_sums_and_active_dims():
    X = X4[:, :2]
    key = jax.random.PRNGKey(3)
    sm = SpectralMixture(weights=np.array([0.5, 0.7]), means=np.array([[0.2, 0.0], [0.0, 0.3]]),
                         scales=np.array([[0.3, 0.2], [0.2, 0.4]]))

    def err(k):
        P = rff_features(k, X, key=key, num_features=1500)
        return jnp.abs(P @ P.T - k(X)).max()

    for k in (sm, RBF(lengthscale=1.1) + 2.0 * RBF(lengthscale=0.7, active_dims=[1])):
        assert float(err(k)) < 0.2
    assert rff_features(RBF() + sm, X, key=key, num_features=10).shape == (40, 40)


def test_bad_input():
    X = X4[:, :2]
    key = jax.random.PRNGKey(3)
    rbf = RBF(lengthscale=0.9)
    sm = SpectralMixture(weights=np.array([0.5, 0.7]), means=np.array([[0.2, 0.0], [0.0, 0.3]]),
                         scales=np.array([[0.3, 0.2], [0.2, 0.4]]))
    with pytest.raises(ValueError, match="isotropic"):
        rff_features(sm, X, key=key, num_features=10, kind="orthogonal")
    with pytest.raises(ValueError, match="discrete spectrum"):
        rff_features(Periodic(), X, key=key, num_features=10)
    with pytest.raises(ValueError, match="not a stationary"):
        rff_features(Linear(), X, key=key, num_features=10)
    with pytest.raises(ValueError, match="rff_kind"):
        rff_features(rbf, X, key=key, num_features=10, kind="qmc")
    with pytest.raises(ValueError, match="num_features"):
        rff_features(rbf, X, key=key, num_features=0)


def test_basis_component_weights():
    k1, k2 = RBF(lengthscale=0.5), Matern52(lengthscale=2.0, variance=3.0)
    k = k1 + 2.0 * k2
    basis = RFFBasis.from_kernel(k, jax.random.PRNGKey(0), 5, 1, "iid")
    np.testing.assert_allclose(np.asarray(basis.weights()), [1.0] * 10 + [6.0] * 10)
    np.testing.assert_allclose(np.asarray(basis.component_weights(k, k2)), [0.0] * 10 + [6.0] * 10)
    with pytest.raises(ValueError, match="summands"):
        basis.component_weights(k, RBF())
