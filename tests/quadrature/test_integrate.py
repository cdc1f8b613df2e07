"""integrate(), designs, WSABI-L, evidence and the NumPyro BQ model."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayeskern  # noqa: F401
from bayeskern.kernels import RBF
from bayeskern.quadrature import (
    Gaussian,
    Uniform,
    acquisition,
    bq_model,
    bq_posterior,
    embed,
    evidence,
    integral_posterior,
    integrate,
    kernel_herding,
    mmd,
    model_defaults,
    monte_carlo,
    select_batch,
    wsabi_l,
)


def test_integrate_gaussian_integrand_fixed_kernel_beats_monte_carlo():
    meas = Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 1.0]])
    f = lambda x: jnp.exp(-0.5 * jnp.sum(x**2))  # noqa: E731
    # E exp(-|x|²/2) under N(0, S) = |I + S|^{-1/2}
    truth = np.linalg.det(np.eye(2) + np.array([[1.0, 0.3], [0.3, 1.0]])) ** -0.5
    r = integrate(f, meas, 32, kernel=RBF(lengthscale=1.0))
    assert abs(float(r.mean) - truth) < 1e-3 and r.X.shape == (32, 2) and r.draws.shape == (1000,)
    mc = np.asarray(r.fX).mean()
    assert abs(float(r.mean) - truth) < 0.1 * abs(mc - truth)
    lo, hi = r.interval(0.99)
    assert lo < truth < hi


def test_integrate_precomputed_map_and_bad_arguments():
    meas = Uniform(0.0, 1.0)
    X = np.linspace(0.02, 0.98, 12)[:, None]
    r = integrate((X, np.exp(X[:, 0])), meas)
    assert float(r.mean) == pytest.approx(np.e - 1, rel=1e-4) and float(r.sd) < 1e-3
    with pytest.raises(ValueError, match="design"):
        integrate(lambda x: x[0], meas, 4, design="grid")
    with pytest.raises(ValueError, match="n must"):
        integrate(lambda x: x[0], meas)
    with pytest.raises(ValueError, match="scalar"):
        integrate(lambda x: jnp.stack([x[0], x[0]]), meas, 3, kernel=RBF())


def test_acquisitions_prefer_unexplored_regions_and_ignore_padding():
    meas = Uniform([0.0, 0.0], [1.0, 1.0])
    k = RBF(lengthscale=0.2)
    X = jnp.array([[0.1, 0.1], [0.15, 0.2]])
    for kind in ("ivr", "us", "mi"):
        a = acquisition(kind, k, meas, X)
        assert float(a(jnp.array([0.7, 0.7]))) > float(a(jnp.array([0.12, 0.15])))
    # Padding rows (mask False) must not change the acquisition.
    pad = jnp.concatenate([X, jnp.full((6, 2), 0.5)])
    for kind in ("ivr", "mi"):
        a, b = acquisition(kind, k, meas, X), acquisition(kind, k, meas, pad, mask=jnp.arange(8) < 2)
        assert float(b(jnp.array([0.3, 0.8]))) == pytest.approx(float(a(jnp.array([0.3, 0.8]))), rel=1e-10)
    # IVR with no points is the squared kernel mean over the prior variance of f(x).
    a0 = acquisition("ivr", k, meas, jnp.zeros((0, 2)))
    x = jnp.array([0.4, 0.6])
    assert float(a0(x)) == pytest.approx(float(embed(k, meas, x[None]).z[0]) ** 2 / float(k.variance), rel=1e-10)


@pytest.mark.slow
def test_greedy_batch_by_gradient_reduces_the_integral_variance():
    meas = Uniform([0.0, 0.0], [1.0, 1.0])
    k = RBF(lengthscale=0.2)
    X = jnp.array([[0.1, 0.1], [0.15, 0.2]])
    B = select_batch(k, meas, X, 3, starts=8, steps=30)
    post_before = bq_posterior(k, meas, X, jnp.zeros(2))
    post_after = bq_posterior(k, meas, jnp.concatenate([X, B]), jnp.zeros(5))
    assert B.shape == (3, 2) and float(post_after.variance) < 0.5 * float(post_before.variance)
    assert float(jnp.min(jnp.linalg.norm(B[:, None] - B[None], axis=-1) + jnp.eye(3))) > 0.05
    # The first greedy IVR point is within 1% of the best of a 400-point grid (30 Adam steps from 8 starts).
    ivr = jax.vmap(acquisition("ivr", k, meas, X))
    grid = jnp.stack(jnp.meshgrid(*[jnp.linspace(0, 1, 20)] * 2), -1).reshape(-1, 2)
    assert float(ivr(B[:1])[0]) >= 0.99 * float(jnp.max(ivr(grid)))


def test_mmd_against_numerical_integration():
    meas = Uniform([0.0, -1.0], [1.0, 1.0], normalized=False)
    k = RBF(lengthscale=np.array([0.3, 0.6]))
    X = np.array([[0.1, 0.0], [0.5, 0.5], [0.9, -0.7]])
    w = np.array([0.5, 0.9, 0.6])
    x, wq = np.polynomial.legendre.leggauss(40)
    P = np.stack(np.meshgrid(0.5 * (x + 1), x), -1).reshape(-1, 2)
    W = np.outer(wq, 0.5 * wq).ravel()  # Lebesgue weights on [0, 1] x [-1, 1]
    Kpp, Kpx, Kxx = (np.asarray(k(a, b)) for a, b in ((P, P), (P, X), (X, X)))
    ref = np.sqrt(W @ Kpp @ W - 2 * w @ (W @ Kpx) + w @ Kxx @ w)
    assert float(mmd(k, meas, X, w)) == pytest.approx(ref, rel=1e-8)
    eq = np.full(3, 2.0 / 3)  # default weights: mass / n
    assert float(mmd(k, meas, X)) == pytest.approx(np.sqrt(W @ Kpp @ W - 2 * eq @ (W @ Kpx) + eq @ Kxx @ eq), rel=1e-8)


@pytest.mark.parametrize("measure", [
    Uniform([0.0, 0.0], [1.0, 1.0]),
    pytest.param(Gaussian([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]]), marks=pytest.mark.slow),
])
def test_kernel_herding_mmd_decreases_and_beats_monte_carlo(measure):
    k = RBF(lengthscale=0.3)
    H = kernel_herding(k, measure, 16, candidates=512)
    assert H.shape == (16, 2) and len(np.unique(np.asarray(H), axis=0)) == 16
    herd = [float(mmd(k, measure, H[:n])) for n in (2, 4, 8, 16)]
    assert all(b < a for a, b in itertools.pairwise(herd))
    for n, h in zip((4, 8, 16), herd[1:], strict=True):
        mc = [float(mmd(k, measure, monte_carlo(measure, n, seed=s))) for s in range(8)]
        assert h < min(mc)  # better than every one of 8 i.i.d. designs of the same size
    with pytest.raises(ValueError, match="num"):
        kernel_herding(k, measure, 600, candidates=512)


def test_wsabi_l_on_a_gaussian_bump():
    meas = Gaussian([0.0], [[1.0]])
    X = jnp.linspace(-2.5, 2.5, 15)[:, None]
    fX = jnp.exp(-0.5 * (X[:, 0] - 0.3) ** 2 / 0.25)
    truth = np.sqrt(0.25 / 1.25) * np.exp(-0.5 * 0.09 / 1.25)
    post = wsabi_l(X, fX, meas)
    assert abs(float(post.mean) - truth) < 0.02 and float(post.sd) > 0
    with pytest.raises(ValueError, match="non-negative"):
        wsabi_l(X, fX - 0.5, meas)


def linreg(t, y=None):
    w = numpyro.sample("w", dist.Normal(jnp.zeros(2), 1.0).to_event(1))
    numpyro.sample("y", dist.Normal(w[0] + w[1] * t, 0.5), obs=y)


def exact_log_evidence(t, y):
    Phi = np.stack([np.ones_like(t), t], 1)
    C = 0.25 * np.eye(len(t)) + Phi @ Phi.T
    _, logdet = np.linalg.slogdet(C)
    return -0.5 * (y @ np.linalg.solve(C, y) + logdet + len(t) * np.log(2 * np.pi))


@pytest.mark.slow
def test_evidence_of_conjugate_linear_regression():
    t = np.linspace(-1, 1, 6)
    y = 0.4 + 0.8 * t + np.array([0.1, -0.2, 0.05, 0.3, -0.1, 0.0])
    # n = 128: at n = 30 the error was 0.01-0.25 over seeds 0-3 (with either lengthscale prior), so a
    # 0.05 tolerance there tested the seed; from n = 128 on it is below 0.05 for every seed tried.
    res = evidence(linreg, t, y=y, n=128, method="bq")
    assert res.log_evidence == pytest.approx(exact_log_evidence(t, y), abs=0.05)
    with pytest.raises(ValueError, match="Normal"):
        evidence(lambda: numpyro.sample("s", dist.Gamma(2.0, 1.0)), n=4)


@pytest.mark.slow
def test_bq_model_sites_and_map_fit_agree_with_closed_form():
    from bayeskern.infer import svi

    meas = Uniform(0.0, 1.0)
    X = np.linspace(0.05, 0.95, 8)[:, None]
    y = np.sin(3 * X[:, 0])
    fit = svi(bq_model, X, y, measure=meas, guide="map", steps=300, **model_defaults(X, y))
    post = integral_posterior(fit)
    assert {"f_lengthscale", "f_variance", "integral_mean", "integral_var"} <= set(fit.samples)
    truth = (1 - np.cos(3.0)) / 3
    assert abs(float(post.mean) - truth) < 3e-3
    with pytest.raises(ValueError, match="no site"):
        integral_posterior(fit, name="other")
