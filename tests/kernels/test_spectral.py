"""Spectral densities and frequency samplers against the kernels themselves.

Convention (``Stationary.spectral_density``): ``S(ω) = ∫ k(τ) exp(-i ωᵀτ) dτ``,
so ``k(τ) = (2π)^{-d} ∫ S(ω) exp(i ωᵀτ) dω`` and, for the samplers,
``k(τ) = variance · E[cos(ωᵀτ)]``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.kernels import (
    RBF,
    Cosine,
    Matern12,
    Matern32,
    Matern52,
    RationalQuadratic,
    SpectralMixture,
)

SM_1D = dict(weights=[0.7, 0.4, 1.1], means=[0.0, 0.35, 1.2], scales=[0.3, 0.1, 0.25])
SM_2D = dict(weights=[1.0, 0.5], means=[[0.3, 0.2], [0.1, 0.4]], scales=[[0.2, 0.3], [0.25, 0.15]])

KERNELS_1D = {
    "RBF": RBF(lengthscale=0.8, variance=1.5),
    "Matern12": Matern12(lengthscale=0.6, variance=1.2),
    "Matern32": Matern32(lengthscale=0.9, variance=1.1),
    "Matern52": Matern52(lengthscale=1.2, variance=0.7),
    "RationalQuadratic": RationalQuadratic(lengthscale=0.9, variance=1.3, alpha=0.7),
    "RationalQuadratic-alpha3": RationalQuadratic(lengthscale=1.4, variance=0.5, alpha=3.0),
    # Large alpha is the RBF limit; a lengthscale prior or a fit can put alpha here.
    "RationalQuadratic-alpha1e4": RationalQuadratic(lengthscale=0.8, variance=1.0, alpha=1e4),
    "SpectralMixture": SpectralMixture(**SM_1D),
}
OMEGAS = [0.3, 1.0, 2.5, 5.0]


def profile_1d(k):
    """``τ ↦ k(τ, 0)`` as a fast scalar NumPy function (one compile, then cheap calls for quad)."""
    f = jax.jit(lambda t: k(jnp.reshape(t, (1, 1)), jnp.zeros((1, 1)))[0, 0])
    return lambda t: float(f(t))


def fourier_1d(k, omega):
    """``∫ k(τ) cos(ωτ) dτ`` over the real line, by QUADPACK's Fourier integral (QAWF)."""
    f = profile_1d(k)
    val, err = integrate.quad(f, 0.0, np.inf, weight="cos", wvar=omega, limlst=200)
    return 2 * val


@pytest.mark.parametrize("name", list(KERNELS_1D))
def test_spectral_density_is_fourier_transform_1d(name):
    k = KERNELS_1D[name]
    S = np.asarray(k.spectral_density(np.array(OMEGAS)))
    assert S.shape == (len(OMEGAS),) and np.all(S > 0)
    # (m,) and (m, 1) frequencies agree.
    np.testing.assert_array_equal(S, np.asarray(k.spectral_density(np.array(OMEGAS)[:, None])))
    want = np.array([fourier_1d(k, w) for w in OMEGAS])
    np.testing.assert_allclose(S, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("name", list(KERNELS_1D))
def test_spectral_density_integrates_to_variance_1d(name):
    """``(2π)^{-1} ∫ S(ω) dω = k(0)``, by adaptive quadrature over the half-line (S is even)."""
    k = KERNELS_1D[name]
    S = jax.jit(lambda w: k.spectral_density(jnp.reshape(w, (1,)))[0])
    half, _ = integrate.quad(lambda w: float(S(w)), 0.0, np.inf, epsabs=0.0, epsrel=1e-10, limit=500)
    np.testing.assert_allclose(2 * half / (2 * math.pi), float(k.diag(np.zeros(1))[0]), rtol=1e-6)


ARD_2D = {
    "RBF": RBF(lengthscale=[0.7, 1.6], variance=1.3),
    "Matern52": Matern52(lengthscale=[0.7, 1.6], variance=1.3),
    "SpectralMixture": SpectralMixture(**SM_2D),
}


def _grid_2d(half_width, num):
    t = np.linspace(-half_width, half_width, num)
    h = t[1] - t[0]
    weights = np.full(num, h)
    weights[[0, -1]] = h / 2
    T1, T2 = np.meshgrid(t, t, indexing="ij")
    return t, np.stack([T1.ravel(), T2.ravel()], 1), np.outer(weights, weights).ravel()


@pytest.mark.parametrize("name", list(ARD_2D))
def test_spectral_density_integrates_to_variance_2d(name):
    k = ARD_2D[name]
    t, T, wts = _grid_2d(8.0, 801)
    W = np.sinh(T)  # stretched grid: |ω| up to ~1500 for the Matérn's polynomial tail
    jac = np.prod(np.cosh(T), axis=1)
    total = np.sum(np.asarray(k.spectral_density(W)) * jac * wts) / (2 * math.pi) ** 2
    np.testing.assert_allclose(total, float(k.diag(np.zeros((1, 2)))[0]), rtol=1e-5)


@pytest.mark.parametrize("name", list(ARD_2D))
@pytest.mark.parametrize("omega", [(0.9, -0.4), (0.3, 1.7)], ids=["w1", "w2"])
def test_spectral_density_is_fourier_transform_2d(name, omega):
    """``S(ω) = ∫∫ k(τ) cos(ωᵀτ) dτ`` by the trapezoid rule on [-12, 12]²."""
    k = ARD_2D[name]
    _, T, wts = _grid_2d(12.0, 961)
    kt = np.asarray(k(T, np.zeros((1, 2))))[:, 0]
    w = np.array(omega)
    want = np.sum(kt * np.cos(T @ w) * wts)
    got = float(k.spectral_density(w[None, :])[0])
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_spectral_density_ard_dimension_checked():
    with pytest.raises(ValueError, match="omega"):
        RBF(lengthscale=[0.7, 1.6]).spectral_density(np.ones((3, 3)))


# -- frequency samplers -------------------------------------------------------------------
SAMPLERS = {
    "RBF": (RBF(lengthscale=0.8, variance=1.5), 1),
    "Matern12": (Matern12(lengthscale=0.6, variance=1.2), 1),
    "Matern32": (Matern32(lengthscale=0.9, variance=1.1), 1),
    "Matern52": (Matern52(lengthscale=1.2, variance=0.7), 1),
    "RationalQuadratic": (RationalQuadratic(lengthscale=0.9, variance=1.3, alpha=0.7), 1),
    "SpectralMixture": (SpectralMixture(**SM_1D), 1),
    "Cosine": (Cosine(period=1.7, variance=0.9), 1),
    "RBF-ard": (RBF(lengthscale=[0.7, 1.6], variance=1.3), 2),
    "Matern32-ard": (Matern32(lengthscale=[0.7, 1.6], variance=1.3), 2),
    "RationalQuadratic-2d": (RationalQuadratic(lengthscale=0.9, variance=1.3, alpha=2.0), 2),
    "SpectralMixture-2d": (SpectralMixture(**SM_2D), 2),
}
TAUS = {1: np.array([[0.0], [0.2], [0.7], [1.5], [3.0]]),
        2: np.array([[0.0, 0.0], [0.5, 0.7], [1.0, -0.6], [-0.3, 1.4], [2.0, 0.4]])}


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_frequency_sampler_reproduces_kernel(name):
    k, d = SAMPLERS[name]
    num = 200_000
    omega = np.asarray(k.sample_frequencies(jax.random.PRNGKey(11), num, dim=d))
    assert omega.shape == (num, d) and np.all(np.isfinite(omega))
    tau = TAUS[d]
    variance = float(k.diag(np.zeros((1, d)))[0])
    c = np.cos(omega @ tau.T)  # (num, len(tau))
    mc, se = variance * c.mean(0), variance * c.std(0) / np.sqrt(num)
    want = np.asarray(k(tau, np.zeros((1, d))))[:, 0]
    assert np.all(np.abs(mc - want) <= 5 * se + 1e-12), (mc, want, se)
    # Not vacuous: the estimate resolves the kernel's shape.
    assert np.all(se < 0.01 * variance)


def test_frequency_sampler_scalar_lengthscale_needs_dim():
    with pytest.raises(ValueError, match="dim"):
        RBF(lengthscale=0.5).sample_frequencies(jax.random.PRNGKey(0), 10)
    omega = RBF(lengthscale=0.5).sample_frequencies(jax.random.PRNGKey(0), 10, dim=3)
    assert omega.shape == (10, 3)
