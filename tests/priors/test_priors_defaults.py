"""Data-scaled default priors: where their mass sits, and what they fall back to."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpyro.distributions import constraints
from scipy import stats

import bayeskern.kernels as K
from bayeskern.priors import (
    DEFAULT_PRIOR_TABLE,
    PCLengthscale,
    default_prior,
    default_priors,
    describe_default_priors,
    inverse_gamma_prior,
    inverse_gamma_tails,
)
from bayeskern.priors.kernel_params import ard_params

X1 = np.linspace(0.0, 10.0, 21)  # spacing 0.5, range 10
RNG = np.random.default_rng(1)
X3 = np.column_stack([np.arange(15) * 0.1, RNG.permutation(np.arange(15) * 2.0), np.r_[0.0, 100.0, RNG.uniform(1, 99, 13)]])
Y = 3.0 + 2.0 * np.sin(X1)


def ig_tails(d, lower, upper):
    a, b = np.asarray(d.concentration), np.asarray(d.rate)
    return stats.invgamma.cdf(lower, a, scale=b), stats.invgamma.sf(upper, a, scale=b)


def test_lengthscale_inverse_gamma_has_one_percent_below_spacing_and_above_range():
    d = default_prior(K.RBF, "lengthscale", X1)
    assert isinstance(d, dist.InverseGamma)
    below, above = ig_tails(d, 0.5, 10.0)
    assert below == pytest.approx(0.01, rel=1e-6)
    assert above == pytest.approx(0.01, rel=1e-6)
    # NumPyro's InverseGamma(concentration, rate) is SciPy's invgamma(a, scale=rate): same density.
    x = np.geomspace(0.05, 100.0, 25)
    np.testing.assert_allclose(
        d.log_prob(jnp.asarray(x)), stats.invgamma.logpdf(x, float(d.concentration), scale=float(d.rate)), rtol=1e-10
    )


def test_ard_lengthscale_uses_each_dimensions_spacing_and_range():
    d = default_prior(K.Matern52, "lengthscale", X3, ard=True)
    assert d.event_shape == (3,) and d.batch_shape == ()
    base = d.base_dist
    spacing = [0.1, 2.0, np.min(np.diff(np.unique(X3[:, 2])))]
    ranges = [1.4, 28.0, 100.0]
    below, above = ig_tails(base, np.array(spacing), np.array(ranges))
    np.testing.assert_allclose(below, 0.01, rtol=1e-6)
    np.testing.assert_allclose(above, 0.01, rtol=1e-6)


def test_isotropic_lengthscale_uses_smallest_spacing_and_largest_range():
    d = default_prior(K.Matern32, "lengthscale", X3)
    assert d.event_shape == () and d.batch_shape == ()
    below, above = ig_tails(d, np.min(np.diff(np.unique(X3[:, 2]))).clip(max=0.1), 100.0)
    assert below == pytest.approx(0.01, rel=1e-6) and above == pytest.approx(0.01, rel=1e-6)


def test_bounds_within_a_factor_two_are_widened():
    d = default_prior(K.RBF, "lengthscale", np.array([0.0, 1.0]))  # spacing == range == 1
    below, above = ig_tails(d, 1 / math.sqrt(2), math.sqrt(2))
    assert below == pytest.approx(0.01, rel=1e-6) and above == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("ratio", [1.05, 2.0, 10.0, 1e3, 1e6, 1e10])
@pytest.mark.parametrize("tail", [0.01, 0.05])
def test_inverse_gamma_tails_solve_exactly(ratio, tail):
    a, b = inverse_gamma_tails(0.3, 0.3 * ratio, tail)
    assert stats.invgamma.cdf(0.3, a, scale=b) == pytest.approx(tail, rel=1e-8)
    assert stats.invgamma.sf(0.3 * ratio, a, scale=b) == pytest.approx(tail, rel=1e-8)


@settings(max_examples=60, deadline=None)
@given(
    lower=st.floats(1e-6, 1e4),
    log10_ratio=st.floats(0.01, 9.0),
    tail=st.floats(1e-3, 0.2),
)
def test_inverse_gamma_tails_property(lower, log10_ratio, tail):
    upper = lower * 10.0**log10_ratio
    a, b = inverse_gamma_tails(lower, upper, tail)
    assert a > 0 and b > 0
    assert stats.invgamma.cdf(lower, a, scale=b) == pytest.approx(tail, rel=1e-6)
    assert stats.invgamma.sf(upper, a, scale=b) == pytest.approx(tail, rel=1e-6)


def test_inverse_gamma_prior_is_vectorised():
    d = inverse_gamma_prior(np.array([0.1, 1.0]), np.array([5.0, 3.0]))
    assert d.batch_shape == (2,)
    below, above = ig_tails(d, np.array([0.1, 1.0]), np.array([5.0, 3.0]))
    np.testing.assert_allclose(below, 0.01, rtol=1e-6)
    np.testing.assert_allclose(above, 0.01, rtol=1e-6)
    with pytest.raises(ValueError, match="upper"):
        inverse_gamma_tails(1.0, 1.0)
    with pytest.raises(ValueError, match="lower"):
        inverse_gamma_tails(-1.0, 1.0)
    with pytest.raises(ValueError, match="tail"):
        inverse_gamma_tails(1.0, 2.0, tail=0.7)


def test_fallbacks_without_data_are_lognormal_0_1():
    for kernel_cls, name in [(K.RBF, "lengthscale"), (K.RBF, "variance"), (K.Periodic, "period"),
                             (K.RationalQuadratic, "alpha")]:
        d = default_prior(kernel_cls, name)
        assert isinstance(d, dist.LogNormal)
        assert (float(d.loc), float(d.scale)) == (0.0, 1.0)


def test_variance_is_lognormal_centred_on_var_y():
    d = default_prior(K.Matern52, "variance", X1, Y)
    assert isinstance(d, dist.LogNormal)
    assert float(d.loc) == pytest.approx(math.log(np.var(Y)), rel=1e-12)
    assert float(d.scale) == 1.0
    assert math.exp(float(d.loc)) == pytest.approx(np.var(Y), rel=1e-12)  # the median


def test_noise_offset_and_dot_product_variances():
    white = default_prior(K.White, "variance", y=Y)
    assert float(white.loc) == pytest.approx(math.log(0.1 * np.var(Y)))
    const = default_prior(K.Constant, "variance", y=Y)
    assert float(const.loc) == pytest.approx(math.log(np.mean(Y**2)))
    lin = default_prior(K.Linear, "variance", X3, Y, ard=True)
    expected = np.log(np.var(Y) / (3 * np.mean(X3**2, axis=0)))
    np.testing.assert_allclose(lin.base_dist.base_dist.loc, expected, rtol=1e-12)
    lin_iso = default_prior(K.Linear, "variance", X3, Y)
    assert float(lin_iso.loc) == pytest.approx(np.log(np.var(Y) / np.sum(np.mean(X3**2, axis=0))))
    assert isinstance(default_prior(K.Polynomial, "offset", X1), dist.HalfNormal)
    assert isinstance(default_prior(K.ArcCosine, "bias_variance", X1), dist.HalfNormal)


def test_period_is_centred_on_a_quarter_of_the_range():
    d = default_prior(K.Periodic, "period", X1)
    assert float(d.loc) == pytest.approx(math.log(10.0 / 4.0))
    assert float(d.scale) == 1.0
    dv = default_prior(K.Periodic, "period", X3, ard=True)
    np.testing.assert_allclose(dv.base_dist.loc, np.log(np.array([1.4, 28.0, 100.0]) / 4), rtol=1e-12)
    # The periodic lengthscale is dimensionless, whatever the data.
    ls = default_prior(K.Periodic, "lengthscale", X1)
    assert isinstance(ls, dist.LogNormal) and float(ls.loc) == 0.0


def test_spectral_mixture_priors():
    priors = default_priors(K.SpectralMixture, X3, Y, num_mixtures=4)
    w, m, s = priors["weights"], priors["means"], priors["scales"]
    assert (w.event_shape, m.event_shape, s.event_shape) == ((4,), (4, 3), (4, 3))
    assert all(p.batch_shape == () for p in priors.values())
    np.testing.assert_allclose(w.base_dist.base_dist.low, 1e-4 * np.var(Y))
    np.testing.assert_allclose(w.base_dist.base_dist.high, 10 * np.var(Y))
    spacing = np.array([0.1, 2.0, np.min(np.diff(np.unique(X3[:, 2])))])
    nyquist = np.broadcast_to(0.5 / spacing, (4, 3))
    # Independent(Expanded(Uniform)): the component priors are identical, broadcast to (Q, d).
    np.testing.assert_allclose(np.broadcast_to(m.base_dist.base_dist.high, (4, 3)), nyquist, rtol=1e-12)
    np.testing.assert_allclose(m.base_dist.base_dist.low, 0.0)
    np.testing.assert_allclose(
        np.broadcast_to(s.base_dist.base_dist.loc, (4, 3)),
        np.broadcast_to(-np.log([1.4, 28.0, 100.0]), (4, 3)), rtol=1e-12,
    )
    draw = m.sample(jax.random.PRNGKey(0))
    assert draw.shape == (4, 3) and bool(jnp.all((draw >= 0) & (draw <= nyquist)))


def test_pc_defaults_state_their_tails():
    ls = default_prior(K.Matern52, "lengthscale", X1, Y, pc_prior=True)
    assert isinstance(ls, PCLengthscale) and ls.dim == 1
    assert float(ls.cdf(0.5)) == pytest.approx(0.05, rel=1e-10)
    ls3 = default_prior(K.Matern52, "lengthscale", X3, pc_prior=True)
    assert ls3.dim == 3
    ard = default_prior(K.Matern52, "lengthscale", X3, pc_prior=True, ard=True)
    assert ard.event_shape == (3,) and ard.base_dist.dim == 1
    var = default_prior(K.Matern52, "variance", X1, Y, pc_prior=True)
    sigma0 = 2 * np.std(Y)
    # P(variance > sigma0²) = P(σ > sigma0) = 0.05.
    assert 1 - float(var.base_dist.cdf(sigma0)) == pytest.approx(0.05, rel=1e-10)
    assert float(var.log_prob(1.0)) == pytest.approx(
        float(var.base_dist.log_prob(1.0)) - math.log(2.0), rel=1e-12
    )


def test_default_priors_cover_every_hyperparameter():
    for kernel_cls in (K.RBF, K.RationalQuadratic, K.Periodic, K.Cosine, K.Linear, K.Polynomial,
                       K.ArcCosine, K.Constant, K.White):
        priors = default_priors(kernel_cls, X1, Y)
        assert list(priors) == list(kernel_cls._params)
        for d in priors.values():
            assert isinstance(d, dist.Distribution)
            # each default lives on the hyperparameter's support (positive, or non-negative)
            assert d.support in (constraints.positive, constraints.nonnegative)
            assert bool(jnp.isfinite(d.log_prob(jnp.asarray(0.5))))


def test_ard_parameter_table():
    assert ard_params(K.RBF) == ("lengthscale",)
    assert ard_params(K.Periodic) == ("lengthscale", "period")
    assert ard_params(K.Cosine) == ("period",)
    assert ard_params(K.Linear) == ("variance",)
    assert ard_params(K.ArcCosine) == ("weight_variance",)
    assert ard_params(K.Polynomial) == () and ard_params(K.SpectralMixture) == ()


def test_description_table_lists_every_hyperparameter():
    text = describe_default_priors()
    assert text == DEFAULT_PRIOR_TABLE
    names = {n for cls in (K.RBF, K.RationalQuadratic, K.Periodic, K.SpectralMixture, K.Polynomial, K.ArcCosine)
             for n in cls._params}
    for n in names:
        assert n in text
    assert "InvGamma" in describe_default_priors.__doc__
