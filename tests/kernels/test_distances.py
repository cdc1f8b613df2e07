"""The float64 custom JVP of scaled squared distances against plain autodiff of the broadcast form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (float64)
from bayeskern.kernels.distances import _scaled_sqdist, scaled_squared_distance

RNG = np.random.default_rng(3)
# Offset inputs (as calendar years would be) test the centring inside the rule; X2[0] == X1[0]
# puts a zero distance off the diagonal.
X1 = RNG.normal(size=(7, 3)) + 1958.0
X2 = np.concatenate([X1[:1], RNG.normal(size=(4, 3)) + 1958.0])


def _objectives(ls):
    def ours(a, b, c):
        return jnp.sum(jnp.sin(scaled_squared_distance(a, b, c)))

    def plain(a, b, c):
        return jnp.sum(jnp.sin(_scaled_sqdist(a, b, c)))

    return ours, plain


@pytest.mark.parametrize("ls", [0.7, np.array([0.5, 1.3, 2.0])], ids=["scalar", "ard"])
def test_values_and_all_derivatives_match_plain_autodiff(ls):
    ls = jnp.asarray(ls)
    ours, plain = _objectives(ls)
    np.testing.assert_array_equal(scaled_squared_distance(X1, X2, ls), _scaled_sqdist(X1, X2, ls))
    for argnum in (0, 1, 2):
        got, ref = jax.grad(ours, argnum)(X1, X2, ls), jax.grad(plain, argnum)(X1, X2, ls)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(ref))))
    fwd = jax.jacfwd(lambda c: scaled_squared_distance(X1, X2, c))(ls)
    np.testing.assert_allclose(fwd, jax.jacfwd(lambda c: _scaled_sqdist(X1, X2, c))(ls), rtol=1e-9, atol=1e-9)
    hess, hess_ref = jax.hessian(ours, 2)(X1, X2, ls), jax.hessian(plain, 2)(X1, X2, ls)
    np.testing.assert_allclose(hess, hess_ref, rtol=1e-8, atol=1e-8 * float(jnp.max(jnp.abs(hess_ref))))


def test_gram_gradient_with_respect_to_shared_inputs():
    ls = jnp.array([0.5, 1.3, 2.0])

    def ours(a):
        return jnp.sum(jnp.cos(scaled_squared_distance(a, a, ls)))

    def plain(a):
        return jnp.sum(jnp.cos(_scaled_sqdist(a, a, ls)))

    np.testing.assert_allclose(jax.jit(jax.grad(ours))(X1), jax.grad(plain)(X1), rtol=1e-9, atol=1e-10)


def test_float32_keeps_plain_autodiff():
    a = jnp.asarray(X1 - 1958.0, jnp.float32)
    ls = jnp.float32(0.7)
    g = jax.grad(lambda c: jnp.sum(scaled_squared_distance(a, a, c)))(ls)
    ref = jax.grad(lambda c: jnp.sum(_scaled_sqdist(a, a, c)))(ls)
    assert g.dtype == jnp.float32 and float(g) == float(ref)
