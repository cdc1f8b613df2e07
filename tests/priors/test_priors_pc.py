"""Penalised-complexity priors: normalisation, tail statements, sampling, agreement with SciPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.distributions.transforms import PowerTransform
from scipy import integrate, stats

from bayeskern.priors import PCLengthscale, pc_lengthscale, pc_stddev, pc_variance

# One compiled log-density per (class, dim), so scipy.quad's thousands of scalar calls stay cheap.
_pc_logpdf = jax.jit(lambda rate, x, dim: PCLengthscale(rate, dim).log_prob(x), static_argnums=2)
_pc_var_logpdf = jax.jit(lambda sigma0, alpha, v: pc_variance(sigma0, alpha).log_prob(v), static_argnums=(0, 1))


def density(d):
    if isinstance(d, PCLengthscale):
        return lambda x: math.exp(float(_pc_logpdf(d.rate, x, d.dim)))
    return lambda x: float(jnp.exp(d.log_prob(jnp.asarray(x))))


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
@pytest.mark.parametrize("l0,alpha", [(0.1, 0.05), (2.0, 0.01), (30.0, 0.5)])
def test_lengthscale_density_integrates_to_one_and_tail_is_alpha(dim, l0, alpha):
    d = pc_lengthscale(l0, alpha, dim=dim)
    f = density(d)
    below, _ = integrate.quad(f, 0.0, l0, limit=200)
    above, _ = integrate.quad(f, l0, np.inf, limit=200)
    assert below + above == pytest.approx(1.0, abs=1e-7)
    assert below == pytest.approx(alpha, abs=1e-7)
    assert float(d.cdf(l0)) == pytest.approx(alpha, rel=1e-12)


def test_rate_is_minus_log_alpha_times_l0_to_half_d():
    d = pc_lengthscale(2.0, 0.05, dim=3)
    assert float(d.rate) == pytest.approx(-math.log(0.05) * 2.0**1.5, rel=1e-14)
    assert d.dim == 3


@pytest.mark.parametrize("dim", [1, 2, 4])
def test_lengthscale_matches_scipy_frechet_and_power_transform(dim):
    lam = 1.7
    d = PCLengthscale(lam, dim)
    x = np.geomspace(0.1, 1e3, 40)
    # Fréchet (SciPy's invweibull) with shape d/2 and scale λ^{2/d}.
    ref = stats.invweibull.logpdf(np.asarray(x), dim / 2, scale=lam ** (2 / dim))
    np.testing.assert_allclose(d.log_prob(x), ref, rtol=1e-10)
    # ℓ = E^{-2/d} with E ~ Exponential(λ).
    td = dist.TransformedDistribution(dist.Exponential(lam), PowerTransform(-2.0 / dim))
    np.testing.assert_allclose(d.log_prob(x), td.log_prob(x), rtol=1e-10)
    np.testing.assert_allclose(d.cdf(x), stats.invweibull.cdf(np.asarray(x), dim / 2, scale=lam ** (2 / dim)), rtol=1e-10)
    q = jnp.array([0.01, 0.3, 0.5, 0.99])
    np.testing.assert_allclose(d.cdf(d.icdf(q)), q, rtol=1e-12)


def test_samples_follow_the_cdf():
    d = pc_lengthscale(0.5, 0.05, dim=2)
    s = np.asarray(d.sample(jax.random.PRNGKey(0), (20000,)))
    assert s.shape == (20000,) and np.all(s > 0) and np.all(np.isfinite(s))
    assert np.mean(s < 0.5) == pytest.approx(0.05, abs=0.006)
    ks = stats.kstest(s, lambda v: np.asarray(d.cdf(jnp.asarray(v))))
    assert ks.pvalue > 0.01


def test_mean_and_variance():
    for dim in (1, 2):
        assert np.isinf(float(PCLengthscale(1.0, dim).mean))
    lam = 0.8
    for dim in (3, 6):
        ref = stats.invweibull(dim / 2, scale=lam ** (2 / dim))
        assert float(PCLengthscale(lam, dim).mean) == pytest.approx(ref.mean(), rel=1e-10)
    assert np.isinf(float(PCLengthscale(lam, 4).variance))
    ref = stats.invweibull(3.0, scale=lam ** (1 / 3))
    assert float(PCLengthscale(lam, 6).variance) == pytest.approx(ref.var(), rel=1e-10)


def test_batched_lengthscale_and_pytree_round_trip():
    d = pc_lengthscale(jnp.array([0.5, 1.0, 2.0]), 0.1, dim=1)
    assert d.batch_shape == (3,) and d.event_shape == ()
    np.testing.assert_allclose(d.cdf(jnp.array([0.5, 1.0, 2.0])), 0.1, rtol=1e-12)
    leaves, treedef = jax.tree_util.tree_flatten(d)
    d2 = jax.tree_util.tree_unflatten(treedef, leaves)
    assert d2.dim == 1 and d2.batch_shape == (3,)
    # log_prob under jit, with finite gradients in ℓ and in the rate.
    g = jax.jit(jax.grad(lambda r, x: PCLengthscale(r, 2).log_prob(x), argnums=(0, 1)))(1.3, 0.7)
    assert all(np.isfinite(float(v)) for v in g)


def test_stddev_and_variance_tails():
    sigma0, alpha = 1.5, 0.05
    s = pc_stddev(sigma0, alpha)
    assert isinstance(s, dist.Exponential)
    assert float(s.rate) == pytest.approx(-math.log(alpha) / sigma0, rel=1e-14)
    assert 1.0 - float(s.cdf(sigma0)) == pytest.approx(alpha, rel=1e-12)

    v = pc_variance(sigma0, alpha)
    f = lambda x: math.exp(float(_pc_var_logpdf(sigma0, alpha, x)))  # noqa: E731
    below, _ = integrate.quad(f, 0.0, sigma0**2, limit=200)
    above, _ = integrate.quad(f, sigma0**2, np.inf, limit=200)
    assert below + above == pytest.approx(1.0, abs=1e-7)
    assert above == pytest.approx(alpha, abs=1e-7)
    draws = np.asarray(v.sample(jax.random.PRNGKey(1), (20000,)))
    assert np.mean(draws > sigma0**2) == pytest.approx(alpha, abs=0.006)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pc_lengthscale(0.0, 0.05),
        lambda: pc_lengthscale(-1.0, 0.05),
        lambda: pc_lengthscale(1.0, 1.5),
        lambda: pc_lengthscale(1.0, 0.0),
        lambda: pc_lengthscale(1.0, 0.05, dim=0),
        lambda: PCLengthscale(1.0, 1.5),
        lambda: pc_stddev(0.0, 0.05),
        lambda: pc_variance(1.0, 1.0),
    ],
)
def test_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()
