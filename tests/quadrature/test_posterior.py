"""BQ posterior against brute-force Gaussian conditioning; the flat-prior constant mean; bad input."""

import itertools
import warnings

import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF, Constant, Matern32
from bayeskern.quadrature import Gaussian, IntegralPosterior, Uniform, bq_posterior

RNG = np.random.default_rng(3)


def legendre(lo, hi, n):
    x, w = np.polynomial.legendre.leggauss(n)
    nodes = [0.5 * (h - lo_) * x + 0.5 * (h + lo_) for lo_, h in zip(lo, hi, strict=True)]
    ws = [0.5 * (h - lo_) * w for lo_, h in zip(lo, hi, strict=True)]
    return np.array(list(itertools.product(*nodes))), np.prod(np.array(list(itertools.product(*ws))), axis=1)


def brute(kernel, P, W, X, y, noise=0.0):
    """Condition the joint Gaussian of (Σ W f(P), f(X) + noise) on y, with dense NumPy algebra."""
    Kpp, Kpx, Kxx = (np.asarray(kernel(a, b)) for a, b in ((P, P), (P, X), (X, X)))
    Kxx = Kxx + noise * np.eye(len(X))
    c = W @ Kpx
    sol = np.linalg.solve(Kxx, np.stack([y, c], 1))
    return c @ sol[:, 0], W @ Kpp @ W - c @ sol[:, 1]


@pytest.mark.parametrize("kernel", [RBF(lengthscale=np.array([0.5, 0.8]), variance=2.0), Matern32(lengthscale=0.6)])
def test_box_posterior_matches_dense_conditioning(kernel):
    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 1.0])
    X = lo + (hi - lo) * RNG.random((9, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    P, W = legendre(lo, hi, 40)
    meas = Uniform(lo, hi, normalized=False)
    if isinstance(kernel, Matern32):  # isotropic Matérn in 2-D: compare on a 1-D box instead
        meas, X, P, W = Uniform(0.0, 2.0), X[:, :1] + 1.0, *legendre([0.0], [2.0], 400)
        W = W / 2.0
    post = bq_posterior(kernel, meas, X, y, noise=1e-3)
    m, v = brute(kernel, P, W, X, y, noise=1e-3)
    assert float(post.mean) == pytest.approx(m, rel=1e-6)
    assert float(post.variance) == pytest.approx(v, rel=1e-5)


def test_gaussian_measure_posterior_matches_dense_conditioning():
    meas = Gaussian([0.2, -0.1], [[0.5, 0.2], [0.2, 0.7]])
    x, w = np.polynomial.hermite_e.hermegauss(30)
    Z = np.array(list(itertools.product(x, x)))
    W = np.prod(np.array(list(itertools.product(w, w))), 1)
    W = W / W.sum()
    P = np.asarray(meas.mean) + Z @ np.asarray(meas.chol).T
    k = RBF(lengthscale=np.array([0.7, 1.1]))
    X = RNG.normal(size=(8, 2))
    y = np.cos(X[:, 0]) * X[:, 1]
    post = bq_posterior(k, meas, X, y)
    m, v = brute(k, P, W, X, y)
    assert float(post.mean) == pytest.approx(m, rel=1e-7)
    assert float(post.variance) == pytest.approx(v, rel=1e-5, abs=1e-10)


def test_flat_constant_mean_is_the_limit_of_a_wide_constant_kernel():
    meas = Uniform(0.0, 1.0)
    X = np.linspace(0.1, 0.9, 4)[:, None]
    y = 5.0 + np.sin(4 * X[:, 0])
    k = RBF(lengthscale=0.1)
    gls = bq_posterior(k, meas, X, y, mean="constant")
    wide = bq_posterior(k + Constant(variance=1e4), meas, X, y)
    assert float(gls.mean) == pytest.approx(float(wide.mean), rel=1e-4)  # jitter scales with 1e4
    assert float(gls.variance) == pytest.approx(float(wide.variance), rel=1e-2)
    known = bq_posterior(k, meas, X, y, mean=5.0)
    assert float(known.variance) <= float(gls.variance)  # knowing the mean can only help


def test_variance_never_negative_and_clipping_reported():
    meas = Uniform(0.0, 1.0)
    X = np.linspace(0, 1, 60)[:, None]  # saturated design for a long lengthscale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bq_posterior(RBF(lengthscale=2.0), meas, X, np.sin(X[:, 0]), warn=False)
    assert float(post.variance) >= 0 and float(post.sd) >= 0
    assert int(post.clipped) == int(float(post.raw_variances[0]) < 0)


def test_mixture_moments_interval_and_draws():
    post = IntegralPosterior(np.array([0.0, 2.0]), np.array([1.0, 1.0]))
    assert float(post.mean) == pytest.approx(1.0) and float(post.variance) == pytest.approx(2.0)
    lo, hi = post.interval(0.9)
    assert float(post.cdf(lo)) == pytest.approx(0.05, abs=1e-6) and float(post.cdf(hi)) == pytest.approx(0.95, abs=1e-6)
    draws = np.asarray(post.sample(0, 20000))
    assert draws.mean() == pytest.approx(1.0, abs=0.05) and draws.var() == pytest.approx(2.0, rel=0.05)


def test_bad_input():
    meas = Uniform(0.0, 1.0)
    with pytest.raises(ValueError, match="outside the box"):
        bq_posterior(RBF(), meas, np.array([[0.5], [1.5]]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="duplicate points with different"):
        bq_posterior(RBF(), meas, np.array([[0.5], [0.5]]), np.array([1.0, 2.0]))
    with pytest.warns(UserWarning, match="duplicate"):
        post = bq_posterior(RBF(), meas, np.array([[0.5], [0.5], [0.2]]), np.array([1.0, 1.0, 0.0]))
    assert np.isfinite(float(post.mean))
    with pytest.raises(ValueError, match="shape"):
        bq_posterior(RBF(), meas, np.array([[0.5]]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        bq_posterior(RBF(), meas, np.array([[0.5]]), np.array([np.nan]))


def test_bq_marginal_matches_the_gp_backend_and_padding_is_exact():
    from bayeskern.gp import GaussianProcess
    from bayeskern.quadrature.model import BQMarginal

    X = RNG.random((7, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    k = RBF(lengthscale=np.array([0.3, 0.7]), variance=1.5) + Constant(variance=2.0)
    gp = GaussianProcess(k, X, noise=1e-4, structure="dense")
    bq = BQMarginal(k, X, 1e-4)
    assert float(bq.log_prob(y)) == pytest.approx(float(gp.log_prob(y)), rel=1e-10)
    np.testing.assert_allclose(bq.pointwise_log_prob(y), gp.pointwise_log_prob(y), rtol=1e-8)
    Xp, yp = np.concatenate([X, np.zeros((3, 2))]), np.concatenate([y, np.zeros(3)])
    padded = BQMarginal(k, Xp, 1e-4, mask=np.arange(10) < 7)
    assert float(padded.log_prob(yp) - padded.padding_log_prob()) == pytest.approx(float(gp.log_prob(y)), rel=1e-8)
