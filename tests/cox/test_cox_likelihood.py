"""Likelihood identities and quadrature against references; links; the latent-field representations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from scipy import integrate

import bayeskern  # noqa: F401
from bayeskern.cox import (
    binned_log_likelihood,
    binning_constant,
    cox_grid_model,
    get_link,
    latent_field,
    make_grid,
    point_process_log_likelihood,
    quadrature_nodes,
)
from bayeskern.kernels import RBF

RNG = np.random.default_rng(1)


def test_binned_equals_exact_for_piecewise_constant_intensity():
    edges = np.array([0.0, 1.0, 2.5, 4.0])
    lam = np.array([2.0, 0.3, 5.0])
    events = np.array([0.2, 0.7, 0.9, 2.0, 3.1, 3.3, 3.9, 4.0])
    cell = np.clip(np.searchsorted(edges, events, side="right") - 1, 0, 2)
    exact = np.sum(np.log(lam[cell])) - np.sum(lam * np.diff(edges))  # Σ log λ(x_i) − ∫ λ
    counts = np.bincount(cell, minlength=3)
    binned = float(binned_log_likelihood(jnp.log(lam), counts, np.diff(edges)))
    assert binned == pytest.approx(exact + binning_constant(counts, np.diff(edges)), rel=1e-12)


def test_quadrature_integral_matches_numerical_integration():
    f = lambda x, y: np.exp(np.sin(3 * x) + 0.5 * y**2)
    ref, _ = integrate.dblquad(lambda y, x: f(x, y), 0.0, 2.0, -1.0, 1.0, epsabs=1e-12)
    nodes, w = quadrature_nodes(((0.0, 2.0), (-1.0, 1.0)), 16)
    assert np.sum(w * f(nodes[:, 0], nodes[:, 1])) == pytest.approx(ref, rel=1e-10)
    # Polygon (midpoint rule with exact cell areas) converges at second order.
    tri = [[0, 0], [2, 0], [0, 2]]
    ref_t, _ = integrate.dblquad(lambda y, x: f(x, y), 0.0, 2.0, 0.0, lambda x: 2.0 - x, epsabs=1e-12)
    errs = []
    for m in (16, 32, 64):
        nodes, w = quadrature_nodes(tri, m)
        errs.append(abs(np.sum(w * f(nodes[:, 0], nodes[:, 1])) - ref_t))
    assert errs[2] < errs[1] < errs[0] and errs[2] < 5e-3 * ref_t


def test_binned_likelihood_converges_to_exact_as_grid_refines():
    g = lambda t: 2.0 + np.sin(t)
    events = np.sort(RNG.uniform(0, 10, 25))
    nodes, w = quadrature_nodes((0.0, 10.0), 30, panels=4)
    exact = float(point_process_log_likelihood(np.log(g(events)), g(nodes[:, 0]), w))
    ref_int, _ = integrate.quad(g, 0, 10)
    assert np.sum(w * g(nodes[:, 0])) == pytest.approx(ref_int, rel=1e-12)
    errs = []
    for m in (10, 40, 160, 640):
        grid = make_grid((0.0, 10.0), m)
        counts = grid.counts(events)
        ll = float(binned_log_likelihood(jnp.log(g(grid.centres[:, 0])), counts, grid.exposure))
        errs.append(abs(ll - binning_constant(counts, grid.exposure) - exact))
    assert all(b < a for a, b in itertools.pairwise(errs)) and errs[-1] < 0.02


@pytest.mark.parametrize("name, params", [("log", {}), ("softplus", {}), ("square", {"offset": 0.5}),
                                          ("sigmoid", {"max_rate": 3.0})])
def test_links_log_and_inverse_consistent(name, params):
    lk = get_link(name, **params)
    f = jnp.linspace(-4.0, 4.0, 17) + 0.01
    np.testing.assert_allclose(lk.log_intensity(f), jnp.log(lk.intensity(f)), rtol=1e-10, atol=1e-12)
    g = jax.grad(lambda x: jnp.sum(lk.log_intensity(x)))(f)
    assert np.all(np.isfinite(g))
    rate = np.asarray(lk.intensity(jnp.array([0.3])))
    np.testing.assert_allclose(lk.intensity(jnp.asarray(lk.inverse(rate))), rate, rtol=1e-10)


def test_softplus_log_is_stable_far_left():
    lk = get_link("softplus")
    assert float(lk.log_intensity(jnp.array(-50.0))) == pytest.approx(-50.0)


def test_bad_link_arguments():
    with pytest.raises(ValueError, match="link must be one of"):
        get_link("exp")
    with pytest.raises(ValueError, match="max_rate must be positive"):
        get_link("sigmoid", max_rate=-1.0)
    with pytest.raises(ValueError, match="takes no parameters"):
        get_link("log", offset=1.0)


def _field_cov(method, grid, kernel, n=4000, **kw):
    def model():
        latent_field("f", kernel, grid, method, **kw)

    pred = numpyro.infer.Predictive(model, num_samples=n, return_sites=["f"])(jax.random.PRNGKey(0))
    return np.asarray(pred["f"])


def test_kronecker_field_matches_dense_covariance():
    grid = make_grid(((0, 1), (0, 2)), (5, 4))
    k = RBF(lengthscale=jnp.array([0.4, 0.7]), variance=1.3)
    X = grid.centres
    K = np.asarray(k(X)) + 0.0
    # The Kronecker factor A = √s ⊗ L_d reproduces K exactly: check A Aᵀ via the field's linear map.
    def model(z):
        with numpyro.handlers.substitute(data={"f_z": z}):
            return latent_field("f", k, grid, "kronecker")

    A = np.stack([np.asarray(numpyro.handlers.seed(model, 0)(jnp.eye(grid.size)[i])) for i in range(grid.size)], 1)
    np.testing.assert_allclose(A @ A.T, K, atol=1e-8)


def test_hsgp_field_approximates_dense_covariance():
    grid = make_grid((0.0, 10.0), 40)
    k = RBF(lengthscale=2.0, variance=1.0)
    F = _field_cov("hsgp", grid, k, n=3000, num_basis=30)
    emp = np.cov(F.T)
    np.testing.assert_allclose(emp, np.asarray(k(grid.centres)), atol=0.12)


def test_covariates_and_offset_enter_the_intensity():
    grid = make_grid((0.0, 4.0), 4)
    Z = np.array([[0.0], [1.0], [2.0], [3.0]])
    data = {"f_z": jnp.zeros(4), "f_mean": 0.5, "f_beta": jnp.array([0.25]), "f_lengthscale": 1.0,
            "f_variance": 1.0}
    tr = numpyro.handlers.trace(numpyro.handlers.substitute(numpyro.handlers.seed(cox_grid_model, 0), data)).get_trace(
        grid, np.array([1, 0, 2, 1]), covariates=Z, offset=np.log([1.0, 2.0, 1.0, 2.0]))
    expected = np.exp(0.5 + 0.25 * Z[:, 0] + np.log([1.0, 2.0, 1.0, 2.0]))
    np.testing.assert_allclose(tr["f_intensity"]["value"], expected, rtol=1e-12)
    assert tr["counts"]["fn"].batch_shape == (4,)


@pytest.mark.parametrize("method, link", [("kronecker", "log"), ("hsgp", "sigmoid"), ("dense", "square")])
def test_2d_models_trace_on_pines(method, link):
    from numpyro.infer.util import log_density

    from bayeskern.cox import bin_events, lgcp_2d
    from bayeskern.datasets.pines import load_japanese_pines

    d = load_japanese_pines()
    grid, counts = bin_events(d.X, d.window, (6, 5))
    model = lgcp_2d if link == "log" else cox_grid_model
    kw = {"structure": method} if link == "log" else {"structure": method, "link": link,
                                                    "link_params": {"offset": 1.0} if link == "square" else None}
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 1)).get_trace(grid, counts, **kw)
    params = {k: v["value"] for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    lp, _ = log_density(model, (grid, counts), kw, params)
    assert np.isfinite(float(lp)) and tr["f_intensity"]["value"].shape == (30,)
    assert tr["counts"]["value"].shape == (30,)
    if link == "sigmoid":
        assert "f_max_rate" in tr and np.all(tr["f_intensity"]["value"] <= tr["f_max_rate"]["value"])


def test_model_scripts_import():
    from models import cox_coal, cox_pines

    assert callable(cox_coal.main) and callable(cox_pines.main)
