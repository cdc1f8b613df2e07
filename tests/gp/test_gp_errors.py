"""Boundary errors of the GP layer: ValueErrors naming the argument, CholeskyError not NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.kernels import RBF, Kernel
from bayeskern.linalg import CholeskyError

N = 12
X = np.linspace(0.0, 4.0, N)
Y = np.sin(X)


class NegativeIdentity(Kernel):
    """Not a covariance function: k(X) = -I."""

    _params = {}

    def _gram(self, X1, X2):
        if X2 is None:
            return -jnp.eye(X1.shape[0])
        return jnp.zeros((X1.shape[0], X2.shape[0]))


def test_nan_in_y():
    gp = GaussianProcess(RBF(), X, noise=0.1)
    bad = Y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match=r"\by\b.*NaN"):
        gp.log_prob(bad)
    with pytest.raises(ValueError, match=r"\by\b.*NaN"):
        gp.condition(bad, X[:5])
    with pytest.raises(ValueError, match=r"\by\b"):
        gp.pointwise_log_prob(bad)


def test_length_mismatch():
    gp = GaussianProcess(RBF(), X, noise=0.1)
    with pytest.raises(ValueError, match=r"y must have shape \(\.\.\., 12\)"):
        gp.log_prob(Y[:-1])
    with pytest.raises(ValueError, match="y"):
        gp.condition(Y[:-1])
    with pytest.raises(ValueError, match="single vector"):
        gp.condition(np.stack([Y, Y]))


def test_nan_in_X():
    bad = X.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match=r"^X contains NaN"):
        GaussianProcess(RBF(), bad, noise=0.1)
    gp = GaussianProcess(RBF(), X, noise=0.1)
    with pytest.raises(ValueError, match="X_new"):
        gp.condition(Y, np.array([0.0, np.nan]))


def test_X_new_dimension_mismatch():
    gp = GaussianProcess(RBF(), X, noise=0.1)
    with pytest.raises(ValueError, match="X_new"):
        gp.condition(Y, np.zeros((3, 2)))


@pytest.mark.parametrize("noise", [-0.1, np.r_[np.full(N - 1, 0.1), -1e-3], np.nan])
def test_bad_noise_values(noise):
    with pytest.raises(ValueError, match="noise"):
        GaussianProcess(RBF(), X, noise=noise)


@pytest.mark.parametrize("noise", [np.full(N - 1, 0.1), np.full((N, 1), 0.1)])
def test_noise_of_wrong_shape(noise):
    with pytest.raises(ValueError, match=r"noise must be a scalar or have shape \(12,\)"):
        GaussianProcess(RBF(), X, noise=noise)


def test_non_kernel_and_unknown_structure_and_bad_mean():
    with pytest.raises(ValueError, match="kernel"):
        GaussianProcess(lambda a, b=None: np.eye(N), X)
    with pytest.raises(ValueError, match="structure"):
        GaussianProcess(RBF(), X, structure="kronecker-magic")
    with pytest.raises(ValueError, match="mean"):
        GaussianProcess(RBF(), X, mean=np.zeros(N - 1))
    with pytest.raises(ValueError, match="mean"):
        GaussianProcess(RBF(), X, mean=lambda x: np.zeros(3))


def test_indefinite_kernel_raises_cholesky_error_in_condition():
    gp = GaussianProcess(NegativeIdentity(), X)
    with pytest.raises(CholeskyError, match="GP covariance"):
        gp.condition(Y)
    with pytest.raises(CholeskyError):
        gp.condition(Y, X[:5])
    with pytest.raises(CholeskyError):
        gp.sample(jax.random.PRNGKey(0))
    # eager log_prob raises; under jit (inside samplers) the log density is -inf, never NaN
    with pytest.raises(CholeskyError):
        gp.log_prob(Y)
    assert float(jax.jit(lambda y: GaussianProcess(NegativeIdentity(), X).log_prob(y))(Y)) == -np.inf
