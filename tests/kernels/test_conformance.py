"""The conformance suite every kernel family and composite passes.

Each case is a factory ``make(dtype) -> kernel`` (every hyperparameter built
with that dtype, so the float32 check really is float32 end to end) plus the
input dimension it expects. Properties: symmetry, PSD (hypothesis-drawn
inputs), ``diag`` equals the Gram diagonal, ``k(X1, X2) = k(X2, X1)ᵀ``,
``(n,)`` vs ``(n, 1)`` inputs, jit / vmap / pytree round trips, finite
gradients at zero distance (and hyperparameter gradients equal to central
differences), float32 against float64.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from jax.flatten_util import ravel_pytree

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.kernels import (
    RBF,
    ArcCosine,
    Constant,
    Cosine,
    Linear,
    Matern12,
    Matern32,
    Matern52,
    Periodic,
    Polynomial,
    Product,
    RationalQuadratic,
    Scaled,
    SpectralMixture,
    Sum,
    Warped,
    White,
)

F64 = jnp.float64
F32 = jnp.float32


def _log1p_sq(X):
    return jnp.log1p(X**2)


def _c(dtype):
    return lambda v: jnp.asarray(v, dtype)


# name -> (factory(dtype) -> kernel, input dimension)
CASES = {
    "RBF": (lambda t: RBF(lengthscale=_c(t)(0.8), variance=_c(t)(1.5)), 1),
    "RBF-ard": (lambda t: RBF(lengthscale=_c(t)([0.7, 1.3]), variance=_c(t)(0.9)), 2),
    "Matern12": (lambda t: Matern12(lengthscale=_c(t)(0.6), variance=_c(t)(1.2)), 1),
    "Matern12-ard": (lambda t: Matern12(lengthscale=_c(t)([0.5, 1.4]), variance=_c(t)(0.8)), 2),
    "Matern32": (lambda t: Matern32(lengthscale=_c(t)(0.9), variance=_c(t)(1.1)), 1),
    "Matern32-ard": (lambda t: Matern32(lengthscale=_c(t)([1.1, 0.6]), variance=_c(t)(1.3)), 2),
    "Matern52": (lambda t: Matern52(lengthscale=_c(t)(1.2), variance=_c(t)(0.7)), 1),
    "Matern52-ard": (lambda t: Matern52(lengthscale=_c(t)([0.8, 1.7]), variance=_c(t)(1.4)), 2),
    "RationalQuadratic": (
        lambda t: RationalQuadratic(lengthscale=_c(t)(0.9), variance=_c(t)(1.3), alpha=_c(t)(0.7)), 1),
    "Periodic": (lambda t: Periodic(lengthscale=_c(t)(0.8), variance=_c(t)(1.1), period=_c(t)(1.3)), 1),
    "Cosine": (lambda t: Cosine(period=_c(t)(1.7), variance=_c(t)(0.9)), 1),
    "SpectralMixture": (
        lambda t: SpectralMixture(
            weights=_c(t)([1.0, 0.5]),
            means=_c(t)([[0.3, 0.2], [0.1, 0.4]]),
            scales=_c(t)([[0.2, 0.3], [0.25, 0.15]]),
        ),
        2,
    ),
    "Linear": (lambda t: Linear(variance=_c(t)(0.8)), 1),
    "Linear-ard": (lambda t: Linear(variance=_c(t)([0.8, 1.5])), 2),
    "Polynomial2": (lambda t: Polynomial(degree=2, variance=_c(t)(0.5), offset=_c(t)(1.0)), 2),
    "Polynomial3": (lambda t: Polynomial(degree=3, variance=_c(t)(0.4), offset=_c(t)(0.5)), 2),
    "ArcCosine0": (
        lambda t: ArcCosine(order=0, variance=_c(t)(1.2), weight_variance=_c(t)(0.9), bias_variance=_c(t)(0.5)), 2),
    "ArcCosine1": (
        lambda t: ArcCosine(order=1, variance=_c(t)(1.2), weight_variance=_c(t)(0.9), bias_variance=_c(t)(0.5)), 2),
    "ArcCosine2": (
        lambda t: ArcCosine(order=2, variance=_c(t)(0.8), weight_variance=_c(t)([0.9, 1.3]),
                            bias_variance=_c(t)(0.5)), 2),
    "Constant": (lambda t: Constant(variance=_c(t)(0.6)), 1),
    "White": (lambda t: White(variance=_c(t)(0.3)), 1),
    "sum": (lambda t: Matern32(lengthscale=_c(t)([0.9, 1.2]), variance=_c(t)(1.0)) + Linear(variance=_c(t)(0.3)), 2),
    "sum-white": (lambda t: RBF(lengthscale=_c(t)(0.7), variance=_c(t)(1.0)) + White(variance=_c(t)(0.1)), 1),
    "product": (
        lambda t: RBF(lengthscale=_c(t)(1.5), variance=_c(t)(1.0))
        * Periodic(lengthscale=_c(t)(0.9), variance=_c(t)(0.8), period=_c(t)(1.1)), 1),
    "scaled": (lambda t: _c(t)(2.5) * Matern52(lengthscale=_c(t)(0.8), variance=_c(t)(1.0)), 1),
    "active_dims": (lambda t: RBF(lengthscale=_c(t)(0.7), variance=_c(t)(1.2), active_dims=[0]), 2),
    "active_dims-sum": (
        lambda t: Matern52(lengthscale=_c(t)(0.6), variance=_c(t)(1.0), active_dims=[1])
        + Linear(variance=_c(t)(0.5), active_dims=[0]), 2),
    "warped": (lambda t: RBF(lengthscale=_c(t)(0.5), variance=_c(t)(1.0)).warp(_log1p_sq), 1),
}
IDS = list(CASES)
ONE_D = [name for name in IDS if CASES[name][1] == 1]


def make(name, dtype=F64):
    return CASES[name][0](dtype)


def inputs(d, n=7, seed=0, dtype=np.float64):
    """``(n, d)`` inputs on [-2, 2] with one repeated row (a zero-distance pair)."""
    X = np.random.default_rng(seed + 10 * d).uniform(-2.0, 2.0, (n, d))
    X[3] = X[1]
    return X.astype(dtype)


def assert_close(a, b, rtol=1e-12, scale=None):
    """Entrywise ``|a - b| <= rtol * (|b| + max|b|)``: relative, with an absolute floor at the matrix scale."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.max(np.abs(b)) if scale is None else scale
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(scale, 1e-300))


def test_every_family_is_covered():
    composite = (Sum, Product, Scaled, Warped)
    kinds = set()
    for name in IDS:
        for leaf in jax.tree_util.tree_leaves(make(name), is_leaf=lambda x: not isinstance(x, composite)):
            kinds.add(type(leaf).__name__)
    assert {"RBF", "Matern12", "Matern32", "Matern52", "RationalQuadratic", "Periodic", "Cosine",
            "SpectralMixture", "Linear", "Polynomial", "ArcCosine", "Constant", "White"} <= kinds
    assert {type(make(n)) for n in ("sum", "product", "scaled", "warped")} == set(composite)


# Eager evaluation compiles op by op, so the eager tests stick to two shapes,
# (7, d) with itself and (7, d) against (5, d); everything else runs under one
# jit per test and case.


@pytest.mark.parametrize("name", IDS)
def test_gram_shape_and_symmetry(name):
    k, d = make(name), CASES[name][1]
    X, Y = inputs(d), inputs(d, n=5, seed=1)
    K = np.asarray(k(X))
    assert K.shape == (7, 7) and np.all(np.isfinite(K))
    assert k(X, Y).shape == (7, 5)
    np.testing.assert_allclose(K, K.T, rtol=1e-13, atol=1e-13 * np.abs(K).max())


@pytest.mark.parametrize("name", IDS)
@settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_psd(name, data):
    k, d = make(name), CASES[name][1]
    X = data.draw(arrays(np.float64, (7, d), elements=st.floats(-3.0, 3.0, allow_subnormal=False)), label="X")
    K = np.asarray(k(X))
    assert np.all(np.isfinite(K))
    assert np.linalg.eigvalsh(K).min() >= -1e-9 * np.abs(K).max()


@pytest.mark.parametrize("name", IDS)
def test_diag_matches_gram_diagonal(name):
    k, d = make(name), CASES[name][1]
    X = inputs(d)
    diag = k.diag(X)
    assert diag.shape == (7,)
    assert_close(diag, np.diag(np.asarray(k(X))), rtol=1e-12)


def test_white_noise_only_on_the_one_argument_diagonal():
    k = White(variance=0.3)
    X, Y = inputs(1), inputs(1, n=5, seed=1)
    np.testing.assert_array_equal(np.asarray(k(X)), 0.3 * np.eye(7))
    np.testing.assert_array_equal(np.asarray(k(X, Y)), np.zeros((7, 5)))
    # Two arguments mean two sets of observations, even when they hold the same points.
    np.testing.assert_array_equal(np.asarray(k(X, X)), np.zeros((7, 7)))
    np.testing.assert_array_equal(np.asarray(k.diag(X)), np.full(7, 0.3))
    s = RBF(lengthscale=0.7) + k
    np.testing.assert_allclose(np.asarray(s(X)) - np.asarray(s(X, X)), 0.3 * np.eye(7), atol=1e-15)


@pytest.mark.parametrize("name", IDS)
def test_cross_gram_transpose(name):
    k, d = make(name), CASES[name][1]
    X, Y = inputs(d), inputs(d, n=7, seed=1)
    KXY, KYX = np.asarray(k(X, Y)), np.asarray(k(Y, X))
    assert not np.allclose(KXY, KXY.T) or name in ("Constant", "White")  # a real check, not a symmetric matrix
    assert_close(KXY, KYX.T, rtol=1e-13)
    if name not in ("White", "sum-white"):
        # k(X, X) with two arguments is the same matrix as k(X) (not so for white noise).
        assert_close(k(X, X), k(X), rtol=1e-12)


@pytest.mark.parametrize("name", ONE_D)
def test_vector_and_column_inputs_agree(name):
    k = make(name)
    X, Y = inputs(1), inputs(1, n=5, seed=1)
    np.testing.assert_array_equal(np.asarray(k(X[:, 0])), np.asarray(k(X)))
    np.testing.assert_array_equal(np.asarray(k(X[:, 0], Y[:, 0])), np.asarray(k(X, Y)))
    np.testing.assert_array_equal(np.asarray(k(X[:, 0], Y)), np.asarray(k(X, Y)))
    np.testing.assert_array_equal(np.asarray(k.diag(X[:, 0])), np.asarray(k.diag(X)))


def _batched(k, factors=(0.6, 1.0, 1.7)):
    """The kernel with every hyperparameter leaf multiplied by each factor, and the stacked batch."""
    ks = [jax.tree_util.tree_map(lambda x, f=f: x * f, k) for f in factors]
    return ks, jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *ks)


@pytest.mark.parametrize("name", IDS)
def test_vmap_over_hyperparameters_equals_loop(name):
    k, d = make(name), CASES[name][1]
    X = inputs(d)
    ks, batch = _batched(k)
    got = jax.jit(jax.vmap(lambda kk: kk(X)))(batch)
    want = np.stack([np.asarray(kk(X)) for kk in ks])
    assert got.shape == (3, 7, 7)
    assert_close(got, want, rtol=1e-12)
    assert not np.allclose(want[0], want[2])  # the batch really varies


@pytest.mark.parametrize(
    "family", [RBF, Matern12, Matern32, Matern52, RationalQuadratic, Periodic], ids=lambda c: c.__name__
)
def test_vmap_constructor_over_lengthscale_and_variance(family):
    """Kernels built inside vmap from batched values (as in a model) equal a Python loop."""
    X = inputs(2)
    ls = jnp.array([[0.5, 1.0], [0.9, 0.7], [1.6, 2.2]])
    var = jnp.array([0.5, 1.0, 2.0])
    got = jax.vmap(lambda l, v: family(lengthscale=l, variance=v)(X))(ls, var)
    want = np.stack([np.asarray(family(lengthscale=l, variance=v)(X)) for l, v in zip(ls, var, strict=True)])
    assert_close(got, want, rtol=1e-12)


@pytest.mark.parametrize("name", IDS)
def test_jit_and_pytree_round_trip(name):
    k, d = make(name), CASES[name][1]
    X = inputs(d)
    eager = np.asarray(k(X))
    assert_close(jax.jit(lambda kk, A: kk(A))(k, X), eager, rtol=1e-12)
    leaves, treedef = jax.tree_util.tree_flatten(k)
    assert leaves and all(isinstance(x, jax.Array) for x in leaves)
    k2 = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(k2) is type(k)
    np.testing.assert_array_equal(np.asarray(k2(X)), eager)
    # The leaves carry the hyperparameter values: doubling them changes the kernel.
    k3 = jax.tree_util.tree_unflatten(treedef, [2.0 * x for x in leaves])
    assert not np.allclose(np.asarray(k3(X)), eager)


_W = np.random.default_rng(3).normal(size=(7, 7))


def _objective(kk, B, A):
    """A scalar through both Gram paths at zero distance: ``Σ W ∘ k(B)`` and ``Σ k(B, A)`` at ``B = A``."""
    return jnp.sum(_W * kk(B)) + jnp.sum(kk(B, A))


@functools.lru_cache(maxsize=None)
def _gradients(name):
    """Gradients w.r.t. the inputs and every hyperparameter, at ``B = A``, under one jit.

    (Eager autodiff compiles op by op and is several times slower here.) A
    finite sum of the two paths' gradients means both are finite: an inf or
    NaN in either would propagate.
    """
    k, d = make(name), CASES[name][1]
    X0 = jnp.asarray(inputs(d))  # X0[3] == X0[1]: off-diagonal zero distances too
    g_hyp, g_inputs = jax.jit(jax.grad(_objective, argnums=(0, 1)))(k, X0, X0)
    return k, X0, g_hyp, g_inputs


@pytest.mark.parametrize("name", IDS)
def test_gradients_finite_at_zero_distance(name):
    k, X0, g_hyp, g_inputs = _gradients(name)
    assert g_inputs.shape == X0.shape and np.all(np.isfinite(np.asarray(g_inputs)))
    assert jax.tree_util.tree_structure(g_hyp) == jax.tree_util.tree_structure(k)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(g_hyp))


# jaxlib 0.12 CPU miscompiles jit(grad) of ArcCosine(order=0) at coincident inputs on some
# CPUs (correct under XLA_FLAGS=--xla_backend_optimization_level=0; see ArcCosine's
# docstring). Where that happens and eager autodiff is right, the case is an expected
# failure; anywhere else a disagreement fails.
_XLA_MISCOMPILED_ON_SOME_CPUS = {"ArcCosine0"}


@pytest.mark.parametrize("name", IDS)
def test_hyperparameter_gradients_match_central_differences(name):
    k, X0, g_hyp, _ = _gradients(name)
    flat, unravel = ravel_pytree(k)
    grad = np.asarray(ravel_pytree(g_hyp)[0])

    def f(theta):  # eager: the forward ops are already compiled by the other tests
        return float(_objective(unravel(theta), X0, X0))

    fd = np.empty_like(grad)
    for i in range(flat.size):
        h = 1e-6 * max(1.0, abs(float(flat[i])))
        fd[i] = (f(flat.at[i].add(h)) - f(flat.at[i].add(-h))) / (2 * h)
    tol = dict(rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    if not np.allclose(grad, fd, **tol):
        # Diagnose (only on failure: eager autodiff is slow to compile): is the jitted
        # gradient wrong, or the kernel's autodiff itself?
        eager = np.asarray(ravel_pytree(jax.grad(_objective)(k, X0, X0))[0])
        where = "jit(grad) disagrees with eager grad" if np.allclose(eager, fd, **tol) else "autodiff disagrees"
        if name in _XLA_MISCOMPILED_ON_SOME_CPUS and where.startswith("jit"):
            pytest.xfail(f"known XLA CPU miscompilation of jit(grad) for {name}; eager grad is right")
        np.testing.assert_allclose(grad, fd, **tol, err_msg=f"{where}; eager grad = {eager}")


@pytest.mark.parametrize("name", IDS)
def test_float32(name):
    d = CASES[name][1]
    k32, k64 = make(name, F32), make(name, F64)
    assert all(x.dtype == F32 for x in jax.tree_util.tree_leaves(k32))
    X = inputs(d)
    K64, diag64 = np.asarray(k64(X)), np.asarray(k64.diag(X))
    got32 = jax.jit(lambda kk, A: (kk(A), kk.diag(A)))(k32, X.astype(np.float32))
    for got, want in zip(got32, (K64, diag64), strict=True):
        assert got.dtype == F32, got.dtype
        assert np.all(np.isfinite(np.asarray(got)))
        assert_close(np.asarray(got, np.float64), want, rtol=1e-5, scale=np.abs(K64).max())
