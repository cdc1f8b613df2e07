"""Issue 15, class 1: a numerical failure never returns a finite, wrong number.

Iterative solvers whose result is used as a value (the Laplace mode searches,
the CG/Lanczos log-det probes) either converge to the right answer or give
``-inf`` with a ConvergenceWarning naming the site (traced), or raise
ConvergenceError (eager).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.handlers import seed, trace

import bayeskern  # noqa: F401  (x64)
from bayeskern.errors import ConvergenceError, ConvergenceWarning
from bayeskern.gp.laplace.distributions import LaplaceMarginal
from bayeskern.gp.laplace.kronecker import KronLaplaceOptions, kron_log_marginal
from bayeskern.gp.laplace.marginal import laplace_marginal
from bayeskern.gp.laplace.newton import find_mode
from bayeskern.kernels import Matern32
from bayeskern.linalg import add_jitter, default_jitter
from bayeskern.linalg.cg import CGInfo, cg_converged, reset_convergence_warnings

N = 30
X = np.linspace(0.0, 1.0, N)
RNG = np.random.default_rng(0)
Y_HUGE = RNG.poisson(1e12 * np.exp(0.1 * np.sin(3 * X))).astype(float)  # counts ~1e12, zero prior mean
_ = RNG.poisson(1.0, N)  # keep the stream of the reproduction
Y_T = np.sin(6 * X) + 0.01 * RNG.normal(size=N)
Y_T = np.sin(6 * X) + 0.1 * RNG.normal(size=N)  # Student-t with scale 5e-4: 100 iterations were not enough
K = np.asarray(add_jitter(Matern32(lengthscale=0.3, variance=1.0)(X[:, None]), default_jitter(jnp.float64)))


def poisson(f):
    return dist.Poisson(jnp.exp(f))


def student(f):
    return dist.StudentT(4.0, f, 5e-4)


def site(lik, y, name="f", **kw):
    tr = trace(seed(lambda: laplace_marginal(name, Matern32(lengthscale=0.3, variance=1.0), X, lik, y, **kw),
                    0)).get_trace()
    return tr[f"{name}_y"]["fn"]


def laplace_value_numpy(y, lik_logpdf, W, f, Kn):
    """R&W eq. 3.32 at a given mode, in NumPy: ℓ(f) - ½ fᵀK⁻¹f - ½ log|I + K W|."""
    a = np.linalg.solve(Kn, f)
    sign, logdet = np.linalg.slogdet(np.eye(len(f)) + Kn * W[None, :])
    assert sign > 0
    return float(np.sum(lik_logpdf(f)) - 0.5 * f @ a - 0.5 * logdet)


def test_poisson_counts_1e12_zero_mean_converge_to_the_mode():
    # before: 1 iteration, gradient norm 1.1e13, converged=False, log marginal -8.5e14
    d = site(poisson, Y_HUGE)
    mode = d.mode(Y_HUGE)
    assert bool(mode.info.converged)
    f = np.asarray(mode.f)
    # stationarity K⁻¹ f = ∇ℓ(f) = y - eᶠ, relative to the size of the cancelling terms (~1e12)
    resid = np.linalg.solve(K, f) - (Y_HUGE - np.exp(f))
    assert np.max(np.abs(resid)) <= 1e-9 * np.max(Y_HUGE)
    np.testing.assert_allclose(f, np.log(Y_HUGE), atol=1e-9)  # the prior barely moves counts of 1e12
    value = float(d.log_prob(Y_HUGE))
    from scipy.stats import poisson as sp_poisson
    ref = laplace_value_numpy(Y_HUGE, lambda g: sp_poisson.logpmf(Y_HUGE, np.exp(g)), np.exp(f), f, K)
    assert np.isfinite(value)
    assert abs(value - ref) <= 0.5  # the Poisson log pmf at 1e12 itself carries ~1e-2 nats of round-off per term


def test_student_t_tiny_scale_converges_to_the_highest_mode():
    # before: 100 iterations from the prior mean, converged=False, a finite log marginal all the same
    d = site(student, Y_T)
    fn, consts = d._loglik(jnp.asarray(Y_T))
    L = jnp.linalg.cholesky(d.covariance)
    before = find_mode(fn, consts, d.loc, L, max_iter=100, tol=1e-9, restart=False)
    assert not bool(before.info.converged)
    mode = d.mode(Y_T)
    assert bool(mode.info.converged)
    # stationarity in whitened coordinates: Lᵀ∇ℓ(f) = u
    assert float(jnp.max(jnp.abs(L.T @ mode.grad - mode.u))) <= 1e-8 * (1 + float(jnp.max(jnp.abs(mode.u))))
    # brute force: the same Newton from the prior mean, no restart, 20 000 iterations. The posterior of f
    # is multimodal at this scale; the restarted search must find a mode at least as high.
    brute = find_mode(fn, consts, d.loc, L, max_iter=20000, tol=1e-9, restart=False)
    assert bool(brute.info.converged)

    def psi(m):
        return float(jnp.sum(m.loglik) - 0.5 * m.u @ m.u)

    assert psi(mode) >= psi(brute) - 1e-8
    value = float(d.log_prob(Y_T))
    from scipy.stats import t as sp_t
    W = np.asarray(mode.W)
    ref = laplace_value_numpy(Y_T, lambda g: sp_t.logpdf(Y_T, 4.0, g, 5e-4), W, np.asarray(mode.f), K)
    assert value == pytest.approx(ref, abs=1e-5)


def _failing(name):
    # one Newton iteration (and one after the restart) cannot reach the Student-t mode
    return site(student, Y_T, name=name, max_iter=1)


def test_unconverged_mode_eager_raises_naming_the_site():
    d = _failing("eager_field")
    with pytest.raises(ConvergenceError, match="eager_field.*Newton mode search did not converge.*max_iter"):
        d.log_prob(Y_T)
    with pytest.raises(ConvergenceError, match="eager_field"):
        d.pointwise_log_prob(Y_T)


def test_unconverged_mode_traced_is_minus_inf_with_one_warning_and_zero_gradient():
    reset_convergence_warnings()
    d = _failing("traced_field")
    y = jnp.asarray(Y_T)
    with pytest.warns(ConvergenceWarning, match=r"traced_field.*iterations 2.*final gradient norm"):
        v = jax.jit(d.log_prob)(y)
        v.block_until_ready()
    assert float(v) == -np.inf

    def value(scale):
        dd = LaplaceMarginal(student, scale * d.covariance, d.loc, max_iter=1, site="grad_field")
        return dd.log_prob(y)

    with pytest.warns(ConvergenceWarning, match="grad_field"):
        v, g = jax.jit(jax.value_and_grad(value))(1.0)
        g.block_until_ready()
    assert float(v) == -np.inf and float(g) == 0.0
    # vmapped: converged lanes keep their value, failing lanes are -inf; the site warned once already
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        vals = jax.jit(jax.vmap(value))(jnp.array([1.0, 2.0]))
    assert np.all(np.asarray(vals) == -np.inf)


def _poisson_grid():
    """Kronecker Laplace problem on a 6 x 5 grid: ``(Ls, counts, loglik, prior mean)``."""
    n1, n2 = 6, 5
    k1 = Matern32(lengthscale=0.4)(np.linspace(0, 1, n1)[:, None])
    k2 = Matern32(lengthscale=0.4)(np.linspace(0, 1, n2)[:, None])
    Ls = tuple(jnp.linalg.cholesky(add_jitter(k, 1e-6)) for k in (k1, k2))
    y = jnp.asarray(RNG.poisson(3.0, n1 * n2).astype(float))

    def ll(f, yy):
        return dist.Poisson(jnp.exp(f)).log_prob(yy)

    return Ls, y, ll, jnp.zeros(n1 * n2)


def test_cg_probe_solves_at_their_cap_are_minus_inf_or_raise():
    # probe CG capped at 2 iterations cannot meet probe_tol
    Ls, y, ll, m = _poisson_grid()
    good = kron_log_marginal(ll, Ls, m, (y,), KronLaplaceOptions(), None, "grid_field")
    assert np.isfinite(float(good))
    capped = KronLaplaceOptions(cg_maxiter=2, probe_tol=1e-12)
    with pytest.raises(ConvergenceError, match="grid_field.*conjugate-gradient.*cg_maxiter"):
        kron_log_marginal(ll, Ls, m, (y,), capped, None, "grid_field")
    reset_convergence_warnings()
    with pytest.warns(ConvergenceWarning, match="grid_field.*conjugate-gradient"):
        v = jax.jit(lambda mm: kron_log_marginal(ll, Ls, mm, (y,), capped, None, "grid_field"))(m)
        v.block_until_ready()
    assert float(v) == -np.inf
    assert not bool(cg_converged(CGInfo(jnp.asarray(2), jnp.asarray(1e-3)), 1e-10))
    assert bool(cg_converged(CGInfo(jnp.asarray(9), jnp.asarray(5e-11)), 1e-10))


def test_unconverged_kronecker_draws_and_gradient_solves_are_nan_or_raise():
    from bayeskern.gp.laplace.kronecker import kron_find_mode, kron_posterior_draws

    Ls, y, ll, m = _poisson_grid()
    mode = jax.jit(lambda mm: kron_find_mode(ll, (y,), mm, Ls))(m)
    good = kron_posterior_draws(jax.random.PRNGKey(0), mode, 4)
    assert np.all(np.isfinite(np.asarray(good)))
    capped = KronLaplaceOptions(cg_maxiter=2, probe_tol=1e-12)
    with pytest.raises(ConvergenceError, match="grid_field.*posterior draws.*cg_maxiter"):
        kron_posterior_draws(jax.random.PRNGKey(0), mode, 4, capped, "grid_field")
    reset_convergence_warnings()
    with pytest.warns(ConvergenceWarning, match="grid_field.*posterior draws"):
        draws = jax.jit(lambda md: kron_posterior_draws(jax.random.PRNGKey(0), md, 4, capped, "grid_field"))(mode)
        draws.block_until_ready()
    assert np.all(np.isnan(np.asarray(draws)))
    # the gradient's implicit solve under the cap: NaN gradient (NUTS rejects it), never a finite wrong one
    reset_convergence_warnings()
    loose = KronLaplaceOptions(cg_maxiter=2, probe_tol=1e-12, logdet="fiedler")
    with pytest.warns(ConvergenceWarning, match="grid_field"):
        g = jax.jit(jax.grad(lambda mm: kron_log_marginal(ll, Ls, mm, (y,), loose, None, "grid_field")))(m)
        g.block_until_ready()
    assert np.all(np.isnan(np.asarray(g)))  # the value itself is finite: Newton and the Fiedler log-det converged


def test_unconverged_kronecker_gp_posterior_raises_eager_and_is_nan_traced():
    from bayeskern.gp import GaussianProcess
    from bayeskern.kernels import RBF

    axes = (np.linspace(0, 1, 12), np.linspace(0, 1, 10))
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    Xk = grid[np.random.default_rng(0).uniform(size=len(grid)) > 0.4]
    yk = np.sin(3 * Xk[:, 0]) + Xk[:, 1]
    noise = np.full(len(Xk), 1e-2)  # per-point noise: the CG mode
    capped = GaussianProcess(RBF(lengthscale=0.3), Xk, noise=noise, structure="kronecker", grid=axes, cg_maxiter=2)
    with pytest.raises(ConvergenceError, match="kronecker.*condition.*cg_maxiter"):
        capped.condition(yk)
    reset_convergence_warnings()
    with pytest.warns(ConvergenceWarning, match="kronecker"):
        mean = jax.jit(lambda v: capped.condition(v).at(Xk[:3]).mean)(jnp.asarray(yk))
    assert np.all(np.isnan(np.asarray(mean)))
    exact = GaussianProcess(RBF(lengthscale=0.3), Xk, noise=noise).condition(yk).at(Xk[:3]).mean
    converged = GaussianProcess(RBF(lengthscale=0.3), Xk, noise=noise, structure="kronecker", grid=axes)
    np.testing.assert_allclose(converged.condition(yk).at(Xk[:3]).mean, exact, rtol=1e-6)


def test_nuts_completes_where_some_hyperparameters_do_not_converge():
    from numpyro.infer import MCMC, NUTS

    y = jnp.asarray(Y_T[:15])
    Xs = X[:15]

    def model():
        ls = numpyro.sample("ls", dist.LogNormal(-1.0, 1.0))
        # max_iter=3: long lengthscales (a smooth f through spiky Student-t data) do not converge
        laplace_marginal("g", Matern32(lengthscale=ls), Xs, student, y, max_iter=3)

    reset_convergence_warnings()
    mcmc = MCMC(NUTS(model), num_warmup=40, num_samples=40, progress_bar=False)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        mcmc.run(jax.random.PRNGKey(1))
    ls = np.asarray(mcmc.get_samples()["ls"])
    assert ls.shape == (40,) and np.all(np.isfinite(ls))
    assert any(issubclass(w.category, ConvergenceWarning) and "'g'" in str(w.message) for w in rec)


def test_bq_kernel_fit_that_cannot_converge_warns_and_a_converged_one_is_silent():
    from bayeskern.quadrature import fit_kernel

    Xq = np.linspace(0.0, 1.0, 9)[:, None]
    yq = np.sin(5.0 * Xq[:, 0]) + 0.3 * Xq[:, 0]
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        fit_kernel(Xq, yq, restarts=1, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _, values = fit_kernel(Xq, yq, restarts=2)
    # a 9-point sine of 0.8 periods: the lengthscale is of the order of the spacing to the range, not at a bound
    assert 0.05 < float(values["lengthscale"]) < 2.0 and float(values["variance"]) > 0.0
    with pytest.raises(ValueError, match="max_iter"):
        fit_kernel(Xq, yq, max_iter=0)


@pytest.mark.parametrize("max_iter", [1, 3])
def test_bo_surrogate_fit_that_cannot_converge_warns(max_iter):
    from bayeskern.optimize import GPSurrogate
    from bayeskern.optimize.surrogate import pad_data

    r = np.random.default_rng(2)
    Xs = r.uniform(size=(12, 2))
    ys = np.sin(5 * Xs[:, 0]) + Xs[:, 1]
    ys = (ys - ys.mean()) / ys.std()
    with pytest.warns(ConvergenceWarning, match=f"max_iter={max_iter}"):
        GPSurrogate().fit_map(*pad_data(Xs, ys, 16), jax.random.PRNGKey(0), max_iter=max_iter)
