"""INLA-style CCD integration: design moments, exactness on a Gaussian posterior, accuracy on a skewed
conjugate posterior (closed form), Fit/ArviZ output."""

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy.special import gammaln

import bayeskern  # noqa: F401
from bayeskern.infer.design import ccd_design, inla


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 6])
def test_ccd_weights_integrate_gaussian_moments_exactly(dim):
    t, w = ccd_design(dim, f0=1.1)
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(w @ t, np.zeros(dim), atol=1e-12)
    np.testing.assert_allclose((t * w[:, None]).T @ t, np.eye(dim), atol=1e-12)
    # non-centre points lie on the sphere of radius f0 sqrt(d)
    np.testing.assert_allclose(np.linalg.norm(t[1:], axis=1), 1.1 * np.sqrt(dim))


def test_ccd_bad_arguments():
    with pytest.raises(ValueError, match="dim"):
        ccd_design(0)
    with pytest.raises(ValueError, match="f0"):
        ccd_design(2, f0=-1.0)
    with pytest.raises(ValueError, match="design"):
        inla(gamma_poisson, np.array([1.0]), design="grid")


XS = np.linspace(-1, 1, 8)
YS = 0.5 + 1.5 * XS + np.random.default_rng(0).normal(0, 0.5, 8)


def linreg(x, y):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(a + b * x, 0.5), obs=y)


def test_gaussian_posterior_moments_exact():
    fit = inla(linreg, XS, YS, steps=500, num_samples=400)
    A = np.stack([np.ones_like(XS), XS], 1)
    prec = np.eye(2) + A.T @ A / 0.25
    cov = np.linalg.inv(prec)
    mean = cov @ (A.T @ YS / 0.25)
    pts = np.stack([fit.extras["design_points"]["a"], fit.extras["design_points"]["b"]], 1)
    w = fit.extras["design_weights"]
    m_hat = w @ pts
    c_hat = ((pts - m_hat) * w[:, None]).T @ (pts - m_hat)
    np.testing.assert_allclose(m_hat, mean, atol=1e-6)
    np.testing.assert_allclose(c_hat, cov, atol=1e-6)
    # exact evidence of the conjugate linear model
    S = A @ A.T + 0.25 * np.eye(len(XS))
    log_ev = -0.5 * (YS @ np.linalg.solve(S, YS) + np.linalg.slogdet(2 * np.pi * S)[1])
    np.testing.assert_allclose(fit.extras["log_evidence"], log_ev, atol=1e-6)
    assert fit.samples["a"].shape == (400,)
    dt = fit.to_arviz()
    assert "posterior" in dt.children and "log_likelihood" in dt.children


A0, B0 = 2.0, 1.0
COUNTS = np.array([0.0, 2.0, 1.0])


def gamma_poisson(y):
    lam = numpyro.sample("lam", dist.Gamma(A0, B0))
    numpyro.sample("y", dist.Poisson(lam), obs=y)


def test_skewed_posterior_ccd_beats_plug_in():
    """lam | y ~ Gamma(a + sum y, b + n): few counts, so z = log lam is visibly non-Gaussian.

    The mode of z is log(a/b) while E[z] = digamma(a) - log b: the design's density
    ratios must move the estimate from the mode towards the exact mean.
    """
    from scipy.special import digamma, polygamma

    a, b = A0 + COUNTS.sum(), B0 + len(COUNTS)
    exact_mean, exact_var = digamma(a) - np.log(b), polygamma(1, a)
    fit = inla(gamma_poisson, COUNTS, steps=500, num_samples=2000)
    pts, w = np.log(fit.extras["design_points"]["lam"]), fit.extras["design_weights"]
    m_hat = float(w @ pts)
    v_hat = float(w @ (pts - m_hat) ** 2)
    plug = float(pts[0])  # the centre is the unconstrained mode
    np.testing.assert_allclose(plug, np.log(a / b), atol=1e-6)
    print(m_hat, exact_mean, plug, v_hat, exact_var)
    # a 3-point rule in 1-D corrects part of the skew (here about 40 % of the mode's error)
    assert abs(m_hat - exact_mean) < 0.7 * abs(plug - exact_mean)
    assert abs(v_hat - exact_var) < 0.15 * exact_var  # about the Laplace variance 1/a: no gain here
    # evidence: closed form of the Gamma-Poisson marginal
    log_ev = (A0 * np.log(B0) - gammaln(A0) + gammaln(a) - a * np.log(b) - np.sum(gammaln(COUNTS + 1)))
    print("evidence: exact", log_ev, "ccd", fit.extras["log_evidence"], "laplace", fit.extras["laplace_log_evidence"])
    assert abs(fit.extras["log_evidence"] - log_ev) < 0.03
    # resampled draws follow the weights
    assert abs(np.log(fit.samples["lam"]).mean() - m_hat) < 1e-2


def test_mode_design_is_plug_in():
    fit = inla(gamma_poisson, COUNTS, design="mode", steps=500, num_samples=10)
    assert fit.extras["design_weights"].shape == (1,)
    np.testing.assert_allclose(fit.samples["lam"], fit.extras["design_points"]["lam"][0])
