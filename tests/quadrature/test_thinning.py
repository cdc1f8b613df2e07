"""Kernel thinning: MMD against the closed-form kernel mean, KT-SPLIT's walk, subsets, shapes, bad input."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF, Matern32
from bayeskern.quadrature import Empirical, Gaussian, Uniform, embed, integrate, kernel_thinning, mmd, monte_carlo
from bayeskern.quadrature.thinning import kt_split_indices, kt_swap_indices

SEEDS = range(5)


def _mmd_dense(kernel, measure, X):
    """Equal-weight MMD from the Gram matrix and kernel mean, written out (independent of ``mmd``)."""
    emb = embed(kernel, measure, X)
    w = float(measure.mass) / X.shape[0]
    K = np.asarray(kernel(X))
    return math.sqrt(max(float(emb.initial) - 2 * w * float(np.sum(emb.z)) + w * w * K.sum(), 0.0))


@pytest.mark.parametrize("kernel,measure,num", [
    (RBF(lengthscale=0.3), Uniform([0.0, 0.0], [1.0, 1.0]), 16),
    (Matern32(lengthscale=0.2), Uniform(0.0, 2.0, normalized=False), 16),
    (RBF(lengthscale=0.8), Gaussian([0.0, 0.0], [[1.0, 0.4], [0.4, 0.6]]), 16),
])
def test_thinned_sets_have_much_smaller_mmd_than_iid_sets(kernel, measure, num):
    kt = [_mmd_dense(kernel, measure, kernel_thinning(kernel, measure, num, seed=s)) for s in SEEDS]
    iid = [_mmd_dense(kernel, measure, monte_carlo(measure, num, seed=s)) for s in SEEDS]
    # Measured medians: 0.15-0.19 of i.i.d. at n = 256 input points; the bound leaves room for other seeds.
    assert np.median(kt) < 0.4 * np.median(iid)
    # The library's mmd() agrees with the dense formula.
    X = kernel_thinning(kernel, measure, num, seed=0)
    assert float(mmd(kernel, measure, X)) == pytest.approx(_mmd_dense(kernel, measure, X), rel=1e-8, abs=1e-12)


def _signed_norm(K, c1, c2):
    s = np.zeros(K.shape[0])
    s[c2], s[c1] = 1.0, -1.0
    return math.sqrt(max(s @ K @ s, 0.0))


def test_one_kt_split_halving_balances_better_than_random_halving():
    # ‖Σ_{child 2} k(y, ·) - Σ_{child 1} k(y, ·)‖ grows like √n for a random split of the pairs but stays
    # O(√log n) for the self-balancing walk.
    rng = np.random.default_rng(0)
    X = rng.random((1024, 2))
    K = np.asarray(RBF(lengthscale=0.3)(X))
    halves = kt_split_indices(K, 1, delta=0.5, seed=1)
    kt = _signed_norm(K, halves[0], halves[1])
    even, odd = np.arange(0, 1024, 2), np.arange(1, 1024, 2)
    rand = []
    for s in range(5):
        flip = np.random.default_rng(s).random(512) < 0.5
        rand.append(_signed_norm(K, np.where(flip, even, odd), np.where(flip, odd, even)))
    assert kt < 0.6 * np.median(rand)


def test_kt_split_coresets_partition_the_input_and_output_points_come_from_it():
    measure = Uniform([0.0, 0.0], [1.0, 1.0])
    kernel = RBF(lengthscale=0.3)
    X = np.asarray(monte_carlo(measure, 8 * 16, seed=3))
    K = np.asarray(kernel(X))
    cores = kt_split_indices(K, 3, seed=0)
    assert cores.shape == (8, 16)
    assert np.array_equal(np.sort(cores.ravel()), np.arange(128))  # disjoint, and together the whole input
    for row in cores:
        assert np.all(np.diff(row) > 0)  # input order kept
    rows = {tuple(r) for r in X}
    for swap in (False, True):
        out = np.asarray(kernel_thinning(kernel, measure, 16, points=X, swap=swap, seed=0))
        assert out.shape == (16, 2)
        assert all(tuple(r) in rows for r in out)
        assert len({tuple(r) for r in out}) == 16  # distinct points
    assert np.array_equal(np.asarray(kernel_thinning(kernel, measure, 16, points=X, swap=False, seed=0)),
                          X[kt_split_indices(K, 3, seed=np.random.default_rng(0).integers(2**31))[0]])


def test_kt_swap_never_increases_the_mmd_to_the_measure():
    measure = Uniform([0.0, 0.0], [1.0, 1.0])
    kernel = RBF(lengthscale=0.3)
    X = monte_carlo(measure, 256, seed=0)
    K = np.asarray(kernel(X))
    emb = embed(kernel, measure, X)
    z, z0 = np.asarray(emb.z), float(emb.initial)
    cands = kt_split_indices(K, 4, seed=0)
    chosen = kt_swap_indices(K, cands, z, z0, passes=0)
    swapped = kt_swap_indices(K, cands, z, z0, passes=1)
    twice = kt_swap_indices(K, cands, z, z0, passes=3)
    m0, m1, m3 = (float(mmd(kernel, measure, X[i])) for i in (chosen, swapped, twice))
    assert m1 < m0 and m3 <= m1 + 1e-15
    # Selection picks the candidate closest to the input sample.
    to_input = [float(mmd(kernel, Empirical(X), X[c])) for c in cands]
    assert np.array_equal(chosen, cands[int(np.argmin(to_input))])


def test_shapes_determinism_support_and_rounds():
    # Sizes shared with the other tests (input 256 and 64 points) keep JAX's per-shape compilations few.
    measure = Uniform([-1.0, 2.0], [1.0, 3.0])
    kernel = RBF(lengthscale=0.4)
    a = kernel_thinning(kernel, measure, 16, seed=4)
    b = kernel_thinning(kernel, measure, 16, seed=4)
    c = kernel_thinning(kernel, measure, 16, seed=5)
    assert a.shape == (16, 2)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    measure.check_points(a)  # inside the box
    s = kernel_thinning(kernel, measure, 16, sample="sobol", rounds=2, seed=0)
    assert s.shape == (16, 2)
    measure.check_points(s)
    one = kernel_thinning(kernel, measure, 1, seed=0)
    assert one.shape == (1, 2)
    # An Empirical measure is subsampled (without replacement): output points are its points.
    P = np.random.default_rng(1).random((300, 2))
    out = np.asarray(kernel_thinning(kernel, Empirical(P), 8, rounds=3, seed=0))
    assert out.shape == (8, 2) and all(np.any(np.all(P == r, axis=1)) for r in out)


def test_bad_input_raises_value_errors_naming_the_argument():
    measure = Uniform([0.0, 0.0], [1.0, 1.0])
    k = RBF(lengthscale=0.3)
    X = np.asarray(monte_carlo(measure, 64, seed=0))
    cases = [
        (dict(num=0), "num"), (dict(num=2.5), "num"),
        (dict(num=8, rounds=0), "rounds"), (dict(num=8, rounds=1.5), "rounds"),
        (dict(num=8, delta=0.0), "delta"), (dict(num=8, delta=1.0), "delta"),
        (dict(num=8, sample="halton"), "sample"), (dict(num=8, swap_passes=-1), "swap_passes"),
        (dict(num=5, points=X), "points"), (dict(num=32, points=X[:48]), "points"),
        (dict(num=64, points=X), "points"), (dict(num=8, points=X, rounds=2), "rounds"),
        (dict(num=8, points=X[:, :1]), "points"), (dict(num=8, points=X + 2.0), "points"),
    ]
    for kw, word in cases:
        with pytest.raises(ValueError, match=word):
            kernel_thinning(k, measure, **kw)
    with pytest.raises(TypeError, match="num must be an integer"):  # a bool is not a count (bayeskern._counts)
        kernel_thinning(k, measure, num=True)
    with pytest.raises(ValueError, match="kernel"):
        kernel_thinning(lambda a, b: a, measure, 4)
    with pytest.raises(ValueError, match="measure"):
        kernel_thinning(k, "uniform", 4)
    with pytest.raises(ValueError, match="Empirical"):
        kernel_thinning(k, Empirical(X[:20]), 8, rounds=2)
    with pytest.raises(ValueError, match="rounds"):
        kt_split_indices(np.eye(12), 3)
    with pytest.raises(ValueError, match="K"):
        kt_split_indices(np.ones((4, 3)), 1)


def test_integrate_with_the_thinning_design():
    measure = Uniform([0.0, 0.0], [1.0, 1.0])
    f = lambda x: jnp.exp(-jnp.sum((x - 0.3) ** 2))  # noqa: E731
    r = integrate(f, measure, 16, kernel=RBF(lengthscale=0.3), design="thinning", seed=0)
    assert r.X.shape == (16, 2)
    exact = (math.sqrt(math.pi) / 2 * (math.erf(0.7) + math.erf(0.3))) ** 2
    assert abs(float(r.mean) - exact) < 3 * float(r.sd) + 1e-3
    assert abs(float(r.mean) - exact) < 1e-2
