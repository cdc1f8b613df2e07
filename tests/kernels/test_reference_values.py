"""Kernel values against independent references.

scikit-learn's kernels for the families it has; hand-written NumPy formulas
(from the papers, not from our code) for the rest; a Monte-Carlo estimate of
the infinitely wide one-layer network for the arc-cosine kernels; SciPy for
the scaled Bessel functions behind ``Periodic.spectral_weights``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ive
from sklearn.gaussian_process import kernels as skk
from sklearn.metrics.pairwise import polynomial_kernel

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
    RationalQuadratic,
    SpectralMixture,
    White,
)
from bayeskern.kernels.bessel import scaled_bessel_i

RNG = np.random.default_rng(20240601)
X1 = {d: RNG.uniform(-2.0, 2.0, (9, d)) for d in (1, 2, 3)}
X2 = {d: RNG.uniform(-2.5, 2.5, (6, d)) for d in (1, 2, 3)}


def check(ours, ref, X, Y, rtol=1e-12):
    """Compare ``k(X)``, ``k(X, Y)`` and ``k.diag(X)`` with the reference ``ref(X, Y=None)``."""
    for got, want in ((ours(X), ref(X)), (ours(X, Y), ref(X, Y)), (ours.diag(X), np.diag(ref(X)))):
        want = np.asarray(want)
        np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=rtol * np.abs(want).max())


# -- scikit-learn --------------------------------------------------------------------------
SKLEARN = {
    "RBF": (RBF(lengthscale=0.7, variance=1.9), skk.ConstantKernel(1.9) * skk.RBF(0.7), 2),
    "RBF-ard": (
        RBF(lengthscale=[0.5, 1.3, 2.1], variance=0.6), skk.ConstantKernel(0.6) * skk.RBF([0.5, 1.3, 2.1]), 3),
    "Matern12": (Matern12(lengthscale=0.8, variance=1.4), skk.ConstantKernel(1.4) * skk.Matern(0.8, nu=0.5), 2),
    "Matern32": (Matern32(lengthscale=1.3, variance=0.7), skk.ConstantKernel(0.7) * skk.Matern(1.3, nu=1.5), 2),
    "Matern52": (Matern52(lengthscale=0.6, variance=2.2), skk.ConstantKernel(2.2) * skk.Matern(0.6, nu=2.5), 2),
    "Matern12-ard": (
        Matern12(lengthscale=[0.4, 1.1, 0.9], variance=1.1),
        skk.ConstantKernel(1.1) * skk.Matern([0.4, 1.1, 0.9], nu=0.5), 3),
    "Matern32-ard": (
        Matern32(lengthscale=[0.4, 1.1, 0.9], variance=1.1),
        skk.ConstantKernel(1.1) * skk.Matern([0.4, 1.1, 0.9], nu=1.5), 3),
    "Matern52-ard": (
        Matern52(lengthscale=[0.4, 1.1, 0.9], variance=1.1),
        skk.ConstantKernel(1.1) * skk.Matern([0.4, 1.1, 0.9], nu=2.5), 3),
    "RationalQuadratic": (
        RationalQuadratic(lengthscale=0.9, variance=1.3, alpha=0.4),
        skk.ConstantKernel(1.3) * skk.RationalQuadratic(length_scale=0.9, alpha=0.4), 2),
    "RationalQuadratic-large-alpha": (
        RationalQuadratic(lengthscale=1.1, variance=0.8, alpha=250.0),
        skk.ConstantKernel(0.8) * skk.RationalQuadratic(length_scale=1.1, alpha=250.0), 3),
    # ExpSineSquared uses the Euclidean distance, ours a per-dimension sum: equal in 1-D.
    "Periodic": (
        Periodic(lengthscale=0.6, variance=1.7, period=1.3),
        skk.ConstantKernel(1.7) * skk.ExpSineSquared(length_scale=0.6, periodicity=1.3), 1),
    # DotProduct(sigma_0) = sigma_0² + xᵀy.
    "Linear+Constant": (Linear(variance=1.0) + Constant(variance=0.49), skk.DotProduct(sigma_0=0.7), 3),
    # c · DotProduct(sigma_0) = Linear(variance=c) + Constant(c · sigma_0²).
    "c*Linear+Constant": (
        Linear(variance=2.5) + Constant(variance=2.5 * 0.3**2),
        skk.ConstantKernel(2.5) * skk.DotProduct(sigma_0=0.3), 2),
    "Constant": (Constant(variance=0.37), skk.ConstantKernel(0.37), 2),
    "White": (White(variance=0.21), skk.WhiteKernel(noise_level=0.21), 2),
    "RBF+White": (RBF(lengthscale=0.9) + White(variance=0.1), skk.RBF(0.9) + skk.WhiteKernel(0.1), 1),
    "Matern32*Periodic": (
        Matern32(lengthscale=2.0, variance=1.5) * Periodic(lengthscale=0.8, period=0.7),
        skk.ConstantKernel(1.5) * skk.Matern(2.0, nu=1.5) * skk.ExpSineSquared(0.8, 0.7), 1),
    "3*RBF": (3.0 * RBF(lengthscale=0.5), skk.ConstantKernel(3.0) * skk.RBF(0.5), 2),
}


@pytest.mark.parametrize("name", list(SKLEARN))
def test_against_sklearn(name):
    ours, ref, d = SKLEARN[name]
    check(ours, ref, X1[d], X2[d], rtol=1e-11)


def test_sklearn_white_zero_between_sets_and_periodic_1d_vector_inputs():
    X, Y = X1[1], X2[1]
    np.testing.assert_array_equal(np.asarray(White(variance=0.2)(X, Y)), skk.WhiteKernel(0.2)(X, Y))
    k = Periodic(lengthscale=0.6, variance=1.7, period=1.3)
    ref = skk.ConstantKernel(1.7) * skk.ExpSineSquared(0.6, 1.3)
    np.testing.assert_allclose(np.asarray(k(X[:, 0], Y[:, 0])), ref(X, Y), rtol=1e-12)


# -- hand-written formulas -----------------------------------------------------------------
def np_cosine(X, Y, period, variance):
    Y = X if Y is None else Y
    tau = X[:, None, :] - Y[None, :, :]
    return variance * np.cos(2 * np.pi * np.sum(tau / period, axis=-1))


def np_spectral_mixture(X, Y, weights, means, scales):
    """k(τ) = Σ_q w_q cos(2π τᵀμ_q) ∏_d exp(-2π² τ_d² v_qd) (Wilson & Adams 2013, eq. 12)."""
    Y = X if Y is None else Y
    tau = X[:, None, :] - Y[None, :, :]
    K = np.zeros(tau.shape[:2])
    for w, mu, s in zip(weights, np.atleast_2d(means.T).T, np.atleast_2d(scales.T).T, strict=True):
        K += w * np.prod(np.exp(-2 * np.pi**2 * tau**2 * s**2), axis=-1) * np.cos(2 * np.pi * tau @ mu)
    return K


def np_polynomial(X, Y, variance, offset, degree):
    Y = X if Y is None else Y
    return (variance * X @ Y.T + offset) ** degree


def np_arccos(X, Y, order, variance, weight_variance, bias_variance):
    """Cho & Saul (2009): k_n = (1/π) |x̃|^n |ỹ|^n J_n(θ) on x̃ = (√w ⊙ x, √b), times variance."""
    Y = X if Y is None else Y
    sw = np.sqrt(np.broadcast_to(weight_variance, X.shape[1:]))
    Xa = np.hstack([X * sw, np.full((len(X), 1), np.sqrt(bias_variance))])
    Ya = np.hstack([Y * sw, np.full((len(Y), 1), np.sqrt(bias_variance))])
    nx, ny = np.linalg.norm(Xa, axis=1), np.linalg.norm(Ya, axis=1)
    # The angle by Kahan's formula θ = 2 atan2(|x̂ - ŷ|, |x̂ + ŷ|) on unit vectors: accurate to
    # the last digit for all θ, including θ = 0 (arccos of the cosine loses half the digits there).
    U, V = Xa / nx[:, None], Ya / ny[:, None]
    theta = 2 * np.arctan2(
        np.linalg.norm(U[:, None] - V[None], axis=-1), np.linalg.norm(U[:, None] + V[None], axis=-1)
    )
    sin, cos = np.sin(theta), np.cos(theta)
    J = {
        0: np.pi - theta,
        1: sin + (np.pi - theta) * cos,
        2: 3 * sin * cos + (np.pi - theta) * (1 + 2 * cos**2),
    }[order]
    return variance / np.pi * np.outer(nx, ny) ** order * J


SM_1D = dict(weights=np.array([0.7, 0.4, 1.1]), means=np.array([0.0, 0.35, 1.2]), scales=np.array([0.3, 0.1, 0.25]))
SM_2D = dict(
    weights=np.array([1.0, 0.5]), means=np.array([[0.3, 0.2], [0.1, 0.4]]), scales=np.array([[0.2, 0.3], [0.25, 0.15]])
)
HAND = {
    "Cosine": (Cosine(period=1.7, variance=0.9), lambda X, Y=None: np_cosine(X, Y, 1.7, 0.9), 1),
    "Cosine-ard": (
        Cosine(period=[1.7, 0.8], variance=1.3), lambda X, Y=None: np_cosine(X, Y, np.array([1.7, 0.8]), 1.3), 2),
    "SpectralMixture-1d": (SpectralMixture(**SM_1D), lambda X, Y=None: np_spectral_mixture(X, Y, **SM_1D), 1),
    "SpectralMixture-2d": (SpectralMixture(**SM_2D), lambda X, Y=None: np_spectral_mixture(X, Y, **SM_2D), 2),
    "Polynomial1": (
        Polynomial(degree=1, variance=0.5, offset=0.2), lambda X, Y=None: np_polynomial(X, Y, 0.5, 0.2, 1), 3),
    "Polynomial2": (
        Polynomial(degree=2, variance=0.5, offset=1.0), lambda X, Y=None: np_polynomial(X, Y, 0.5, 1.0, 2), 3),
    "Polynomial3": (
        Polynomial(degree=3, variance=0.3, offset=0.0), lambda X, Y=None: np_polynomial(X, Y, 0.3, 0.0, 3), 2),
    **{
        f"ArcCosine{n}": (
            ArcCosine(order=n, variance=1.3, weight_variance=0.8, bias_variance=0.6),
            lambda X, Y=None, n=n: np_arccos(X, Y, n, 1.3, 0.8, 0.6), 3)
        for n in (0, 1, 2)
    },
    "ArcCosine1-ard-nobias": (
        ArcCosine(order=1, variance=0.9, weight_variance=[0.5, 2.0], bias_variance=0.0),
        lambda X, Y=None: np_arccos(X, Y, 1, 0.9, np.array([0.5, 2.0]), 0.0), 2),
}


@pytest.mark.parametrize("name", list(HAND))
def test_against_formula(name):
    ours, ref, d = HAND[name]
    check(ours, ref, X1[d], X2[d], rtol=1e-11)


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_polynomial_against_sklearn_pairwise(degree):
    X, Y = X1[3], X2[3]
    ours = Polynomial(degree=degree, variance=0.7, offset=0.4)
    want = polynomial_kernel(X, Y, degree=degree, gamma=0.7, coef0=0.4)
    np.testing.assert_allclose(np.asarray(ours(X, Y)), want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arccosine_is_a_one_layer_network_covariance(order):
    """``ArcCosine(order=n, variance=1)(x, y) = 2 · E_w[σ_n(wᵀx̃) σ_n(wᵀỹ)]``, ``w ~ N(0, I_{d+1})``.

    σ_0 = step, σ_1 = ReLU, σ_2 = ReLU², with x̃ = (√weight_variance ⊙ x, √bias_variance);
    Cho & Saul (2009), eq. (1). Checked with 400 000 draws, to 5 standard errors.
    """
    wv, bv = np.array([0.8, 1.5]), 0.6
    k = ArcCosine(order=order, variance=1.0, weight_variance=wv, bias_variance=bv)
    X = np.array([[0.3, -0.8], [1.2, 0.4], [-0.5, -0.1], [0.3, -0.8]])
    Xa = np.hstack([X * np.sqrt(wv), np.full((len(X), 1), np.sqrt(bv))])
    W = np.random.default_rng(7).standard_normal((400_000, 3))
    pre = W @ Xa.T  # (draws, n)
    act = np.where(pre > 0, pre**order, 0.0)
    prods = 2.0 * act[:, :, None] * act[:, None, :]
    mc, se = prods.mean(0), prods.std(0) / np.sqrt(len(W))
    K = np.asarray(k(X))
    assert np.all(np.abs(K - mc) <= 5 * se + 1e-12), (K, mc, se)
    # The estimate is informative: standard errors well below the values.
    assert np.all(se < 0.02 * np.abs(K).max())


# -- Bessel functions and the periodic kernel's harmonics -----------------------------------
@pytest.mark.parametrize("x", [0.01, 1.0, 10.0, 100.0])
def test_scaled_bessel_i_against_scipy(x):
    got = np.asarray(scaled_bessel_i(20, x))
    want = ive(np.arange(21), x)
    assert got.shape == (21,)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("order", [0, 1, 5])
def test_scaled_bessel_i_low_orders(order):
    x = 3.7
    np.testing.assert_allclose(np.asarray(scaled_bessel_i(order, x)), ive(np.arange(order + 1), x), rtol=1e-13)


@pytest.mark.parametrize("x", [1000.0, 1e4])
def test_scaled_bessel_i_large_argument(x):
    """Large arguments are a Periodic kernel with a small lengthscale (x = 1/ℓ²: ℓ ≈ 0.03 and 0.01).

    Miller's downward recurrence must start well above both the order and
    about sqrt(x) · a few; starting at order + 60 + 4 sqrt(order) is too low here.
    """
    got = np.asarray(scaled_bessel_i(20, x))
    want = ive(np.arange(21), x)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("lengthscale, period, variance", [(0.7, 1.3, 2.0), (0.3, 0.8, 0.6), (2.5, 2.0, 1.0)])
def test_periodic_spectral_weights_reconstruct_kernel(lengthscale, period, variance):
    k = Periodic(lengthscale=lengthscale, period=period, variance=variance)
    q = np.asarray(k.spectral_weights(40))
    assert q.shape == (41,) and np.all(q >= 0)
    tau = np.linspace(-1.5, 2.5, 23)
    recon = np.cos(2 * np.pi * np.outer(tau, np.arange(41)) / period) @ q
    want = np.asarray(k(tau, np.zeros(1)))[:, 0]
    np.testing.assert_allclose(recon, want, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(q.sum(), variance, rtol=1e-12)
