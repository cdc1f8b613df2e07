"""Bad input: clear errors naming the argument, raised before any site is sampled."""

import jax
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro import handlers

import bayeskern.kernels as K
from bayeskern.priors import default_prior, sample_kernel

X1 = np.linspace(0.0, 10.0, 21)
Y = np.sin(X1)


def raises_before_sampling(exc, match, **call):
    """Run sample_kernel(**call) under seed+trace; it must raise ``exc`` and leave no site."""
    with handlers.seed(rng_seed=0), handlers.trace() as tr:
        with pytest.raises(exc, match=match) as info:
            sample_kernel(**call)
    assert tr == {}, f"sites sampled before the error: {list(tr)}"
    return info


def test_nan_in_X_names_X():
    X = X1.copy()
    X[3] = np.nan
    raises_before_sampling(ValueError, r"\bX\b", prefix="f", kernel_cls=K.RBF, X=X)


def test_inf_in_y_names_y():
    y = Y.copy()
    y[0] = np.inf
    raises_before_sampling(ValueError, r"\by\b", prefix="f", kernel_cls=K.RBF, X=X1, y=y)


def test_X_of_wrong_rank():
    raises_before_sampling(ValueError, r"\bX\b", prefix="f", kernel_cls=K.RBF, X=np.ones((2, 3, 4)))


def test_unknown_hyperparameter_is_named():
    raises_before_sampling(TypeError, "lenghtscale", prefix="f", kernel_cls=K.RBF, X=X1, lenghtscale=1.0)
    with pytest.raises(TypeError, match="period"):
        default_prior(K.RBF, "period", X1)


@pytest.mark.parametrize("value", [0.0, -1.0, np.array([1.0, -2.0])])
def test_fixed_non_positive_value_is_named(value):
    raises_before_sampling(ValueError, "lengthscale", prefix="f", kernel_cls=K.Matern52, X=X1, lengthscale=value)


def test_fixed_nan_value_is_named():
    raises_before_sampling(ValueError, "variance", prefix="f", kernel_cls=K.RBF, variance=np.nan)


def test_bad_static_setting_raises_before_sampling():
    raises_before_sampling(ValueError, "degree", prefix="p", kernel_cls=K.Polynomial, X=X1, degree=0)
    raises_before_sampling(ValueError, "order", prefix="a", kernel_cls=K.ArcCosine, X=X1, order=3)


def test_prior_of_the_wrong_shape_is_named():
    X3 = np.random.default_rng(0).normal(size=(10, 3))
    raises_before_sampling(
        ValueError, "lengthscale", prefix="f", kernel_cls=K.RBF, X=X3, ard=True,
        lengthscale=dist.LogNormal(np.zeros(2), 1.0),
    )


def test_options_that_do_not_apply():
    raises_before_sampling(ValueError, "ard", prefix="p", kernel_cls=K.Polynomial, X=X1, ard=True)
    raises_before_sampling(ValueError, "X", prefix="f", kernel_cls=K.RBF, ard=True)
    raises_before_sampling(ValueError, "num_mixtures", prefix="s", kernel_cls=K.SpectralMixture, X=X1)
    raises_before_sampling(ValueError, "num_mixtures", prefix="f", kernel_cls=K.RBF, X=X1, num_mixtures=2)
    raises_before_sampling(ValueError, "num_mixtures", prefix="s", kernel_cls=K.SpectralMixture, X=X1,
                           num_mixtures=0)


def test_defaults_that_need_data():
    raises_before_sampling(ValueError, r"\bX\b", prefix="s", kernel_cls=K.SpectralMixture, num_mixtures=2)
    raises_before_sampling(ValueError, r"\bX\b", prefix="f", kernel_cls=K.RBF, pc_prior=True)


def test_degenerate_data():
    raises_before_sampling(ValueError, r"\by\b", prefix="f", kernel_cls=K.RBF, X=X1, y=np.ones(21))
    raises_before_sampling(ValueError, r"\bX\b", prefix="f", kernel_cls=K.RBF, X=np.ones(5))
    Xc = np.c_[X1, np.ones(21)]
    raises_before_sampling(ValueError, r"X is constant in input dimension\(s\) \[1\]", prefix="f",
                           kernel_cls=K.RBF, X=Xc, ard=True)


def test_bad_prefix_and_kernel_class():
    raises_before_sampling(ValueError, "prefix", prefix="", kernel_cls=K.RBF)
    raises_before_sampling(TypeError, "Kernel subclass", prefix="f", kernel_cls="RBF")
    raises_before_sampling(TypeError, "combinator", prefix="f", kernel_cls=K.Sum)


def test_fixed_value_checked_inside_jit():
    # Inside a trace, JAX turns closed-over constants into tracers once converted;
    # the fixed value is still checked (in NumPy) before that happens.
    def draw(key):
        return handlers.seed(lambda: sample_kernel("f", K.RBF, X=X1, lengthscale=-1.0), key)().variance

    with pytest.raises(ValueError, match="lengthscale must be positive"):
        jax.jit(draw)(jax.random.PRNGKey(0))
