"""NUTS-corrected latent draws of a Laplace-marginalised field against numerical integration."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy import stats

from bayeskern.gp import laplace_marginal, sample_latent
from bayeskern.infer import Fit
from bayeskern.kernels import Matern32

X2 = np.array([0.0, 0.7])
Y2 = np.array([0.0, 1.0])  # small counts: the conditional of f is skewed, mode != mean
LENGTHSCALE, VARIANCE = 1.0, 1.5


def model(X, y):
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    laplace_marginal("f", Matern32(lengthscale=LENGTHSCALE, variance=VARIANCE), X,
                     lambda f: dist.Poisson(jnp.exp(f)), y, mean=b, structure="dense")


def exact_moments(b):
    """Posterior mean and variance of f given y, θ by quadrature on a fine 2-D grid."""
    K = np.asarray(Matern32(lengthscale=LENGTHSCALE, variance=VARIANCE)(X2[:, None]))
    g = np.linspace(-7.0, 5.0, 801)
    A, B = np.meshgrid(g, g, indexing="ij")
    F = np.stack([A, B], axis=-1)
    logp = stats.multivariate_normal(np.full(2, b), K).logpdf(F)
    logp = logp + stats.poisson.logpmf(Y2[0], np.exp(A)) + stats.poisson.logpmf(Y2[1], np.exp(B))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    mean = np.einsum("ij,ijk->k", w, F)
    var = np.einsum("ij,ijk->k", w, (F - mean) ** 2)
    return mean, var


def _fit(num_draws, b=0.2):
    return Fit({"b": np.full((1, num_draws), b)}, method="laplace", model=model, model_args=(X2, Y2))


def test_corrected_draws_match_the_exact_conditional_where_laplace_does_not():
    S = 1500
    mean, var = exact_moments(0.2)
    fit_plain, fit_nuts = _fit(S), _fit(S)
    f_lap = sample_latent(fit_plain, "f", seed=0)
    f_cor = sample_latent(fit_nuts, "f", seed=0, correction=15)
    se = np.sqrt(var / S)  # independent chains: one draw per hyperparameter draw
    # The Laplace Gaussian is centred at the mode, measurably off the mean for these counts ...
    assert np.max(np.abs(f_lap.mean(0) - mean) / se) > 6.0
    # ... the corrected draws are not.
    assert np.max(np.abs(f_cor.mean(0) - mean) / se) < 4.0
    # variances within sampling error (var of a sample variance ≈ 2σ⁴/S for near-normal draws, with slack)
    assert np.all(np.abs(f_cor.var(0) - var) < 5.0 * np.sqrt(2.0 / S) * var + 0.02 * var)
    acc = fit_nuts.extras["f_correction_accept"]
    assert 0.5 < acc <= 1.0
    assert fit_nuts.samples["f"].shape == (S, 2)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_bad_correction_argument(bad):
    with pytest.raises(ValueError, match="correction"):
        sample_latent(_fit(2), "f", correction=bad)
