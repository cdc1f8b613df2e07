"""Calibration: for integrands drawn from the GP prior, BQ's z-scores are standard normal.

(f(X), F) is drawn exactly from its joint Gaussian (covariance k(X, X), z, ∫∫k),
so the BQ posterior must cover F at the nominal rate; this checks the
embeddings, the initial error and the conditioning together.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF, Matern32
from bayeskern.quadrature import Gaussian, Uniform, bq_posterior, embed
from bayeskern.quadrature.posterior import posterior_moments


@pytest.mark.parametrize("kernel,measure", [
    (RBF(lengthscale=np.array([0.3, 0.5])), Uniform([0, 0], [1, 1])),
    (Matern32(lengthscale=0.2), Uniform(0.0, 2.0, normalized=False)),
    (RBF(lengthscale=0.8), Gaussian([0.0, 0.0], [[1.0, 0.4], [0.4, 0.6]])),
])
def test_gp_drawn_integrands_are_covered_at_the_nominal_rate(kernel, measure):
    rng = np.random.default_rng(0)
    X = np.asarray(measure.from_unit_cube(rng.random((8, measure.dim))))
    emb = embed(kernel, measure, X)
    K = np.asarray(kernel(X))
    z, Z0 = np.asarray(emb.z), float(emb.initial)
    joint = np.block([[K, z[:, None]], [z[None, :], np.array([[Z0]])]])
    draws = rng.multivariate_normal(np.zeros(9), joint, size=400, method="eigh")
    post = bq_posterior(kernel, measure, X, draws[0, :8], warn=False)
    # The same traceable core, vmapped over the 400 draws (eager calls would cost seconds).
    means, variances, _ = jax.vmap(lambda y: posterior_moments(kernel, measure, jnp.asarray(X), y, emb.z,
                                                               emb.initial))(jnp.asarray(draws[:, :8]))
    assert float(means[0]) == pytest.approx(float(post.mean), rel=1e-10, abs=1e-12)
    assert np.allclose(variances, float(post.variance), rtol=1e-10)
    zs = (draws[:, 8] - np.asarray(means)) / np.sqrt(np.asarray(variances))
    cover = np.mean(np.abs(zs) < 1.96)
    assert 0.92 <= cover <= 0.98  # binomial sd at n = 400 is 0.011
    assert stats.kstest(zs, "norm").pvalue > 1e-3
