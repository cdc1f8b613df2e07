"""The runners reject bad data with errors that name it, before any sampling."""

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayeskern  # noqa: F401
from bayeskern.gp import GaussianProcess
from bayeskern.infer import laplace, nuts, svi
from bayeskern.kernels import RBF, Kernel
from bayeskern.linalg import CholeskyError

X = np.linspace(0.0, 1.0, 10)
Y = np.sin(3 * X)


def gp_model(X, y=None):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 1.0))
    numpyro.sample("y", GaussianProcess(RBF(lengthscale=ls), X, noise=0.1), obs=y)


class Indefinite(Kernel):
    """Not a covariance: -I."""

    _params = {}

    def _gram(self, X1, X2):
        import jax.numpy as jnp

        return -jnp.eye(X1.shape[0])


def bad_kernel_model(X, y=None):
    numpyro.sample("ls", dist.LogNormal(0.0, 1.0))
    numpyro.sample("y", GaussianProcess(Indefinite(), X), obs=y)


RUNNERS = [
    lambda m, *a: nuts(m, *a, num_warmup=5, num_samples=5, num_chains=1, progress_bar=False),
    lambda m, *a: svi(m, *a, steps=5),
    lambda m, *a: laplace(m, *a, steps=5),
]


@pytest.mark.parametrize("run", RUNNERS, ids=["nuts", "svi", "laplace"])
def test_nan_in_y_is_named(run):
    y = Y.copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        run(gp_model, X, y)


@pytest.mark.parametrize("run", RUNNERS, ids=["nuts", "svi", "laplace"])
def test_length_mismatch_is_named(run):
    with pytest.raises(ValueError, match=r"y must have shape \(\.\.\., 10\) to match the 10 inputs in X"):
        run(gp_model, X, Y[:8])


def test_nan_in_X_is_named():
    Xb = X.copy()
    Xb[0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        nuts(gp_model, Xb, Y, num_warmup=5, num_samples=5, num_chains=1, progress_bar=False)


def test_hopeless_kernel_raises_cholesky_error_not_nan_posterior():
    with pytest.raises(CholeskyError, match="not positive definite"):
        nuts(bad_kernel_model, X, Y, num_warmup=5, num_samples=5, num_chains=1, progress_bar=False)
