"""Data-scaled priors built from traced data equal the ones built from concrete data.

A model that calls ``sample_matern52("f", X, y)`` with ``X``/``y`` as its
arguments is traced whenever the data go through ``jit``: NumPyro's
``jit_model_args=True``, and every replay the library makes over posterior
draws. The traced summaries (``jax.numpy``) and the tabulated inverse-gamma
solve must reproduce the concrete NumPy/SciPy path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayeskern.kernels as K
from bayeskern.priors import default_priors, inverse_gamma_tails

RNG = np.random.default_rng(7)
X1 = np.sort(RNG.uniform(0.0, 10.0, 30))
X1[5] = X1[4]  # a repeated input: its zero gap must not become the spacing
X3 = np.column_stack([RNG.uniform(0, 1, 25), np.round(RNG.uniform(0, 50, 25)), RNG.normal(size=25)])
Y = np.sin(X1) + 0.3 * RNG.normal(size=30)

CASES = [
    (K.RBF, X1, {}),
    (K.Matern52, X1, {"pc_prior": True}),
    (K.Matern32, X3, {"ard": True}),
    (K.Matern12, X3, {}),
    (K.RationalQuadratic, X3, {"ard": True, "pc_prior": True}),
    (K.Periodic, X1, {}),
    (K.Cosine, X1, {}),
    (K.Linear, X3, {"ard": True}),
    (K.Polynomial, X3, {}),
    (K.ArcCosine, X3, {}),
    (K.Constant, X1, {}),
    (K.Constant, X1, {"pc_prior": True}),
    (K.White, X1, {"pc_prior": True}),
    (K.SpectralMixture, X3, {"num_mixtures": 2}),
]


def _log_probs(priors, points):
    return {name: d.log_prob(points[name]) for name, d in priors.items()}


@pytest.mark.parametrize("kernel_cls, X, options", CASES, ids=lambda c: getattr(c, "__name__", None))
def test_traced_default_priors_match_concrete(kernel_cls, X, options):
    y = Y if X.shape[0] == Y.shape[0] else RNG.normal(size=X.shape[0]) * 2.0 + 1.0
    concrete = default_priors(kernel_cls, X, y, **options)
    points = {n: d.sample(jax.random.PRNGKey(i)) for i, (n, d) in enumerate(concrete.items())}
    expected = _log_probs(concrete, points)
    traced = jax.jit(lambda X_, y_: _log_probs(default_priors(kernel_cls, X_, y_, **options), points))(
        jnp.asarray(X), jnp.asarray(y)
    )
    for name in expected:
        np.testing.assert_allclose(traced[name], expected[name], rtol=2e-7, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("tail", [0.01, 0.05])
def test_tabulated_inverse_gamma_solve_matches_exact(tail):
    lower = np.geomspace(1e-3, 10.0, 9)
    ratio = np.geomspace(1.02, 1e9, 9)
    a_exact, b_exact = inverse_gamma_tails(lower, lower * ratio, tail)
    a, b = jax.jit(lambda lo, hi: inverse_gamma_tails(lo, hi, tail))(lower, lower * ratio)
    np.testing.assert_allclose(a, a_exact, rtol=1e-7)
    np.testing.assert_allclose(b, b_exact, rtol=1e-7)
    # and the tail statement holds for the traced parameters themselves
    np.testing.assert_allclose(stats.invgamma.cdf(lower, np.asarray(a), scale=np.asarray(b)), tail, rtol=1e-6)


def test_traced_spacing_ignores_repeats_and_constant_dimensions():
    from bayeskern.priors.data import data_scales

    X = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 1.0], [2.0, 1.0]])
    concrete = data_scales(X)
    iso = jax.jit(lambda X_: data_scales(X_).spacing_and_range("lengthscale", ard=False))(jnp.asarray(X))
    np.testing.assert_allclose(iso, concrete.spacing_and_range("lengthscale", ard=False))
    np.testing.assert_allclose(iso, (0.5, 2.0))
