"""Bad input gets a ``ValueError`` that names the argument, before any tracing."""

from __future__ import annotations

import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.kernels import (
    RBF,
    ArcCosine,
    Constant,
    Cosine,
    Linear,
    Matern12,
    Matern32,
    Matern52,
    Periodic,
    Polynomial,
    RationalQuadratic,
    SpectralMixture,
    White,
)

X2D = np.random.default_rng(0).normal(size=(5, 2))
STATIONARY = [RBF, Matern12, Matern32, Matern52, RationalQuadratic, Periodic]


@pytest.mark.parametrize("family", STATIONARY, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [0.0, -1.0, [1.0, -0.5], [0.0, 2.0]], ids=["zero", "negative", "ard-neg", "ard-zero"])
def test_non_positive_lengthscale(family, value):
    with pytest.raises(ValueError, match=rf"{family.__name__}: lengthscale must be positive"):
        family(lengthscale=value)


@pytest.mark.parametrize(
    "family", STATIONARY + [Cosine, Linear, Polynomial, ArcCosine, Constant, White], ids=lambda c: c.__name__
)
@pytest.mark.parametrize("value", [0.0, -2.0])
def test_non_positive_variance(family, value):
    with pytest.raises(ValueError, match=r"variance must be positive"):
        family(variance=value)


@pytest.mark.parametrize("family", [Periodic, Cosine], ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [0.0, -1.3, [1.0, 0.0]])
def test_non_positive_period(family, value):
    with pytest.raises(ValueError, match=rf"{family.__name__}: period must be positive"):
        family(period=value)


@pytest.mark.parametrize("name, kwargs", [
    ("alpha", dict(alpha=0.0)),
    ("offset", dict(offset=-0.1)),
    ("weight_variance", dict(weight_variance=0.0)),
    ("bias_variance", dict(bias_variance=-1.0)),
])
def test_other_hyperparameters_out_of_range(name, kwargs):
    family = {"alpha": RationalQuadratic, "offset": Polynomial}.get(name, ArcCosine)
    with pytest.raises(ValueError, match=name):
        family(**kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, [1.0, np.nan]])
def test_nan_or_inf_lengthscale(bad):
    with pytest.raises(ValueError, match=r"RBF: lengthscale must be finite"):
        RBF(lengthscale=bad)


def test_nan_variance_and_replace():
    with pytest.raises(ValueError, match=r"Matern52: variance must be finite"):
        Matern52(variance=np.nan)
    with pytest.raises(ValueError, match=r"lengthscale must be positive"):
        RBF().replace(lengthscale=-1.0)
    with pytest.raises(ValueError, match=r"scale must be positive"):
        -2.0 * RBF()


def test_nan_in_inputs():
    k = RBF()
    bad = X2D.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X1 contains NaN"):
        k(bad)
    with pytest.raises(ValueError, match=r"X2 contains NaN"):
        k(X2D, bad)
    with pytest.raises(ValueError, match=r"X contains NaN"):
        k.diag(bad)
    with pytest.raises(ValueError, match=r"X1 contains NaN"):
        k(np.array([0.0, np.inf]))


def test_dimension_mismatch_between_inputs():
    with pytest.raises(ValueError, match=r"X1 and X2 must have the same number of input dimensions, got 2 and 3"):
        RBF()(X2D, np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"X1 and X2"):
        (RBF() + Linear())(X2D, np.ones(4))


def test_dimension_mismatch_between_inputs_with_active_dims():
    """``active_dims`` selects columns of each input; X1 and X2 must still agree before selection.

    Fails now: ``Kernel.__call__`` (base.py) selects ``active_dims`` first and
    compares the dimensions afterwards, so a (5, 2) and a (4, 3) input pass
    silently whenever the selected columns exist in both.
    """
    with pytest.raises(ValueError, match=r"X1 and X2"):
        RBF(active_dims=[0])(X2D, np.ones((4, 3)))


@pytest.mark.parametrize("kernel, arg", [
    (RBF(lengthscale=[1.0, 2.0]), "lengthscale"),
    (Matern32(lengthscale=[1.0, 2.0, 3.0]), "lengthscale"),
    (Periodic(period=[1.0, 2.0, 3.0]), "period"),
    (Linear(variance=[1.0, 2.0, 3.0]), "variance"),
    (ArcCosine(weight_variance=[1.0, 2.0, 3.0]), "weight_variance"),
    (Cosine(period=[1.0, 2.0, 3.0]), "period"),
])
def test_ard_length_mismatch(kernel, arg):
    X = np.ones((4, 1)) if arg == "lengthscale" and kernel.input_dim == 2 else X2D
    d = X.shape[1]
    with pytest.raises(ValueError, match=rf"{kernel.input_dim} input dimension\(s\) but X1 has {d}"):
        kernel(X)
    with pytest.raises(ValueError, match=rf"but X has {d}"):
        kernel.diag(X)


def test_periodic_lengthscale_and_period_dimensions_disagree():
    with pytest.raises(ValueError, match=r"lengthscale and period"):
        Periodic(lengthscale=[1.0, 2.0], period=[1.0, 2.0, 3.0])


@pytest.mark.parametrize("value, batch", [(np.ones((2, 2)), (2,)), (np.ones((1, 2, 2)), (1, 2))])
def test_ard_lengthscale_leading_axes_are_a_batch_not_an_error(value, batch):
    # Leading axes in front of the ARD axis make a batch of kernels (tests/gp/test_gp_batched.py).
    k = RBF(lengthscale=value)
    assert k.batch_shape == batch and k.input_dim == 2
    assert k(np.ones((3, 2))).shape == batch + (3, 3)
    with pytest.raises(ValueError, match=r"2 input dimension\(s\) but X1 has 1"):
        k(np.ones((3, 1)))


@pytest.mark.parametrize("kwargs, arg", [
    (dict(variance=[1.0, 2.0]), "variance"),
    (dict(alpha=[1.0, 2.0]), "alpha"),
])
def test_scalar_hyperparameters_reject_vectors(kwargs, arg):
    with pytest.raises(ValueError, match=rf"{arg} must be a scalar"):
        RationalQuadratic(**kwargs)


@pytest.mark.parametrize("shape", [(4, 2, 1), (2, 2, 2, 2)])
def test_inputs_with_too_many_axes(shape):
    k = Matern52()
    with pytest.raises(ValueError, match=r"X1 must have shape \(n,\) or \(n, d\)"):
        k(np.ones(shape))
    with pytest.raises(ValueError, match=r"X2 must have shape \(n,\) or \(n, d\)"):
        k(np.ones((3, 1)), np.ones(shape))
    with pytest.raises(ValueError, match=r"X must have shape \(n,\) or \(n, d\)"):
        k.diag(np.ones(shape))


def test_scalar_input():
    with pytest.raises(ValueError, match=r"X1 must have shape .* got a scalar"):
        RBF()(1.0)


@pytest.mark.parametrize("kwargs, arg", [
    (dict(weights=[1.0, 2.0], means=[0.1, 0.2, 0.3], scales=[1.0, 1.0, 1.0]), "means and scales"),
    (dict(weights=[1.0, 2.0], means=[[0.1, 0.2], [0.3, 0.4]], scales=[1.0, 2.0]), "means and scales"),
    (dict(weights=[1.0, 2.0], means=[0.1, 0.2], scales=[[1.0], [1.0]]), "means and scales"),
    (dict(weights=[[1.0, 2.0]], means=[0.1, 0.2], scales=[1.0, 1.0]), "weights must have shape"),
    (dict(weights=1.0, means=[0.1], scales=[1.0]), "weights must have shape"),
    (dict(weights=[1.0, 2.0], means=np.ones((2, 2, 2)), scales=np.ones((2, 2, 2))), "means and scales"),
    (dict(weights=[1.0, -2.0], means=[0.1, 0.2], scales=[1.0, 1.0]), "weights must be positive"),
    (dict(weights=[1.0, 2.0], means=[0.1, -0.2], scales=[1.0, 1.0]), "means must be non-negative"),
    (dict(weights=[1.0, 2.0], means=[0.1, 0.2], scales=[1.0, 0.0]), "scales must be positive"),
])
def test_spectral_mixture_shapes_and_values(kwargs, arg):
    with pytest.raises(ValueError, match=rf"SpectralMixture: {arg}"):
        SpectralMixture(**kwargs)


def test_spectral_mixture_input_dimension():
    k = SpectralMixture(weights=[1.0, 2.0], means=[[0.1, 0.2], [0.3, 0.4]], scales=[[1.0, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match=r"2 input dimension\(s\) but X1 has 3"):
        k(np.ones((4, 3)))


def test_spectral_mixture_requires_its_hyperparameters():
    with pytest.raises(TypeError, match="weights"):
        SpectralMixture(means=[0.1], scales=[1.0])


@pytest.mark.parametrize("degree", [0, -1, 1.5, 2.5])
def test_polynomial_degree(degree):
    with pytest.raises(ValueError, match=rf"Polynomial: degree must be a positive integer, got {degree!r}"):
        Polynomial(degree=degree)


def test_polynomial_degree_integral_float_is_accepted():
    assert Polynomial(degree=3.0).degree == 3


@pytest.mark.parametrize("order", [3, -1, 0.5])
def test_arccosine_order(order):
    with pytest.raises(ValueError, match=rf"ArcCosine: order must be 0, 1 or 2, got {order!r}"):
        ArcCosine(order=order)


@pytest.mark.parametrize("dims", [[2], [0, 2], [5]])
def test_active_dims_out_of_range(dims):
    k = RBF(active_dims=dims)
    with pytest.raises(ValueError, match=r"RBF: active_dims .* out of range for inputs with 2 dimension"):
        k(X2D)
    with pytest.raises(ValueError, match=r"active_dims .* out of range"):
        k.diag(X2D)
    with pytest.raises(ValueError, match=r"active_dims .* out of range"):
        (Linear() + k)(X2D)


@pytest.mark.parametrize("dims", [[-1], [0, 0], []])
def test_active_dims_invalid(dims):
    with pytest.raises(ValueError, match=r"Matern32: active_dims must be distinct non-negative indices"):
        Matern32(active_dims=dims)


def test_unknown_hyperparameter_is_a_type_error():
    with pytest.raises(TypeError, match="length_scale"):
        RBF(length_scale=1.0)


def test_warp_needs_a_callable():
    with pytest.raises(ValueError, match="transform must be callable"):
        RBF().warp(3.0)


def test_binary_needs_kernels():
    from bayeskern.kernels import Sum

    with pytest.raises(ValueError, match="k2 must be a Kernel"):
        Sum(RBF(), 1.0)
