"""The dense Laplace mode search at the hyperparameter values NUTS proposes while it adapts.

A log-Gaussian Cox process for the coal-mining disasters (56 yearly-ish cells,
Poisson counts, Matérn-5/2 prior, 1e-6 relative jitter) was fitted with the
embedded Laplace marginal; NumPyro's step-size search and early mass-matrix
windows proposed prior variances of 1e12 to 1e72 (with huge lengthscales and
prior means from -93 to 115), where the Newton search stopped unconverged
(-inf and a ConvergenceWarning during a well-posed fit). Each point below is
one such proposal, captured from the sampler. The mode found there is checked
against a dense reference on the same objective in ``f``
(scipy's trust-region Newton, polished by plain Newton steps until the step is
1e-12), not against the library's own arithmetic.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.optimize
import scipy.special

from bayeskern.datasets import load_coal_mining
from bayeskern.errors import ConvergenceError, ConvergenceWarning
from bayeskern.gp.laplace.distributions import LaplaceMarginal
from bayeskern.gp.laplace.newton import (
    compiled_log_marginal,
    derivatives,
    find_mode,
    log_marginal,
    precision_solver,
    spd_inverse,
    triangular_inverse,
)
from bayeskern.gp.laplace.newton_ascent import data_start, gradient_floor, newton_ascent
from bayeskern.kernels import Matern52
from bayeskern.linalg import add_jitter

# (lengthscale, variance, prior mean) proposed by NUTS (captured from the coal-mining fit's trajectories)
FAILED_BEFORE = [
    (1e6, 1.384e12, 25.2),   # stalled at gradient 1.2e-4 (tol 1e-9) after 21 iterations: the round-off floor
    (1e7, 1.568e15, 72.7),   # Woodbury direction lost every digit: stopped after 1 iteration
    (1e8, 5.2e32, 114.9),
    (1e9, 5.8e38, -93.4),    # restart through A⁻¹ Lᵀ W (f - m) lost the zero-count cells
    (1e8, 9e24, -38.8),
    (1e9, 1.17e72, 0.54),    # zero counts' maximiser 150 units from any start: walked one unit per step
]


@pytest.fixture(scope="module")
def coal():
    d = load_coal_mining()
    edges = np.linspace(d.window[0], d.window[1], 57)
    y = np.histogram(d.X, edges)[0].astype(float)
    centres = 0.5 * (edges[:-1] + edges[1:])
    offset = np.log(np.diff(edges))
    return centres[:, None], y, offset


def _problem(coal, ls, var, mu):
    X, y, offset = coal
    K = add_jitter(Matern52(lengthscale=ls, variance=var)(jnp.asarray(X)), 1e-6)
    d = LaplaceMarginal(lambda f: dist.Poisson(jnp.exp(f)), K, jnp.full(y.shape, mu), offset=jnp.asarray(offset))
    return d, jnp.asarray(y)


def _reference_mode(K, m, y, off):
    """Maximiser of ``Σ [y(f+o) - e^(f+o)] - ½ (f-m)ᵀK⁻¹(f-m)`` by scipy, then Newton in ``f`` to a 1e-12 step."""
    Kinv = np.linalg.inv(K)
    Kinv = 0.5 * (Kinv + Kinv.T)

    def neg(f):
        e = f + off
        return -(np.sum(y * e - np.exp(e) - scipy.special.gammaln(y + 1)) - 0.5 * (f - m) @ Kinv @ (f - m))

    def grad(f):
        return -(y - np.exp(f + off) - Kinv @ (f - m))

    def hess(f):
        return Kinv + np.diag(np.exp(f + off))

    f = scipy.optimize.minimize(neg, np.log(y + 0.5) - off, jac=grad, hess=hess, method="trust-exact",
                                options=dict(gtol=1e-300, maxiter=500)).x
    for _ in range(1000):
        step = -np.linalg.solve(hess(f), grad(f))
        if np.max(np.abs(step)) < 1e-12 * (1 + np.max(np.abs(f))):
            return f, neg
        t = 1.0
        while neg(f + t * step) > neg(f) + 1e-13 * abs(neg(f)) and t > 1e-10:
            t /= 2
        f = f + t * step
    raise AssertionError("the reference Newton did not converge")


@pytest.mark.parametrize("ls,var,mu", FAILED_BEFORE)
def test_mode_converges_where_nuts_proposals_failed(coal, ls, var, mu):
    d, y = _problem(coal, ls, var, mu)
    mode = d.mode(y)
    assert bool(mode.info.converged), mode.info
    f_ref, neg = _reference_mode(np.asarray(d.covariance), np.asarray(d.loc), np.asarray(y), np.asarray(d.offset))
    f = np.asarray(mode.f)
    # zero counts sit 20-150 units below the prior mean here; √tol = 3e-5 relative is the step test
    assert np.max(np.abs(f - f_ref)) <= 1e-5 * (1.0 + np.max(np.abs(f_ref)))
    assert neg(f) <= neg(f_ref) + 1e-12 * abs(neg(f_ref))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        value = jax.jit(lambda K, m: d.__class__(d.likelihood, K, m, offset=d.offset).log_prob(y))(
            d.covariance, d.loc)
    assert np.isfinite(float(value))


def test_ordinary_hyperparameters_converge_fast_and_exactly(coal):
    d, y = _problem(coal, 18.0, 0.8, 0.3)  # near the coal fit's posterior median
    mode = d.mode(y)
    assert bool(mode.info.converged) and int(mode.info.iterations) <= 8
    f_ref, _ = _reference_mode(np.asarray(d.covariance), np.asarray(d.loc), np.asarray(y), np.asarray(d.offset))
    np.testing.assert_allclose(np.asarray(mode.f), f_ref, atol=1e-9)


def test_flat_but_unsettled_mode_is_not_accepted(coal):
    """At variance 5.2e32 the zero counts' latent values move ~1 unit per Newton step while the objective
    changes by 1e-14: the decrement is at round-off and the gradient under its round-off floor long before
    the maximiser. Without the step test the search stops there and calls it converged; with it the search
    goes on to the reference mode, and a run cut short by max_iter is unconverged (-inf, never finite)."""
    d, y = _problem(coal, 1e8, 5.2e32, 114.9)
    fn, consts = d._loglik(y)
    m, K = d.loc, d.covariance
    L = jnp.linalg.cholesky(K)
    solve_f, Linv = precision_solver(L)

    def gradient(u):
        _, g, W = derivatives(fn, m + L @ u, consts)
        return L.T @ g - u, W

    def direction(u, gu, W):
        _, g, _ = derivatives(fn, m + L @ u, consts)
        return Linv @ solve_f(g - Linv.T @ u, W)

    def floor(u, W):
        f = m + L @ u
        _, g, _ = derivatives(fn, f, consts)
        return gradient_floor(lambda v: jnp.abs(L).T @ v, f, W, grad=g, f_scale=jnp.abs(m) + jnp.abs(L) @ jnp.abs(u))

    def objective(u):
        return jnp.sum(fn(m + L @ u, *consts)) - 0.5 * u @ u

    u0 = jnp.zeros_like(m)
    blind = newton_ascent(objective, gradient, direction, u0, max_iter=300, tol=1e-9, grad_floor=floor)
    f_ref, _ = _reference_mode(np.asarray(K), np.asarray(m), np.asarray(y), np.asarray(d.offset))
    f_blind = np.asarray(m + L @ blind.u)
    assert bool(blind.converged) and np.max(np.abs(f_blind - f_ref)) > 1.0  # the wrong mode it would accept

    mode = find_mode(fn, consts, m, L, K=K, candidates=d._candidates(y))
    assert bool(mode.info.converged)
    assert np.max(np.abs(np.asarray(mode.f) - f_ref)) < 1e-5 * (1.0 + np.max(np.abs(f_ref)))

    short = find_mode(fn, consts, m, L, K=K, max_iter=20, restart=False)
    assert not bool(short.info.converged)
    cand = d._candidates(y)
    with pytest.raises(ConvergenceError):
        compiled_log_marginal(fn, K, m, consts, (1, 1e-9, "coal"), cand)
    with pytest.warns(ConvergenceWarning):
        v = jax.jit(lambda K, m: log_marginal(fn, K, m, consts, (1, 1e-9, "coal-jit"), cand))(K, m)
    assert float(v) == -np.inf


def test_compiled_log_marginal_matches_log_marginal_value_and_gradient(coal):
    d, y = _problem(coal, 18.0, 0.8, 0.3)
    fn, consts = d._loglik(y)
    cand = d._candidates(y)
    opts = (100, 1e-9, "coal")

    def plain(K, m):
        return log_marginal(fn, K, m, consts, opts, cand)

    def compiled(K, m):
        return compiled_log_marginal(fn, K, m, consts, opts, cand)

    K, m = d.covariance, d.loc
    v0 = float(jax.jit(plain)(K, m))
    assert float(compiled(K, m)) == pytest.approx(v0, rel=1e-12)
    g0 = jax.jit(jax.grad(plain, argnums=(0, 1)))(K, m)
    g1 = jax.grad(compiled, argnums=(0, 1))(K, m)  # eager autodiff: the compiled path with JVP tracers
    for a, b in zip(g0, g1, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 56, 100, 300])
def test_triangular_and_spd_inverse(n):
    rng = np.random.default_rng(n)
    A = rng.normal(size=(n, n))
    S = A @ A.T + n * np.eye(n)
    F = np.linalg.cholesky(S)
    Fi = np.asarray(triangular_inverse(jnp.asarray(F)))
    np.testing.assert_allclose(Fi, np.linalg.inv(F), rtol=1e-10, atol=1e-13)
    assert np.all(np.triu(Fi, 1) == 0)
    Si = np.asarray(spd_inverse(jnp.asarray(F)))
    np.testing.assert_allclose(Si, np.linalg.inv(S), rtol=1e-9, atol=1e-13)
    np.testing.assert_array_equal(Si, Si.T)


def test_data_start_reaches_a_far_maximiser():
    """A zero count under a prior variance of 1e66: the 1-D maximiser of -e^f - (f - m)²/(2v) is near -146,
    and each full Newton step from log(½) moves about one unit; the lengthened trial steps get there."""
    v, m0 = 1e66, 0.5

    def loglik(f, y):
        return y * f - jnp.exp(f) - jax.scipy.special.gammaln(y + 1.0)

    y = jnp.zeros(3)
    f_d, W_d = data_start(loglik, (y,), jnp.full(3, m0), jnp.full(3, v), jnp.log(y + 0.5)[None, :])
    root = scipy.optimize.brentq(lambda f: -np.exp(f) - (f - m0) / v, -400.0, 0.0, xtol=1e-12)
    np.testing.assert_allclose(np.asarray(f_d), root, atol=1e-8)
    np.testing.assert_allclose(np.asarray(W_d), np.exp(root), rtol=1e-6)
