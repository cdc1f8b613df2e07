"""One way to give a kernel: resolve_kernel's three forms and refusals, and the same spec in every module."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers

import bayeskern.kernels as K
from bayeskern import cox, gp, optimize, quadrature
from bayeskern.cox.fit import laplace_grid_model
from bayeskern.infer import Fit
from bayeskern.priors import KernelSpecError, default_prior, kernel_spec_kind, resolve_kernel

X = np.linspace(0.0, 4.0, 9)[:, None]  # (9, 1), spacing 0.5, range 4
Y = np.sin(X[:, 0])

FIXED = K.Matern32(lengthscale=0.7, variance=1.3)  # the instance spec
FAMILY = K.Matern32  # the class spec


def my_kernel(prefix, X):
    """The callable spec: the user's own prior on the lengthscale, a fixed variance."""
    ell = numpyro.sample(f"{prefix}_ell", dist.LogNormal(0.0, 0.5))
    return K.Matern32(lengthscale=ell, variance=1.0)


def sample_sites(fn, *args, seed=0, **kwargs):
    tr = handlers.trace(handlers.seed(fn, seed)).get_trace(*args, **kwargs)
    return {name: site for name, site in tr.items() if site["type"] == "sample" and not site["is_observed"]}


# ------------------------------------------------------------------ resolve_kernel
def test_instance_is_returned_as_is_with_no_sites():
    sites = sample_sites(lambda: resolve_kernel(FIXED, "f", X))
    assert sites == {}
    assert handlers.seed(resolve_kernel, 0)(FIXED, "f", X) is FIXED
    assert kernel_spec_kind(FIXED) == "instance"


def test_class_samples_prefixed_sites_with_data_scaled_priors():
    sites = sample_sites(lambda: resolve_kernel(FAMILY, "f", X, Y))
    assert sorted(sites) == ["f_lengthscale", "f_variance"]
    # the data-scaled defaults of bayeskern.priors, from X and y
    for name in ("lengthscale", "variance"):
        want = default_prior(FAMILY, name, X, Y)
        v = sites[f"f_{name}"]["value"]
        np.testing.assert_allclose(sites[f"f_{name}"]["fn"].log_prob(v), want.log_prob(v), rtol=1e-12)
    k = handlers.seed(resolve_kernel, 0)(FAMILY, "f", X, Y)
    assert type(k) is K.Matern32 and kernel_spec_kind(FAMILY) == "class"
    # prior options reach sample_kernel: ARD lengthscales (d,), a fixed variance
    X2 = np.column_stack([X[:, 0], X[::-1, 0] ** 2])
    sites = sample_sites(lambda: resolve_kernel(FAMILY, "g", X2, ard=True, variance=2.0))
    assert sorted(sites) == ["g_lengthscale"] and sites["g_lengthscale"]["value"].shape == (2,)


def test_callable_is_called_with_prefix_and_inputs():
    seen = {}

    def spec(prefix, Xin):
        seen["args"] = (prefix, Xin)
        return my_kernel(prefix, Xin)

    sites = sample_sites(lambda: resolve_kernel(spec, "f", X))
    assert sorted(sites) == ["f_ell"] and seen["args"][0] == "f" and seen["args"][1] is X
    assert kernel_spec_kind(spec) == "callable"


def test_none_takes_the_default_spec_or_is_refused():
    sites = sample_sites(lambda: resolve_kernel(None, "f", X, default=K.RBF))
    assert sorted(sites) == ["f_lengthscale", "f_variance"]
    with pytest.raises(KernelSpecError, match="kernel is required"):
        resolve_kernel(None, "f", X)


@pytest.mark.parametrize("bad, word", [
    ("matern52", r"string 'matern52': pass the class bk\.kernels\.Matern52"),
    ("cubic", "pass a class such as"),
    (3.0, "got float"),
    (np.eye(3), "got ndarray"),
    (K.Sum, "combinator"),
    (dict, "got the class dict"),
])
def test_anything_else_is_a_type_error_naming_the_argument_and_the_three_forms(bad, word):
    with pytest.raises(TypeError, match=word) as err:
        handlers.seed(resolve_kernel, 0)(bad, "f", X, argname="my_kernel")
    msg = str(err.value)
    assert msg.startswith("my_kernel must be") and "Kernel instance" in msg and "kernel class" in msg
    assert "callable (prefix, X) -> Kernel" in msg
    assert isinstance(err.value, ValueError)  # older callers caught ValueError


def test_callable_must_return_a_kernel_and_prefix_must_be_a_name():
    with pytest.raises(KernelSpecError, match=r"must return a bayeskern Kernel.*returned ndarray"):
        resolve_kernel(lambda p, X_: np.eye(2), "f", X)
    with pytest.raises(ValueError, match="prefix"):
        resolve_kernel(FAMILY, "", X)


def test_gaussian_process_takes_an_instance_and_points_to_the_model_pieces():
    with pytest.raises(TypeError, match=r"resolve_kernel.*bk\.gp\.latent"):
        gp.GaussianProcess(FAMILY, X, noise=0.1)


# ------------------------------------------------------------------ the same spec in every module
def test_gp_pieces_take_a_class_under_their_name():
    def latent_model():
        gp.latent("f", FAMILY, X)

    sites = sample_sites(latent_model)
    assert sorted(sites) == ["f_lengthscale", "f_variance", "f_z"]
    assert sites["f_lengthscale"]["fn"].log_prob(1.0) == default_prior(FAMILY, "lengthscale", X).log_prob(1.0)

    counts = np.array([0, 1, 3, 2, 0, 1, 4, 2, 1])

    def laplace_model(spec):
        gp.laplace_marginal("h", spec, X, lambda f: dist.Poisson(jnp.exp(f)), counts)

    assert sorted(sample_sites(laplace_model, FAMILY)) == ["h_lengthscale", "h_variance"]
    assert sorted(sample_sites(laplace_model, my_kernel)) == ["h_ell"]
    assert sample_sites(laplace_model, FIXED) == {}


def test_predict_latent_reads_a_class_from_the_pieces_sites():
    counts = np.array([0, 1, 3, 2, 0, 1, 4, 2, 1])

    def model(x, y):
        gp.laplace_marginal("f", FAMILY, x, lambda f: dist.Poisson(jnp.exp(f)), y)

    draws = {"f_lengthscale": np.array([[1.2, 0.7]]), "f_variance": np.array([[0.8, 1.5]])}
    fit = Fit(draws, method="nuts", model=model, model_args=(X, counts), model_kwargs={})
    Xn = np.array([[0.3], [2.5], [4.6]])
    by_class = gp.predict_latent(fit, "f", Xn, X=X, kernel=FAMILY)
    by_hand = gp.predict_latent(fit, "f", Xn, X=X, kernel=lambda v: K.Matern32(lengthscale=v["f_lengthscale"],
                                                                                 variance=v["f_variance"]))
    np.testing.assert_allclose(by_class.mean, by_hand.mean, rtol=1e-12)
    np.testing.assert_allclose(by_class.var, by_hand.var, rtol=1e-12)
    with pytest.raises(ValueError, match="f_alpha"):
        gp.predict_latent(fit, "f", Xn, X=X, kernel=K.RationalQuadratic)


def test_cox_models_take_a_callable():
    grid = cox.make_grid((0.0, 10.0), 12)
    counts = np.arange(12) % 3
    for model in (cox.models.cox_grid_model, laplace_grid_model):
        sites = sample_sites(model, grid, counts, name="f", kernel=my_kernel)
        assert "f_ell" in sites and not any(s.endswith("lengthscale") for s in sites)
        sites = sample_sites(model, grid, counts, name="f", kernel=FAMILY)
        assert {"f_lengthscale", "f_variance"} <= set(sites)


def test_optimize_surrogate_takes_a_class_and_round_trips_it(tmp_path):
    sur = optimize.GPSurrogate(kernel=FAMILY, noise=1e-6)
    assert type(sur.kernel(jnp.ones(2), 1.0)) is K.Matern32
    assert sur.config()["kernel"] == "Matern32"
    assert optimize.GPSurrogate.from_config(sur.config()) == sur
    opt = optimize.Optimizer([[0.0, 1.0], [0.0, 1.0]], surrogate=sur)
    opt.tell(np.array([[0.2, 0.3], [0.7, 0.1]]), np.array([1.0, 2.0]))
    restored = optimize.Optimizer.load(opt.save(tmp_path / "bo.npz"))
    assert restored.surrogate.kernel_family is K.Matern32 and restored.surrogate == sur
    with pytest.raises(TypeError, match="kernel class"):
        optimize.GPSurrogate(kernel=my_kernel)


def test_quadrature_takes_an_instance_and_a_class_and_explains_a_callable():
    measure = quadrature.Uniform(np.zeros(1), np.ones(1))
    Xq = np.linspace(0.05, 0.95, 7)[:, None]
    fq = np.sin(3.0 * Xq[:, 0])
    truth = (1.0 - np.cos(3.0)) / 3.0
    fixed = quadrature.integrate((Xq, fq), measure, kernel=FIXED)
    assert fixed.kernel is FIXED
    learned = quadrature.integrate((Xq, fq), measure, kernel=FAMILY)
    assert isinstance(learned.kernel, K.Kernel) and learned.kernel is not FIXED
    for res in (fixed, learned):
        assert abs(res.mean - truth) < 0.05
    k, values = quadrature.fit_kernel(Xq, fq, FIXED)
    assert k is FIXED and values == {}
    k, values = quadrature.fit_kernel(Xq, fq, FAMILY)
    assert {"lengthscale", "variance"} <= set(values)
    with pytest.raises(TypeError, match="callable"):
        quadrature.integrate((Xq, fq), measure, kernel=my_kernel)
    with pytest.raises(TypeError, match="callable"):
        quadrature.fit_kernel(Xq, fq, my_kernel)
