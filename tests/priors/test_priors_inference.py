"""Kernel priors inside real NumPyro machinery: Predictive, NUTS, jit, traced inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer import MCMC, NUTS, Predictive

import bayeskern.kernels as K
from bayeskern.priors import default_priors, sample_kernel

X = np.linspace(0.0, 5.0, 12)
Y = np.sin(X) + 0.1 * np.random.default_rng(0).normal(size=X.shape)
XJ, YJ = jnp.asarray(X), jnp.asarray(Y)
SITES = {"f_lengthscale", "f_variance", "noise_variance"}


def gp_model(X, y=None):
    k = sample_kernel("f", K.Matern52, X=X, y=Y)
    noise = sample_kernel("noise", K.White, y=Y)
    cov = k(X) + noise(X) + 1e-8 * jnp.eye(X.shape[0])
    numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(X.shape[0]), covariance_matrix=cov), obs=y)


def pc_gp_model(X, y=None):
    k = sample_kernel("f", K.Matern52, X=X, y=Y, pc_prior=True)
    noise = sample_kernel("noise", K.White, y=Y, pc_prior=True)
    cov = k(X) + noise(X) + 1e-8 * jnp.eye(X.shape[0])
    numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(X.shape[0]), covariance_matrix=cov), obs=y)


def test_prior_predictive():
    out = Predictive(pc_gp_model, num_samples=30)(jax.random.PRNGKey(0), X)
    assert SITES | {"y"} <= set(out)
    for name in SITES:
        assert out[name].shape == (30,)
        assert bool(jnp.all(jnp.isfinite(out[name]))) and bool(jnp.all(out[name] > 0))
    assert out["y"].shape == (30, 12) and bool(jnp.all(jnp.isfinite(out["y"])))


def test_short_nuts_run():
    mcmc = MCMC(NUTS(gp_model), num_warmup=50, num_samples=50, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(1), X, Y)
    samples = mcmc.get_samples()
    assert set(samples) == SITES
    for name in SITES:
        assert samples[name].shape == (50,)
        assert bool(jnp.all(jnp.isfinite(samples[name]))) and bool(jnp.all(samples[name] > 0))
    # sin on [0, 5] seen through 12 points: the lengthscale lands within the prior's bulk.
    assert 0.45 < float(jnp.median(samples["f_lengthscale"])) < 5.0


def _draw(key):
    holder = {}

    def model():
        # Closed-over JAX arrays are concrete inside the trace: the data-scaled defaults still apply.
        holder["k"] = sample_kernel("f", K.Matern52, X=XJ, y=YJ)

    tr = handlers.trace(handlers.seed(model, key)).get_trace()
    return {n: s["value"] for n, s in tr.items()}, holder["k"]


def test_under_jit_with_data_closed_over():
    draw = jax.jit(_draw)
    values, kernel = draw(jax.random.PRNGKey(3))
    assert set(values) == {"f_lengthscale", "f_variance"}
    assert isinstance(kernel, K.Matern52)  # kernels are pytrees: they come out of jit
    assert float(kernel.lengthscale) == float(values["f_lengthscale"]) > 0
    assert float(kernel.variance) == float(values["f_variance"]) > 0
    again, _ = draw(jax.random.PRNGKey(3))
    other, _ = draw(jax.random.PRNGKey(4))
    assert float(again["f_lengthscale"]) == float(values["f_lengthscale"])
    assert float(other["f_lengthscale"]) != float(values["f_lengthscale"])


def test_vmap_over_seeds():
    def lengthscales(key):
        model = lambda: sample_kernel("f", K.RBF, X=np.c_[X, X], ard=True, pc_prior=True, variance=1.0)  # noqa: E731
        return handlers.seed(model, key)().lengthscale

    out = jax.vmap(lengthscales)(jax.random.split(jax.random.PRNGKey(0), 5))
    assert out.shape == (5, 2) and bool(jnp.all(out > 0))
    assert len(np.unique(np.asarray(out[:, 0]))) == 5


def test_traced_inputs_give_the_same_draw_as_concrete_ones():
    def model(x):
        return sample_kernel("f", K.RBF, X=x)

    traced = jax.jit(lambda x: handlers.seed(model, 0)(x).lengthscale)(X)
    concrete = handlers.seed(model, 0)(X).lengthscale
    np.testing.assert_allclose(traced, concrete, rtol=1e-6)

    priors = default_priors(K.RBF, X, Y, pc_prior=True)  # concrete, outside the trace

    def model2(x):
        return sample_kernel("f", K.RBF, X=x, **priors)

    def gram(x, key):
        return handlers.seed(model2, key)(x)(x)

    G = jax.jit(gram)(X, jax.random.PRNGKey(0))
    assert G.shape == (12, 12) and bool(jnp.all(jnp.isfinite(G)))


def test_ard_shape_is_known_from_traced_inputs():
    # The number of dimensions is static even when X is traced, so ARD with explicit priors works.
    def draw(x, key):
        k = handlers.seed(lambda: sample_kernel("f", K.RBF, X=x, ard=True, lengthscale=dist.LogNormal(0.0, 1.0),
                                                 variance=1.0), key)()
        return k.lengthscale

    ls = jax.jit(draw)(np.c_[X, X], jax.random.PRNGKey(0))
    assert ls.shape == (2,)
