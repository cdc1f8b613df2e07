"""Kernel capabilities are registries: a new family added here, with no library edit, works with the
Hilbert-space basis and the Kalman filter; kernels without a capability get one clear error."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (turns on float64)
from bayeskern.features import HSGPBasis, hsgp_features, rff_features
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Kernel, Matern12, Matern32, UnsupportedKernelError, state_space
from bayeskern.kernels.capabilities import (
    sample_frequencies,
    spectral_density,
    supported_kernels,
    supports,
)
from bayeskern.kernels.state_space import StateSpaceModel, real_array, scalar_param, state_space_form
from bayeskern.kernels.state_space_transitions import discrete_transitions, transition_matrix


class Laplacian(Kernel):
    """A family defined outside the library: ``variance · exp(-|x1 - x2| / lengthscale)`` on 1-D inputs.

    (Matérn 1/2 in disguise, written from scratch as a plain ``Kernel``, so it
    inherits no capability from the library's families.)
    """

    stationary = True
    _params = {"lengthscale": (1.0, "positive"), "variance": (1.0, "positive")}

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        return self.variance * jnp.exp(-jnp.abs(X1[:, :1] - X2[:, 0][None, :]) / self.lengthscale)


# Its registrations: the only code a new family needs (next to its class).
@spectral_density.register(Laplacian)
def _laplacian_density(k, omega):
    w2 = jnp.sum(jnp.asarray(omega) ** 2, axis=-1)  # omega (m, 1)
    return 2 * k.variance * k.lengthscale / (1 + k.lengthscale**2 * w2)


@state_space_form.register(Laplacian)
def _laplacian_sde(k, num_harmonics):
    lam, var = 1.0 / scalar_param(k, "lengthscale"), real_array(k.variance)
    one = jnp.ones((1, 1), dtype=lam.dtype)
    return StateSpaceModel(F=-lam * one, L=one, Qc=2 * var * lam * one, H=one, Pinf=var * one)


@transition_matrix.register(Laplacian)
def _laplacian_transition(k, dt, num_harmonics):
    return jnp.reshape(jnp.exp(-dt / scalar_param(k, "lengthscale")), (1, 1))


class Unregistered(Kernel):
    """A family that registers nothing."""

    _params = {"variance": (1.0, "positive")}

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        return self.variance * (X1 @ X2.T)


X = np.linspace(-2.0, 2.0, 41)[:, None]
Y = np.sin(2 * X[:, 0])


def test_new_family_is_listed_as_supporting_its_capabilities():
    k = Laplacian(lengthscale=0.7)
    assert Laplacian in spectral_density.registry and Laplacian in state_space_form.registry
    assert supports(spectral_density, k) and supports(state_space_form, k)
    assert not supports(sample_frequencies, k)
    assert "Laplacian" in supported_kernels(spectral_density)


def test_new_family_works_with_hsgp():
    k = Laplacian(lengthscale=0.7, variance=1.3)
    twin = Matern12(lengthscale=0.7, variance=1.3)  # the library family it duplicates
    Phi, sqrt_w = hsgp_features(k, X, num_basis=400, boundary_factor=3.0)
    Phi_twin, sqrt_w_twin = hsgp_features(twin, X, num_basis=400, boundary_factor=3.0)
    np.testing.assert_allclose(np.asarray(sqrt_w), np.asarray(sqrt_w_twin), rtol=1e-12)
    K_approx = np.asarray((Phi * sqrt_w) @ (Phi * sqrt_w).T)
    # Matérn 1/2 converges slowly in m (O(1/m)): within 1 % of the kernel inside the data range.
    np.testing.assert_allclose(K_approx[15:26, 15:26], np.asarray(k(X))[15:26, 15:26], atol=0.015)
    # The composite rules fold it with library families, with no library edit.
    basis = HSGPBasis.from_inputs(X, 30, 1.5)
    w = basis.spectral_weights(2.0 * k + Matern32(lengthscale=0.5))
    ref = 2.0 * _laplacian_density(k, basis.frequencies()) + Matern32(lengthscale=0.5).spectral_density(
        basis.frequencies())
    np.testing.assert_allclose(np.asarray(w), np.asarray(ref), rtol=1e-12)
    # ... and the GP back end uses it as it uses the library's Matern12.
    gp = GaussianProcess(k, X, noise=0.1, structure="hsgp", num_basis=60, boundary_factor=2.0)
    gp_twin = GaussianProcess(twin, X, noise=0.1, structure="hsgp", num_basis=60, boundary_factor=2.0)
    np.testing.assert_allclose(float(gp.log_prob(Y)), float(gp_twin.log_prob(Y)), rtol=1e-10)


def test_new_family_works_with_the_state_space_form_and_kalman():
    k = Laplacian(lengthscale=0.7, variance=1.3)
    tau = np.linspace(0.0, 3.0, 31)
    np.testing.assert_allclose(np.asarray(state_space(k).covariance(tau)), 1.3 * np.exp(-tau / 0.7), rtol=1e-10)
    # A sum and a product with a library family: folded by the composite rules.
    both = k * Matern32(lengthscale=1.1) + Matern32(lengthscale=0.4, variance=0.2)
    ref = np.asarray(both(np.zeros((1, 1)), tau[:, None]))[0]
    np.testing.assert_allclose(np.asarray(state_space(both).covariance(tau)), ref, rtol=1e-9, atol=1e-12)
    A, Q = discrete_transitions(both, np.diff(tau))
    A_ref, Q_ref = state_space(both).transition(np.diff(tau))
    np.testing.assert_allclose(np.asarray(A), np.asarray(A_ref), atol=1e-10)
    np.testing.assert_allclose(np.asarray(Q), np.asarray(Q_ref), atol=1e-10)
    kalman = GaussianProcess(both, X, noise=0.1, structure="kalman")
    dense = GaussianProcess(both, X, noise=0.1, structure="dense")
    np.testing.assert_allclose(float(kalman.log_prob(Y)), float(dense.log_prob(Y)), rtol=1e-8)


def test_unsupported_kernels_get_one_clear_type_error():
    with pytest.raises(TypeError) as err:
        state_space(Unregistered())
    assert isinstance(err.value, UnsupportedKernelError) and isinstance(err.value, ValueError)
    msg = str(err.value)
    assert "Unregistered has no state-space form" in msg and "state_space_form" in msg
    for name in ("Laplacian", "Matern12", "Sum", "Product", "Scaled"):
        assert name in msg
    # A refusal recorded by a family is its message; the list of kernels that have it follows.
    with pytest.raises(TypeError, match=r"RBF has no finite state-space form.*registered for: .*Laplacian"):
        state_space(RBF())
    with pytest.raises(TypeError, match=r"Unregistered is not a stationary kernel.*'spectral_density'.*Laplacian"):
        hsgp_features(Unregistered(), X, num_basis=10)
    with pytest.raises(TypeError, match=r"Laplacian is not a stationary kernel with a frequency sampler"):
        rff_features(Laplacian(), X, key=jax.random.PRNGKey(0), num_features=5)
    # A composite is as capable as its parts: a product has no spectral density.
    with pytest.raises(TypeError, match=r"Product is not a stationary kernel.*spectral_density"):
        hsgp_features(Laplacian() * Laplacian(), X, num_basis=10)


def test_frequency_sampler_registration_enables_random_fourier_features():
    class Laplacian2(Laplacian):
        """A subclass inherits its parent's registrations and may add more."""

    @sample_frequencies.register(Laplacian2)
    def _cauchy(k, key, num, dim):
        return jax.random.cauchy(key, (num, dim)) / k.lengthscale

    k = Laplacian2(lengthscale=0.5)
    assert supports(spectral_density, k)
    Phi = rff_features(k, X, key=jax.random.PRNGKey(0), num_features=20000)
    K = np.asarray(k(X))
    assert np.max(np.abs(np.asarray(Phi @ Phi.T) - K)) < 0.05
    assert math.isclose(float(np.mean(np.diag(np.asarray(Phi @ Phi.T)))), 1.0, rel_tol=1e-12)
