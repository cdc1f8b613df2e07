"""State-space (SDE) forms of 1-D kernels against the dense kernels they represent."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import bayeskern  # noqa: F401  (turns on float64)
from bayeskern.kernels import (
    RBF,
    Constant,
    Cosine,
    Linear,
    Matern12,
    Matern32,
    Matern52,
    Periodic,
    RationalQuadratic,
    White,
)
from bayeskern.kernels.state_space import StateSpaceModel, _expm, state_space

TAU = jnp.linspace(0.0, 5.0, 51)

EXACT = {
    "m12-a": Matern12(lengthscale=0.3, variance=0.5),
    "m12-b": Matern12(lengthscale=2.0, variance=3.0),
    "m32-a": Matern32(lengthscale=0.2, variance=1.0),
    "m32-b": Matern32(lengthscale=1.5, variance=4.0),
    "m52-a": Matern52(lengthscale=0.1, variance=2.0),
    "m52-b": Matern52(lengthscale=0.7, variance=0.3),
    "m52-c": Matern52(lengthscale=3.0, variance=10.0),
    "m32-ard1": Matern32(lengthscale=[0.8], variance=1.2),
    "m32-dim": Matern32(lengthscale=0.8, active_dims=[0]),
    "cosine": Cosine(period=1.3, variance=2.0),
    "constant": Constant(variance=3.0),
    "scaled": 2.0 * Matern32(lengthscale=0.5),
    "sum": Matern12(lengthscale=0.4) + Matern52(lengthscale=1.3, variance=0.5),
    "quasi-periodic": Matern32(lengthscale=2.0, variance=1.5) * Cosine(period=0.7),
    "m52*m12": Matern52(lengthscale=0.9) * Matern12(lengthscale=1.7, variance=2.0),
    "nested": 0.5 * (Matern32() * Cosine(period=2.0) + Constant(variance=0.2)) * Matern12(lengthscale=3.0),
}
PERIODIC = Periodic(lengthscale=0.6, period=1.7, variance=2.0)
ALL = {**EXACT, "periodic": PERIODIC}


def model(kernel):
    return state_space(kernel, num_harmonics=40 if kernel is PERIODIC else None)


def dense(kernel, tau):
    return kernel(tau, jnp.zeros(1))[:, 0]


def kernel_variance(kernel):
    return float(dense(kernel, jnp.zeros(1))[0])


@pytest.mark.parametrize("name", EXACT)
def test_covariance_matches_kernel(name):
    k = EXACT[name]
    ssm = state_space(k)
    got, want = ssm.covariance(TAU), dense(k, TAU)
    assert got.shape == TAU.shape and got.dtype == jnp.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8 * kernel_variance(k))
    # Symmetric in τ.
    np.testing.assert_allclose(ssm.covariance(-TAU), got, rtol=0, atol=1e-14 * kernel_variance(k))


def test_state_dimensions():
    dims = {"m12-a": 1, "m32-a": 2, "m52-a": 3, "cosine": 2, "constant": 1, "sum": 4, "quasi-periodic": 4, "m52*m12": 3}
    for name, s in dims.items():
        ssm = state_space(EXACT[name])
        assert ssm.state_dim == s
        q = ssm.L.shape[1]
        assert ssm.F.shape == (s, s) and ssm.L.shape == (s, q) and ssm.Qc.shape == (q, q)
        assert ssm.H.shape == (1, s) and ssm.Pinf.shape == (s, s)
    assert state_space(PERIODIC, num_harmonics=7).state_dim == 15


def test_periodic_approximation_converges():
    want = dense(PERIODIC, TAU)
    errors = []
    for J in (2, 5, 10, 40):
        ssm = state_space(PERIODIC, num_harmonics=J)
        err = float(jnp.max(jnp.abs(ssm.covariance(TAU) - want)))
        kept = float(jnp.sum(ssm.H @ ssm.Pinf @ ssm.H.T))  # Σ_j q_j
        assert err <= float(PERIODIC.variance) - kept + 1e-12  # the documented bound: the dropped tail
        errors.append(err)
    np.testing.assert_allclose(kept, jnp.sum(PERIODIC.spectral_weights(40)), rtol=1e-14)
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    assert errors[0] > 1e-3 and errors[-1] < 1e-6


def test_periodic_short_lengthscale_needs_more_harmonics():
    k = Periodic(lengthscale=0.25, period=1.0)
    want = dense(k, TAU)
    err = {J: float(jnp.max(jnp.abs(state_space(k, num_harmonics=J).covariance(TAU) - want))) for J in (10, 40)}
    assert err[10] > 1e-3 and err[40] < 1e-8


@pytest.mark.parametrize("name", ALL)
def test_lyapunov(name):
    ssm = model(ALL[name])
    resid = ssm.F @ ssm.Pinf + ssm.Pinf @ ssm.F.T + ssm.L @ ssm.Qc @ ssm.L.T
    scale = float(jnp.max(jnp.abs(ssm.F @ ssm.Pinf))) + 1.0
    np.testing.assert_allclose(resid, 0.0, atol=1e-10 * scale)
    # Pinf is a covariance and L Qc Lᵀ a noise covariance.
    np.testing.assert_allclose(ssm.Pinf, ssm.Pinf.T, atol=1e-14 * scale)
    assert jnp.min(jnp.linalg.eigvalsh(ssm.Pinf)) > -1e-10 * scale
    assert jnp.min(jnp.linalg.eigvalsh(ssm.L @ ssm.Qc @ ssm.L.T)) > -1e-10 * scale


@pytest.mark.parametrize("name", ALL)
def test_transition(name):
    ssm = model(ALL[name])
    dts = jnp.array([0.0, 1e-3, 0.1, 0.5, 2.0, 7.0])
    A_vec, Q_vec = ssm.transition(dts)
    A_map, Q_map = jax.vmap(ssm.transition)(dts)
    s = ssm.state_dim
    assert A_vec.shape == Q_vec.shape == (dts.shape[0], s, s)
    np.testing.assert_allclose(A_map, A_vec, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Q_map, Q_vec, rtol=1e-12, atol=1e-12)
    scale = float(jnp.max(jnp.abs(ssm.Pinf)))
    for i, dt in enumerate(dts):
        A, Q = ssm.transition(dt)
        np.testing.assert_allclose(A, A_vec[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(A, scipy.linalg.expm(np.asarray(ssm.F) * float(dt)), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(A @ ssm.Pinf @ A.T + Q, ssm.Pinf, atol=1e-10 * scale)
        np.testing.assert_allclose(Q, Q.T, atol=1e-14 * scale)
        assert jnp.min(jnp.linalg.eigvalsh(Q)) > -1e-9 * scale
    np.testing.assert_allclose(A_vec[0], np.eye(s), atol=1e-14)
    np.testing.assert_allclose(Q_vec[0], 0.0, atol=1e-12 * scale)


def test_transition_rejects_bad_dt():
    ssm = state_space(Matern32())
    with pytest.raises(ValueError, match="non-negative"):
        ssm.transition(jnp.array([0.1, -0.2]))
    with pytest.raises(ValueError, match="shape"):
        ssm.transition(jnp.ones((2, 2)))


def test_long_gap_short_lengthscale_is_finite():
    # ‖F dt‖₁ ~ 1e7 here; jax.scipy.linalg.expm's default 16 squarings give NaN.
    ssm = state_space(Matern52(lengthscale=0.05))
    A, Q = ssm.transition(1000.0)
    assert jnp.all(jnp.isfinite(A)) and jnp.all(jnp.isfinite(Q))
    np.testing.assert_allclose(A, 0.0, atol=1e-12)
    np.testing.assert_allclose(Q, ssm.Pinf, rtol=1e-12)


def test_expm_accurate_where_jax_default_is_not():
    # jax.scipy.linalg.expm (JAX 0.12) under-scales ‖M‖₁ in [θ13, 2θ13): ~1e-9 error at θ = 10.
    for theta in (0.5, 6.0, 10.0, 24.0, 300.0):
        M = jnp.array([[0.0, -theta], [theta, 0.0]])
        want = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        np.testing.assert_allclose(_expm(M), want, rtol=0, atol=1e-13 * max(theta, 1.0))


def test_grad_wrt_lengthscale_matches_finite_differences():
    def f(ell):
        return jnp.sum(state_space(Matern52(lengthscale=ell, variance=1.3)).covariance(TAU))

    ell, h = 0.8, 1e-5
    g = jax.grad(f)(ell)
    fd = (f(ell + h) - f(ell - h)) / (2 * h)
    assert jnp.isfinite(g)
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    # And it equals the gradient of the dense kernel.
    g_dense = jax.grad(lambda l: jnp.sum(dense(Matern52(lengthscale=l, variance=1.3), TAU)))(ell)
    np.testing.assert_allclose(g, g_dense, rtol=1e-8)


def test_grad_through_periodic_and_products():
    def f(theta):
        ls, period = theta
        k = Matern32(lengthscale=ls) * Cosine(period=period) + Periodic(lengthscale=ls, period=period)
        return jnp.sum(state_space(k, num_harmonics=5).covariance(TAU))

    theta, v, h = jnp.array([0.9, 1.4]), jnp.array([0.6, -0.8]), 1e-6
    g = jax.grad(f)(theta)
    assert jnp.all(jnp.isfinite(g))
    fd = (f(theta + h * v) - f(theta - h * v)) / (2 * h)
    np.testing.assert_allclose(g @ v, fd, rtol=1e-6)


def test_is_a_pytree():
    ssm = state_space(Matern32(lengthscale=0.5) + Cosine())
    leaves, treedef = jax.tree_util.tree_flatten(ssm)
    assert len(leaves) == 5
    again = jax.tree_util.tree_unflatten(treedef, leaves)
    assert isinstance(again, StateSpaceModel)
    got = jax.jit(lambda m, t: m.covariance(t))(ssm, TAU)
    np.testing.assert_allclose(got, ssm.covariance(TAU), rtol=1e-13)
    batched = jax.vmap(lambda ell: state_space(Matern12(lengthscale=ell)))(jnp.array([0.5, 1.0, 2.0]))
    assert batched.F.shape == (3, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ssm.F = ssm.F


@pytest.mark.parametrize(
    "kernel, match",
    [
        (RBF(), "RBF has no finite state-space form.*Matern52"),
        (RationalQuadratic(), "RationalQuadratic has no finite state-space form"),
        (Matern32(lengthscale=[1.0, 2.0]), "Matern32 has lengthscale of shape \\(2,\\)"),
        (Periodic(period=[1.0, 2.0]), "Periodic has period of shape"),
        (Matern12(active_dims=[0, 1]), "active_dims"),
        (Matern12(active_dims=[0]) + Matern12(active_dims=[1]), "different input dimensions"),
        (White(), "White has no state-space form"),
        (Linear(), "Linear is not stationary"),
        (Matern32() * RBF(), "RBF"),
        (Matern32().warp(lambda X: X**2), "Warped"),
        (Periodic(), "num_harmonics"),
        (2.0 * Periodic() + Matern12(), "num_harmonics"),
    ],
)
def test_unsupported_kernels_raise(kernel, match):
    with pytest.raises(ValueError, match=match):
        state_space(kernel)


def test_bad_num_harmonics_and_non_kernel():
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="num_harmonics"):
            state_space(Periodic(), num_harmonics=bad)
    with pytest.raises(ValueError, match="Kernel"):
        state_space("Matern32")
