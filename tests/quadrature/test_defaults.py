"""BQ's default kernel (tensor-product Matérn 5/2) and its design-scaled lengthscale prior."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF, Matern32, Matern52, Product
from bayeskern.priors import default_priors
from bayeskern.quadrature import Gaussian, Uniform, embed, has_closed_form, integrate, sobol
from bayeskern.quadrature.model import default_kernel, design_scales, lengthscale_prior, tensor_form

# Independent NumPy Matérn profiles (R&W 2006, eq. 4.17).
M52 = lambda r: (1 + np.sqrt(5) * r + 5 * r * r / 3) * np.exp(-np.sqrt(5) * r)  # noqa: E731
M32 = lambda r: (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r)  # noqa: E731


@pytest.mark.parametrize("family,profile", [(Matern52, M52), (Matern32, M32)])
def test_tensor_form_is_the_product_of_one_dimensional_materns(family, profile):
    ell = np.array([0.3, 0.7, 1.4])
    k = tensor_form(family(lengthscale=ell, variance=2.0), 3)
    assert isinstance(k, Product) and has_closed_form(k, Uniform(np.zeros(3), np.ones(3)))
    X = np.random.default_rng(0).random((6, 3))
    D = np.abs(X[:, None, :] - X[None, :, :]) / ell
    np.testing.assert_allclose(np.asarray(k(X)), 2.0 * np.prod(profile(D), axis=-1), rtol=1e-12)
    # Kernel means on the box against a tensor Gauss-Legendre rule (the 1-D factors are smooth off the kink,
    # so use many nodes; agreement to 1e-6 is far below anything the tests of BQ care about).
    t, w = np.polynomial.legendre.leggauss(400)
    t, w = 0.5 * (t + 1), 0.5 * w
    z = 2.0 * np.prod([profile(np.abs(X[:, j, None] - t[None]) / ell[j]) @ w for j in range(3)], axis=0)
    np.testing.assert_allclose(np.asarray(embed(k, Uniform(np.zeros(3), np.ones(3)), X).z), z, rtol=1e-6)
    # Unchanged: 1-D inputs, other families, kernels with active_dims.
    for same in (family(lengthscale=0.3), RBF(lengthscale=ell), family(lengthscale=0.3, active_dims=[1])):
        d = 1 if same.active_dims is None and np.ndim(same.lengthscale) == 0 else 3
        assert tensor_form(same, d) is same


def test_default_kernel_depends_on_the_measure():
    assert default_kernel(Uniform(0.0, 1.0)) is Matern32
    assert default_kernel(Gaussian([0.0], [[1.0]])) is RBF  # the only closed-form kernel mean under a Gaussian


def test_lengthscale_prior_tails_sit_at_the_design_scales():
    X = np.asarray(sobol(Uniform(np.zeros(3), np.ones(3)), 48, seed=0)) * np.array([1.0, 2.0, 5.0])
    lo, hi = design_scales(X, ard=True)
    # Brute force: the smallest distance between two points after scaling each input to unit range.
    U = (X - X.min(0)) / np.ptp(X, 0)
    D = np.linalg.norm(U[:, None] - U[None], axis=-1) + np.diag(np.full(48, np.inf))
    np.testing.assert_allclose(lo, D.min() * np.ptp(X, 0), rtol=1e-12)
    # A repeated point does not make the scale zero.
    np.testing.assert_allclose(design_scales(np.concatenate([X, X[:1]]), ard=True)[0], lo, rtol=1e-12)
    np.testing.assert_allclose(hi, np.ptp(X, 0), rtol=1e-12)
    # The generic GP default's lower bound, the smallest gap of the 1-D projections, is far smaller.
    ig = default_priors(RBF, X, ard=True)["lengthscale"].base_dist
    generic_lo = stats.invgamma(np.asarray(ig.concentration), scale=np.asarray(ig.rate)).ppf(0.01)
    assert np.all(lo > 5 * generic_lo)
    prior = lengthscale_prior(X, ard=True)
    a, b = np.asarray(prior.base_dist.concentration), np.asarray(prior.base_dist.rate)
    np.testing.assert_allclose(stats.invgamma(a, scale=b).cdf(lo), 0.01, rtol=1e-6)
    np.testing.assert_allclose(stats.invgamma(a, scale=b).sf(hi), 0.01, rtol=1e-6)
    assert prior.event_shape == (3,) and lengthscale_prior(X, ard=False).event_shape == ()
    with pytest.raises(ValueError, match="X must hold"):
        design_scales(np.c_[X[:, :2], np.ones(48)], ard=True)


def test_default_map_fit_on_a_box_is_a_product_matern_and_covers_a_smooth_integral():
    meas = Uniform(np.zeros(2), np.ones(2))
    f = lambda x: jnp.exp(-jnp.sum((x - 0.3) ** 2)) + 0.5 * x[0] * x[1]  # noqa: E731
    truth = (np.sqrt(np.pi) / 2 * (special.erf(0.7) + special.erf(0.3))) ** 2 + 0.125
    r = integrate(f, meas, 24)
    factors = [c for c in r.kernel.k1.components]
    assert len(factors) == 2 and all(isinstance(c, Matern32) for c in factors)
    ell = np.array([float(c.lengthscale) for c in factors])
    assert np.all(ell > design_scales(r.X, ard=True)[0])  # not the white-noise mode
    err = abs(float(r.mean) - truth)
    assert err < 2e-3 and err < 3 * float(r.sd)
