"""Hilbert-space basis: convergence to the dense Gram matrix (and to its m → ∞ limit at the predicted rate),
the Riutort-Mayol rules, latent use."""

import itertools
import warnings

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density
from scipy.stats import invgamma

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.features import (
    HSGPBasis,
    HSGPSettingsWarning,
    check_hsgp_settings,
    hsgp_features,
    hsgp_settings,
    hsgp_spectral_weights,
)
from bayeskern.kernels import RBF, Linear, Matern32, Matern52

X1 = np.linspace(-1.0, 3.0, 120)  # half-range S = 2
X2 = np.random.default_rng(0).uniform(-1.0, 1.0, size=(80, 2))


def _gram_error(k, X, m, c):
    basis = HSGPBasis.from_inputs(X, m, c)
    Phi = np.asarray(basis.features(X))
    s = np.asarray(basis.spectral_weights(k))
    return np.abs(Phi @ np.diag(s) @ Phi.T - np.asarray(k(X))) / float(np.asarray(k.variance))


def _image_kernel(k, X, basis, num_images=3):
    """The m → ∞ limit of the HSGP kernel: ``k`` on the box with Dirichlet boundaries, by the method of images.

    Per dimension the Dirichlet Green's function of ``S(√−Δ)`` on ``[0, 2L]`` is the odd, ``4L``-periodic
    extension ``Σ_n k(u − u' + 4nL) − k(u + u' + 4nL)``; in ``d`` dimensions the sum runs over
    ``n ∈ Z^d`` and the sign patterns ``σ ∈ {±1}^d`` (weight ``∏ σ``) of ``u − σ ⊙ u'``. Independent of the
    eigenfunction expansion (it only evaluates ``k``).
    """
    X = np.asarray(X).reshape(len(X), -1)
    d = X.shape[1]
    L = np.asarray(basis.L)
    U = X - np.asarray(basis.center) + L
    out = np.zeros((len(X), len(X)))
    shifts = np.stack(np.meshgrid(*[np.arange(-num_images, num_images + 1)] * d, indexing="ij"), -1).reshape(-1, d)
    signs = np.stack(np.meshgrid(*[[1.0, -1.0]] * d, indexing="ij"), -1).reshape(-1, d)
    for sigma in signs:
        for n in shifts:
            # k(a, b) of a stationary kernel depends on a − b only: put the whole lag in the first argument
            lag = U[:, None, :] - sigma * U[None, :, :] + 4.0 * n * L
            out += np.prod(sigma) * np.asarray(k(lag.reshape(-1, d), np.zeros((1, d))))[:, 0].reshape(out.shape)
    return out


@pytest.mark.parametrize("kernel, nu", [(Matern32, 1.5), (Matern52, 2.5)], ids=["matern32", "matern52"])
def test_truncation_error_rate_is_m_to_minus_2nu(kernel, nu):
    """Against its m → ∞ limit the HSGP Gram error is the spectral tail ``Σ_{j>m} S(ω_j)/L ∝ m^{-2ν}`` in 1-D."""
    k = kernel(lengthscale=0.6, variance=1.7)
    ms = (16, 32, 64, 128)
    errs = []
    for m in ms:
        basis = HSGPBasis.from_inputs(X1[::2], m, 1.3)
        Phi = np.asarray(basis.features(X1[::2]))
        s = np.asarray(basis.spectral_weights(k))
        errs.append(np.abs(Phi * s @ Phi.T - _image_kernel(k, X1[::2], basis)).max())
    slopes = np.diff(np.log(errs)) / np.diff(np.log(ms))
    np.testing.assert_allclose(slopes, -2 * nu, atol=0.25)  # measured: -2.94, -2.98, -3.02 and -4.76, -4.92, -5.03


def test_rbf_limit_and_boundary_effect_2d():
    """RBF (ARD, 2-D): the tensor-product basis reaches the image kernel to round-off; the remaining gap to ``k``
    is the boundary effect, ``k(2δ)`` on the diagonal for a point at distance ``δ`` from the boundary."""
    k = RBF(lengthscale=np.array([0.5, 0.8]), variance=0.9)
    X = np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 0.3], [-0.4, 1.0], [0.7, -0.6]])
    basis = HSGPBasis.from_inputs(X, (40, 30), 1.5)
    Phi = np.asarray(basis.features(X))
    G = Phi * np.asarray(basis.spectral_weights(k)) @ Phi.T
    np.testing.assert_allclose(G, _image_kernel(k, X, basis), atol=1e-10)
    # corner point: nearest boundaries at δ = 0.5 in both dimensions; images along each axis dominate
    delta = 0.5
    expected = 0.9 * (1 - np.exp(-2 * delta**2 / 0.5**2)) * (1 - np.exp(-2 * delta**2 / 0.8**2))
    np.testing.assert_allclose(G[0, 0], expected, rtol=1e-3)


def test_3d_tensor_basis_reaches_image_kernel():
    """Three input dimensions (the largest the back end takes): the tensor-product basis reaches its limit."""
    k = RBF(lengthscale=np.array([0.6, 0.9, 1.2]), variance=1.1)
    X = np.random.default_rng(4).uniform(-1.0, 1.0, size=(6, 3))
    basis = HSGPBasis.from_inputs(X, (16, 12, 10), 1.3)
    Phi = np.asarray(basis.features(X))
    assert Phi.shape == (6, 16 * 12 * 10)
    G = Phi * np.asarray(basis.spectral_weights(k)) @ Phi.T
    np.testing.assert_allclose(G, _image_kernel(k, X, basis, num_images=2), atol=1e-6)


@pytest.mark.slow  # the 1-D rate is pinned down by test_truncation_error_rate_is_m_to_minus_2nu
@pytest.mark.parametrize("kernel", [RBF, Matern52], ids=["rbf", "matern52"])
def test_gram_error_decreases_with_m_1d(kernel):
    k = kernel(lengthscale=0.6, variance=1.7)
    errs = [_gram_error(k, X1, m, 2.0).max() for m in (4, 8, 16, 32, 64)]
    assert all(b < a for a, b in itertools.pairwise(errs)), errs
    assert errs[-1] < (1e-6 if kernel is RBF else 3e-3)


@pytest.mark.parametrize("kernel", [RBF, Matern52], ids=["rbf", "matern52"])
def test_gram_error_decreases_with_m_2d_ard(kernel):
    k = kernel(lengthscale=np.array([0.5, 0.8]), variance=0.9)
    errs = [_gram_error(k, X2, m, 3.0).max() for m in (3, 6, 12, 24)]
    assert all(b < a for a, b in itertools.pairwise(errs)), errs
    assert errs[-1] < (1e-5 if kernel is RBF else 5e-3)


@pytest.mark.parametrize("kernel, rho", [(RBF, 0.1), (RBF, 0.3), (Matern52, 0.3), (Matern32, 1.0)],
                         ids=["rbf-0.1", "rbf-0.3", "matern52-0.3", "matern32-1.0"])
def test_rule_settings_give_small_error(kernel, rho):
    """The paper's rule holds the covariance error near 1 % of the variance in the middle of the domain; at the
    edges it needs ``edge_tolerance`` (measured: up to 40 % edge error for rho ≈ 0.3 without it)."""
    X = np.linspace(-1.0, 1.0, 101)
    k = kernel(lengthscale=rho)
    st = hsgp_settings(X, rho, kernel)
    E = _gram_error(k, X, st.num_basis, st.boundary_factor)
    assert E[50].max() < 0.015  # covariance with the centre of the domain
    st_edge = hsgp_settings(X, rho, kernel, edge_tolerance=0.01)
    assert st_edge.boundary_factor[0] >= st.boundary_factor[0] and st_edge.num_basis[0] >= st.num_basis[0]
    assert _gram_error(k, X, st_edge.num_basis, st_edge.boundary_factor).max() < 0.03
    # halving the rule's m loses accuracy
    half = max(1, st_edge.num_basis[0] // 2)
    assert _gram_error(k, X, half, st_edge.boundary_factor).max() > 0.03


def test_rule_2d_ard():
    k = Matern52(lengthscale=np.array([0.3, 0.6]))
    st = hsgp_settings(X2, k.lengthscale, k, edge_tolerance=0.01)
    assert st.num_basis[0] > st.num_basis[1]
    assert _gram_error(k, X2, st.num_basis, st.boundary_factor).max() < 0.03


def test_rule_formulas():
    st = hsgp_settings(half_range=2.0, lengthscale=0.5, kernel="rbf")  # rho = 0.25: c = max(1.2, 0.8)
    assert st.boundary_factor == (1.2,) and st.num_basis == (int(np.ceil(1.75 * 1.2 / 0.25)),)
    st = hsgp_settings(half_range=1.0, lengthscale=1.0, kernel="matern52")  # c = 4.1, m = ceil(2.65 * 4.1)
    assert st.boundary_factor == pytest.approx((4.1,)) and st.num_basis == (11,)
    st = hsgp_settings(half_range=1.0, lengthscale=1.0, kernel=Matern32)
    assert st.boundary_factor == pytest.approx((4.5,)) and st.num_basis == (16,)
    assert st.options() == {"num_basis": (16,), "boundary_factor": st.boundary_factor}
    with pytest.raises(ValueError, match="RBF, Matern32 and Matern52"):
        hsgp_settings(half_range=1.0, lengthscale=1.0, kernel=Linear())


def test_rule_with_prior_uses_lower_quantile():
    prior = dist.LogNormal(0.0, 0.5)
    q05 = float(np.exp(0.5 * -1.6448536))
    st = hsgp_settings(half_range=2.0, lengthscale=prior, kernel="rbf")
    assert st.lengthscale[0] == pytest.approx(q05, rel=1e-6)
    # InverseGamma has no icdf without tensorflow_probability: Monte Carlo quantile
    st = hsgp_settings(half_range=2.0, lengthscale=dist.InverseGamma(5.0, 5.0), kernel="rbf")
    assert st.lengthscale[0] == pytest.approx(invgamma(5.0, scale=5.0).ppf(0.05), rel=0.01)


def test_check_warns_below_rule():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_hsgp_settings(30, 1.5, X1, 0.5, "rbf") == []
    with pytest.warns(HSGPSettingsWarning, match="num_basis m=5"):
        check_hsgp_settings(5, 1.5, X1, 0.5, "rbf")
    with pytest.warns(HSGPSettingsWarning, match="boundary factor c=1.5"):
        check_hsgp_settings(60, 1.5, X1, 3.0, "matern52")
    # a prior: its 5 % quantile decides (LogNormal(log 0.5, 1) has q05 ≈ 0.096)
    with pytest.warns(HSGPSettingsWarning, match="num_basis m=30"):
        check_hsgp_settings(30, 1.5, X1, dist.LogNormal(np.log(0.5), 1.0), "rbf")


def test_sum_and_scaled_spectral_weights():
    basis = HSGPBasis.from_inputs(X1, 20, 1.5)
    k1, k2 = RBF(lengthscale=0.5), Matern52(lengthscale=1.5, variance=2.0)
    w = np.asarray(hsgp_spectral_weights(k1 + 3.0 * k2, basis))
    ref = np.asarray(k1.spectral_density(basis.frequencies())) + 3.0 * np.asarray(k2.spectral_density(basis.frequencies()))
    np.testing.assert_allclose(w, ref, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(hsgp_spectral_weights(k1 + k2, basis, target=k2)),
                               np.asarray(k2.spectral_density(basis.frequencies())), rtol=1e-12)
    with pytest.raises(ValueError, match="summands"):
        hsgp_spectral_weights(k1 + k2, basis, target=RBF())
    with pytest.raises(ValueError, match="not a stationary"):
        hsgp_spectral_weights(k1 * k2, basis)


def test_basis_bad_input():
    with pytest.raises(ValueError, match="zero range"):
        HSGPBasis.from_inputs(np.ones(5), 10, 1.5)
    with pytest.raises(ValueError, match="num_basis"):
        HSGPBasis.from_inputs(X1, 0, 1.5)
    with pytest.raises(ValueError, match="boundary_factor"):
        HSGPBasis.from_inputs(X1, 10, 0.8)
    with pytest.raises(ValueError, match="input dimension"):
        HSGPBasis.from_inputs(X1, 10, 1.5).features(X2)
    with pytest.raises(ValueError, match="num_basis"):
        hsgp_features(RBF(), X1)


def test_latent_hsgp_in_numpyro_model():
    """Whitened latent HSGP f = Φ (√S ⊙ z) with a sampled lengthscale, traced under seed; gradients finite."""
    X = np.linspace(0.0, 5.0, 30)
    y = (np.sin(X) > 0).astype(float)
    basis = HSGPBasis.from_inputs(X, 25, 1.5)

    def model():
        ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
        Phi, sqrt_w = hsgp_features(RBF(lengthscale=ls), X, basis=basis)
        z = numpyro.sample("f_z", dist.Normal(0.0, 1.0).expand([Phi.shape[1]]).to_event(1))
        f = numpyro.deterministic("f", Phi @ (sqrt_w * z))
        numpyro.sample("y", dist.Bernoulli(logits=f), obs=y)

    tr = handlers.trace(handlers.seed(model, 0)).get_trace()
    assert tr["f_z"]["value"].shape == (25,) and tr["f"]["value"].shape == (30,)
    Phi, sqrt_w = hsgp_features(RBF(lengthscale=tr["ls"]["value"]), X, basis=basis)
    np.testing.assert_allclose(np.asarray(tr["f"]["value"]), np.asarray(Phi @ (sqrt_w * tr["f_z"]["value"])),
                               rtol=1e-12)
    params = {"ls": tr["ls"]["value"], "f_z": tr["f_z"]["value"]}
    lp, grads = jax.jit(jax.value_and_grad(lambda p: log_density(model, (), {}, p)[0]))(params)
    assert np.isfinite(float(lp)) and all(np.all(np.isfinite(np.asarray(g))) for g in grads.values())
    # the prior of f matches the HSGP covariance (Monte Carlo over z, fixed lengthscale)
    z = jax.random.normal(jax.random.PRNGKey(2), (20000, 25))
    f = z * sqrt_w @ Phi.T
    np.testing.assert_allclose(np.cov(np.asarray(f).T), np.asarray(Phi * sqrt_w**2 @ Phi.T), atol=0.05)
