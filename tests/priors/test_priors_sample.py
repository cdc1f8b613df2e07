"""sample_kernel: site names, shapes, fixed values, user priors, prefixes, static settings."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers

import bayeskern.kernels as K
from bayeskern.priors import (
    default_prior,
    sample_arc_cosine,
    sample_constant,
    sample_cosine,
    sample_kernel,
    sample_linear,
    sample_matern12,
    sample_matern32,
    sample_matern52,
    sample_periodic,
    sample_polynomial,
    sample_rational_quadratic,
    sample_rbf,
    sample_spectral_mixture,
    sample_white,
)

RNG = np.random.default_rng(0)
X1 = np.linspace(0.0, 10.0, 21)  # (21,), spacing 0.5, range 10
X3 = RNG.uniform(size=(15, 3)) * np.array([1.0, 10.0, 100.0])
Y = np.sin(X1) + 0.1 * RNG.normal(size=X1.shape)


def trace_of(fn, seed=0):
    tr = handlers.trace(handlers.seed(fn, seed)).get_trace()
    return {name: site for name, site in tr.items() if site["type"] == "sample"}


def kernel_and_trace(fn, seed=0):
    """Run ``fn`` (which returns a kernel) as a seeded model: (kernel, sample sites)."""
    holder = {}

    def model():
        holder["k"] = fn()

    tr = trace_of(model, seed)
    return holder["k"], tr


def test_matern52_site_names_shapes_and_values():
    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.Matern52, X=X1, y=Y))
    assert set(tr) == {"f_lengthscale", "f_variance"}
    assert isinstance(k, K.Matern52)
    for name in ("lengthscale", "variance"):
        site = tr[f"f_{name}"]
        assert jnp.shape(site["value"]) == ()
        assert site["fn"].event_shape == () and site["fn"].batch_shape == ()
        assert float(getattr(k, name)) == float(site["value"])
        assert float(site["value"]) > 0
    assert isinstance(tr["f_lengthscale"]["fn"], dist.InverseGamma)
    G = k(X1)
    assert G.shape == (21, 21) and bool(jnp.all(jnp.isfinite(G)))


def test_ard_gives_one_lengthscale_per_dimension():
    k, tr = kernel_and_trace(lambda: sample_kernel("g", K.RBF, X=X3, ard=True))
    site = tr["g_lengthscale"]
    assert site["value"].shape == (3,)
    assert site["fn"].event_shape == (3,) and site["fn"].batch_shape == ()
    np.testing.assert_array_equal(np.asarray(k.lengthscale), np.asarray(site["value"]))
    assert tr["g_variance"]["value"].shape == ()
    assert k(X3).shape == (15, 15)
    # One vector event: log_prob is a scalar, the sum of the per-dimension inverse gammas.
    assert site["fn"].log_prob(site["value"]).shape == ()


def test_fixed_values_create_no_site_and_are_used():
    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.Matern32, X=X1, variance=2.5))
    assert set(tr) == {"f_lengthscale"}
    assert float(k.variance) == 2.5

    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.Matern32, lengthscale=0.3, variance=np.float64(2.0)))
    assert tr == {}
    assert float(k.lengthscale) == 0.3 and float(k.variance) == 2.0


def test_fixed_array_value_under_ard():
    ls = np.array([0.5, 1.0, 2.0])
    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.RBF, X=X3, ard=True, lengthscale=ls))
    assert set(tr) == {"f_variance"}
    np.testing.assert_array_equal(np.asarray(k.lengthscale), ls)


def test_user_distribution_is_the_site_prior():
    prior = dist.LogNormal(0.5, 0.3)
    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.RBF, X=X1, lengthscale=prior))
    assert tr["f_lengthscale"]["fn"] is prior
    assert float(k.lengthscale) == float(tr["f_lengthscale"]["value"])


def test_scalar_user_distribution_is_expanded_under_ard():
    prior = dist.LogNormal(0.5, 0.3)
    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.RBF, X=X3, ard=True, lengthscale=prior))
    fn = tr["f_lengthscale"]["fn"]
    v = tr["f_lengthscale"]["value"]
    assert v.shape == (3,) and fn.event_shape == (3,) and fn.batch_shape == ()
    np.testing.assert_allclose(fn.log_prob(v), jnp.sum(prior.log_prob(v)), rtol=1e-12)


def test_batched_user_distribution_becomes_one_vector_event():
    prior = dist.LogNormal(jnp.zeros(3), jnp.array([0.5, 1.0, 2.0]))
    _, tr = kernel_and_trace(lambda: sample_kernel("f", K.RBF, X=X3, ard=True, lengthscale=prior))
    fn = tr["f_lengthscale"]["fn"]
    assert fn.event_shape == (3,) and fn.batch_shape == ()
    assert fn.base_dist is prior


def test_value_shared_between_kernels():
    def model():
        ls = numpyro.sample("shared_ls", dist.LogNormal(0.0, 1.0))
        k1 = sample_kernel("a", K.RBF, X=X1, lengthscale=ls)
        k2 = sample_kernel("b", K.Matern12, X=X1, lengthscale=ls)
        return k1, k2

    tr = trace_of(model)
    assert set(tr) == {"shared_ls", "a_variance", "b_variance"}
    k1, k2 = handlers.seed(model, 0)()
    assert float(k1.lengthscale) == float(k2.lengthscale) == float(tr["shared_ls"]["value"])


def test_two_prefixes_do_not_collide():
    def model():
        trend = sample_kernel("trend", K.RBF, X=X1, y=Y)
        season = sample_kernel("season", K.Periodic, X=X1, y=Y)
        return trend + season

    tr = trace_of(model)
    assert set(tr) == {
        "trend_lengthscale", "trend_variance",
        "season_lengthscale", "season_variance", "season_period",
    }
    k = handlers.seed(model, 1)()
    assert isinstance(k, K.Sum) and k(X1).shape == (21, 21)


def test_same_prefix_twice_is_numpyros_duplicate_site_error():
    def model():
        sample_kernel("f", K.RBF, X=X1)
        sample_kernel("f", K.Matern52, X=X1)

    with pytest.raises(AssertionError, match="duplicated"):
        trace_of(model)


FAMILIES = [
    (K.RBF, {}, sample_rbf),
    (K.Matern12, {}, sample_matern12),
    (K.Matern32, {}, sample_matern32),
    (K.Matern52, {}, sample_matern52),
    (K.RationalQuadratic, {}, sample_rational_quadratic),
    (K.Periodic, {}, sample_periodic),
    (K.Cosine, {}, sample_cosine),
    (K.SpectralMixture, {"num_mixtures": 2}, sample_spectral_mixture),
    (K.Linear, {}, sample_linear),
    (K.Polynomial, {"degree": 3}, sample_polynomial),
    (K.ArcCosine, {"order": 0}, sample_arc_cosine),
    (K.Constant, {}, sample_constant),
    (K.White, {}, sample_white),
]


@pytest.mark.parametrize("kernel_cls,kwargs,shortcut", FAMILIES, ids=[f[0].__name__ for f in FAMILIES])
def test_every_family_samples_all_its_hyperparameters(kernel_cls, kwargs, shortcut):
    k, tr = kernel_and_trace(lambda: sample_kernel("p", kernel_cls, X=X1, y=Y, **kwargs))
    assert set(tr) == {f"p_{n}" for n in kernel_cls._params}
    assert type(k) is kernel_cls
    for n in kernel_cls._params:
        np.testing.assert_array_equal(np.asarray(getattr(k, n)), np.asarray(tr[f"p_{n}"]["value"]))
        assert bool(jnp.all(jnp.isfinite(tr[f"p_{n}"]["value"])))
    G = k(X1)
    assert G.shape == (21, 21) and bool(jnp.all(jnp.isfinite(G)))
    for key in ("degree", "order"):
        if key in kwargs:
            assert getattr(k, key) == kwargs[key]
    # The shorthand is the same call.
    k2, tr2 = kernel_and_trace(lambda: shortcut("p", X1, Y, **kwargs))
    assert set(tr2) == set(tr)
    for n in tr:
        np.testing.assert_array_equal(np.asarray(tr[n]["value"]), np.asarray(tr2[n]["value"]))


def test_spectral_mixture_shapes():
    k, tr = kernel_and_trace(lambda: sample_kernel("sm", K.SpectralMixture, X=X3, y=X3[:, 0], num_mixtures=2))
    assert tr["sm_weights"]["value"].shape == (2,)
    assert tr["sm_means"]["value"].shape == (2, 3)
    assert tr["sm_scales"]["value"].shape == (2, 3)
    for n in ("weights", "means", "scales"):
        assert tr[f"sm_{n}"]["fn"].batch_shape == ()
    assert k.input_dim == 3 and k(X3).shape == (15, 15)


def test_periodic_ard_vectorises_lengthscale_and_period():
    _, tr = kernel_and_trace(lambda: sample_kernel("s", K.Periodic, X=X3, ard=True))
    assert tr["s_lengthscale"]["value"].shape == (3,)
    assert tr["s_period"]["value"].shape == (3,)
    assert tr["s_variance"]["value"].shape == ()


def test_linear_and_arccosine_ard_shapes():
    _, tr = kernel_and_trace(lambda: sample_kernel("l", K.Linear, X=X3, ard=True))
    assert tr["l_variance"]["value"].shape == (3,)
    _, tr = kernel_and_trace(lambda: sample_kernel("a", K.ArcCosine, X=X3, ard=True))
    assert tr["a_weight_variance"]["value"].shape == (3,)
    assert tr["a_bias_variance"]["value"].shape == ()


def test_active_dims_passes_through_and_scales_the_defaults():
    k, tr = kernel_and_trace(lambda: sample_kernel("f", K.RBF, X=X3, active_dims=[2]))
    assert k.active_dims == (2,)
    expected = default_prior(K.RBF, "lengthscale", X3[:, 2])
    fn = tr["f_lengthscale"]["fn"]
    np.testing.assert_allclose(fn.concentration, expected.concentration, rtol=1e-12)
    np.testing.assert_allclose(fn.rate, expected.rate, rtol=1e-12)
    other = default_prior(K.RBF, "lengthscale", X3)
    assert not np.isclose(float(fn.rate), float(other.rate))  # the other columns were ignored
    assert k(X3).shape == (15, 15)


def test_without_data_uses_weakly_informative_defaults():
    _, tr = kernel_and_trace(lambda: sample_kernel("f", K.RBF))
    for n in ("f_lengthscale", "f_variance"):
        fn = tr[n]["fn"]
        assert isinstance(fn, dist.LogNormal)
        assert float(fn.loc) == 0.0 and float(fn.scale) == 1.0


def test_substitute_and_condition_set_the_kernel():
    def model():
        return sample_kernel("f", K.Matern52, X=X1)

    k = handlers.substitute(handlers.seed(model, 0), data={"f_lengthscale": 0.7})()
    assert float(k.lengthscale) == 0.7
    k = handlers.condition(handlers.seed(model, 0), data={"f_variance": 3.0})()
    assert float(k.variance) == 3.0


def test_pc_prior_option_uses_pc_distributions():
    from bayeskern.priors import PCLengthscale

    _, tr = kernel_and_trace(lambda: sample_kernel("f", K.Matern32, X=X1, y=Y, pc_prior=True))
    assert isinstance(tr["f_lengthscale"]["fn"], PCLengthscale)
    assert isinstance(tr["f_variance"]["fn"], dist.TransformedDistribution)
