"""Every closed-form kernel mean and initial error against numerical integration (scipy quad, Gauss rules)."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF, Constant, Matern12, Matern32, Matern52, RationalQuadratic
from bayeskern.quadrature import Empirical, Gaussian, QuadratureFallbackWarning, Uniform, embed, has_closed_form

FAMILIES = [RBF, Matern12, Matern32, Matern52]
# Independent NumPy profiles (R&W 2006, eqs. 4.9, 4.17): quad calls them thousands of times.
PROFILES = {
    RBF: lambda r: np.exp(-0.5 * r * r),
    Matern12: lambda r: np.exp(-r),
    Matern32: lambda r: (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r),
    Matern52: lambda r: (1 + np.sqrt(5) * r + 5 * r * r / 3) * np.exp(-np.sqrt(5) * r),
}


def quad_1d(fn, a, b, kink=None):
    pts = None if kink is None or not (a < kink < b) else [kink]
    return integrate.quad(fn, a, b, points=pts, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("ell", [0.05, 30.0])
def test_box_1d_against_quad(family, ell):
    a, b = -0.5, 1.7
    k = family(lengthscale=ell, variance=1.3)
    X = np.array([-0.5, -0.1, 0.3, 1.7, 2.5])  # includes the edges and a point outside (allowed for z)
    meas = Uniform(a, b)
    emb = embed(k, meas, X[:4])
    rho = PROFILES[family]
    kern = lambda s, t: 1.3 * rho(abs(s - t) / ell)  # noqa: E731
    for x, z in zip(X[:4], np.asarray(emb.z), strict=True):
        ref = quad_1d(lambda t, x=x: kern(x, t), a, b, kink=x) / (b - a)
        assert z == pytest.approx(ref, rel=1e-9, abs=1e-13)
    inner = lambda s: quad_1d(lambda t: kern(s, t), a, b, kink=s)  # noqa: E731
    ref0 = quad_1d(inner, a, b) / (b - a) ** 2
    assert float(emb.initial) == pytest.approx(ref0, rel=1e-7)
    # unnormalised Lebesgue measure scales by the volume
    emb_u = embed(k, Uniform(a, b, normalized=False), X[:4])
    np.testing.assert_allclose(emb_u.z, np.asarray(emb.z) * (b - a), rtol=1e-12)
    assert float(emb_u.initial) == pytest.approx(float(emb.initial) * (b - a) ** 2, rel=1e-12)


def gauss_legendre_box(lo, hi, n=60):
    x, w = np.polynomial.legendre.leggauss(n)
    nodes = [0.5 * (h - lo_) * x + 0.5 * (h + lo_) for lo_, h in zip(lo, hi, strict=True)]
    weights = [0.5 * (h - lo_) * w for lo_, h in zip(lo, hi, strict=True)]
    P = np.array(list(itertools.product(*nodes)))
    W = np.prod(np.array(list(itertools.product(*weights))), axis=1)
    return P, W


def test_rbf_ard_box_2d_against_gauss_legendre():
    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 2.0])
    k = RBF(lengthscale=np.array([0.4, 1.5]), variance=0.7)
    X = np.array([[0.2, 0.0], [0.9, 1.9], [0.5, -1.0]])
    P, W = gauss_legendre_box(lo, hi)
    W = W / np.prod(hi - lo)
    emb = embed(k, Uniform(lo, hi), X)
    np.testing.assert_allclose(emb.z, np.asarray(k(X, P)) @ W, rtol=1e-10)
    P2, W2 = gauss_legendre_box(lo, hi, 30)
    W2 = W2 / np.prod(hi - lo)
    assert float(emb.initial) == pytest.approx(W2 @ np.asarray(k(P2, P2)) @ W2, rel=1e-9)


def test_matern_product_over_dims_box():
    lo, hi = np.array([0.0, 0.0]), np.array([1.0, 2.0])
    k = Matern32(lengthscale=0.3, active_dims=[0]) * Matern52(lengthscale=0.8, variance=2.0, active_dims=[1])
    assert has_closed_form(k, Uniform(lo, hi))
    X = np.array([[0.2, 0.5], [0.7, 1.5]])
    emb = embed(k, Uniform(lo, hi), X)
    for x, z in zip(X, np.asarray(emb.z), strict=True):
        r1 = quad_1d(lambda t, x=x: PROFILES[Matern32](abs(x[0] - t) / 0.3), 0, 1, kink=x[0])
        r2 = quad_1d(lambda t, x=x: 2.0 * PROFILES[Matern52](abs(x[1] - t) / 0.8), 0, 2, kink=x[1]) / 2
        assert z == pytest.approx(r1 * r2, rel=1e-9)


def gauss_hermite(meas, n=40):
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    d = meas.dim
    Z = np.array(list(itertools.product(*[x] * d)))
    W = np.prod(np.array(list(itertools.product(*[w] * d))), axis=1)
    return np.asarray(meas.mean) + Z @ np.asarray(meas.chol).T, W


def test_rbf_gaussian_full_covariance_against_gauss_hermite():
    cov = np.array([[1.0, 0.6], [0.6, 0.8]])
    meas = Gaussian([0.3, -0.2], cov)
    k = RBF(lengthscale=np.array([0.9, 1.7]), variance=1.4)
    X = np.array([[0.0, 0.0], [1.5, -1.0], [-2.0, 1.0]])
    P, W = gauss_hermite(meas)
    emb = embed(k, meas, X)
    np.testing.assert_allclose(emb.z, np.asarray(k(X, P)) @ W, rtol=1e-9)
    P2, W2 = gauss_hermite(meas, 25)
    assert float(emb.initial) == pytest.approx(W2 @ np.asarray(k(P2, P2)) @ W2, rel=1e-9)


def test_rbf_active_dims_gaussian_marginal():
    meas = Gaussian([0.0, 1.0, -1.0], np.array([[1.0, 0.3, 0.1], [0.3, 2.0, 0.2], [0.1, 0.2, 0.5]]))
    k = RBF(lengthscale=0.8, active_dims=[2, 0])
    X = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.0]])
    ref = embed(RBF(lengthscale=0.8), Gaussian([-1.0, 0.0], [[0.5, 0.1], [0.1, 1.0]]), X[:, [2, 0]])
    emb = embed(k, meas, X)
    np.testing.assert_allclose(emb.z, ref.z, rtol=1e-12)
    assert float(emb.initial) == pytest.approx(float(ref.initial), rel=1e-12)


def test_sum_scaled_constant_and_empirical_are_exact():
    meas = Uniform([0.0], [2.0])
    k = 2.0 * RBF(lengthscale=0.5) + Constant(variance=0.3)
    X = np.array([[0.4], [1.1]])
    e1, e2 = embed(RBF(lengthscale=0.5), meas, X), embed(k, meas, X)
    np.testing.assert_allclose(e2.z, 2 * np.asarray(e1.z) + 0.3, rtol=1e-12)
    pts, w = np.random.default_rng(0).normal(size=(7, 2)), np.random.default_rng(1).random(7)
    k2 = Matern32(lengthscale=0.7)
    emp = embed(k2, Empirical(pts, w), pts[:3])
    np.testing.assert_allclose(emp.z, np.asarray(k2(pts[:3], pts)) @ w, rtol=1e-12)
    assert float(emp.initial) == pytest.approx(w @ np.asarray(k2(pts, pts)) @ w, rel=1e-12)


def test_fallback_warns_and_its_error_estimate_covers_the_truth():
    meas = Uniform([0.0, 0.0], [1.0, 1.0])
    k = Matern52(lengthscale=0.4)  # isotropic Matérn in 2-D: no product form
    assert not has_closed_form(k, meas)
    X = np.array([[0.3, 0.6], [0.9, 0.1]])
    with pytest.warns(QuadratureFallbackWarning, match="randomised QMC"):
        emb = embed(k, meas, X, qmc_points=1024, qmc_replicates=8)
    P, W = gauss_legendre_box([0, 0], [1, 1], 80)
    ref = np.asarray(k(X, P)) @ W
    err = np.abs(np.asarray(emb.z) - ref)
    assert np.all(err < 5 * np.asarray(emb.z_error) + 1e-12) and np.all(np.asarray(emb.z_error) < 1e-3)


def test_rational_quadratic_under_gaussian_falls_back():
    with pytest.warns(QuadratureFallbackWarning):
        emb = embed(RationalQuadratic(), Gaussian(0.0, 1.0), np.array([[0.0]]), qmc_points=512)
    assert not emb.closed_form and float(emb.initial_error) > 0


def test_bad_measures_and_points():
    with pytest.raises(ValueError, match="positive definite"):
        Gaussian([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="upper must exceed lower"):
        Uniform([0.0], [0.0])
    with pytest.raises(ValueError, match="weights"):
        Empirical(np.zeros((3, 1)), [1.0, -1.0, 0.5])
    with pytest.raises(ValueError, match="column"):
        embed(RBF(), Uniform([0, 0], [1, 1]), np.zeros((2, 3)))


def test_float32_closed_form():
    k = RBF(lengthscale=jnp.float32(0.5), variance=jnp.float32(1.0))
    emb = embed(k, Uniform(0.0, 1.0), jnp.asarray([[0.5]], jnp.float32))
    ref = embed(RBF(lengthscale=0.5), Uniform(0.0, 1.0), np.array([[0.5]]))
    assert float(emb.z[0]) == pytest.approx(float(ref.z[0]), rel=1e-5)
