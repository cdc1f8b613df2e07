"""``bayeskern.gp.latent``: whitened and centred latent GPs inside NumPyro models."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import latent
from bayeskern.kernels import RBF, Kernel, Matern52
from bayeskern.linalg import CholeskyError

N = 12
X = np.linspace(0.0, 4.0, N)
K_RBF = np.asarray(RBF(lengthscale=0.9, variance=1.3)(X))


def _chol_jittered(K, rel=1e-10):
    return np.linalg.cholesky(K + rel * np.mean(np.diag(K)) * np.eye(K.shape[0]))


def _trace(model, seed=0, **kw):
    return handlers.trace(handlers.seed(model, seed)).get_trace(**kw)


@pytest.mark.parametrize(
    "mean, loc",
    [(None, np.zeros(N)), (0.5, np.full(N, 0.5)), (np.cos(X), np.cos(X)), (lambda x: 1.0 - x, 1.0 - X)],
    ids=["zero", "constant", "array", "callable"],
)
def test_whitened_sites_and_transform(mean, loc):
    k = RBF(lengthscale=0.9, variance=1.3)
    returned = {}

    def model():
        returned["f"] = latent("f", k, X, mean=mean)

    tr = _trace(model)
    assert set(tr) == {"f_z", "f"}
    assert tr["f_z"]["type"] == "sample"
    assert tr["f"]["type"] == "deterministic"
    zfn = tr["f_z"]["fn"]
    assert zfn.event_shape == (N,) and zfn.batch_shape == ()
    np.testing.assert_allclose(np.asarray(zfn.mean), 0.0)
    np.testing.assert_allclose(np.asarray(zfn.variance), 1.0)
    z = np.asarray(tr["f_z"]["value"])
    f = np.asarray(tr["f"]["value"])
    np.testing.assert_allclose(f, loc + _chol_jittered(K_RBF) @ z, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(returned["f"]), f)


def test_whitened_substituted_z_and_explicit_jitter():
    k = RBF(lengthscale=0.9, variance=1.3)
    z = np.linspace(-1.0, 1.0, N)

    def model():
        return latent("g", k, X, jitter=1e-6)

    tr = handlers.trace(handlers.substitute(model, data={"g_z": z})).get_trace()
    np.testing.assert_allclose(np.asarray(tr["g"]["value"]), _chol_jittered(K_RBF, 1e-6) @ z, rtol=1e-10, atol=1e-12)


def test_centred_site_is_multivariate_normal():
    k = RBF(lengthscale=0.9, variance=1.3)

    def model():
        return latent("f", k, X, mean=0.2, whitened=False)

    tr = _trace(model)
    assert set(tr) == {"f"}
    site = tr["f"]
    assert site["type"] == "sample"
    assert isinstance(site["fn"], dist.MultivariateNormal)
    np.testing.assert_allclose(np.asarray(site["fn"].scale_tril), _chol_jittered(K_RBF), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(site["fn"].loc), 0.2)
    assert site["value"].shape == (N,)


def test_distinct_names_do_not_collide_and_likelihood_on_top():
    def model(y=None):
        f1 = latent("trend", RBF(lengthscale=2.0), X)
        f2 = latent("season", Matern52(lengthscale=0.5), X, whitened=False)
        numpyro.sample("y", dist.Poisson(jnp.exp(f1 + f2)), obs=y)

    tr = _trace(model, y=np.arange(N))
    assert {"trend_z", "trend", "season", "y"} <= set(tr)
    assert "season_z" not in tr
    np.testing.assert_allclose(
        np.asarray(tr["y"]["fn"].rate), np.exp(np.asarray(tr["trend"]["value"]) + np.asarray(tr["season"]["value"]))
    )


def test_whitened_prior_covariance_by_simulation():
    k = RBF(lengthscale=0.9, variance=1.3)

    def model():
        latent("f", k, X)

    draws = np.asarray(
        numpyro.infer.Predictive(model, num_samples=20000, return_sites=["f"])(jax.random.PRNGKey(1))["f"]
    )
    assert draws.shape == (20000, N)
    sd = np.sqrt(np.diag(K_RBF))
    emp = np.cov(draws, rowvar=False)
    np.testing.assert_array_less(np.abs(emp - K_RBF), 5 * np.sqrt((np.outer(sd, sd) ** 2 + K_RBF**2) / 20000))


def test_mean_of_wrong_shape_raises():
    """The boundary check must name ``mean`` (not a raw JAX broadcasting error)."""
    with pytest.raises(ValueError, match="mean"):
        handlers.seed(lambda: latent("f", RBF(), X, mean=np.zeros(N + 1)), 0)()


class _NegativeIdentity(Kernel):
    """Not a covariance function: k(X) = -I."""

    _params = {}

    def _gram(self, X1, X2):
        if X2 is None:
            return -jnp.eye(X1.shape[0])
        return jnp.zeros((X1.shape[0], X2.shape[0]))


def test_indefinite_kernel_on_concrete_values_raises_not_nan():
    """Jitter policy (linalg/cholesky.py): on concrete matrices failure raises CholeskyError, never
    NaN. GaussianProcess.sample/condition follow it; the whitened latent() must too when run eagerly
    (under jit/NUTS the policy itself leaves the non-finite factor for the sampler to reject)."""
    model = handlers.seed(lambda: latent("f", _NegativeIdentity(), X), 0)
    with pytest.raises(CholeskyError):
        model()


def test_indefinite_kernel_centred_is_not_silent():
    # the centred site at least fails loudly (NumPyro rejects the non-finite scale_tril)
    with pytest.raises(ValueError):
        handlers.seed(lambda: latent("f", _NegativeIdentity(), X, whitened=False), 0)()
