"""Laplace prediction at new inputs: against dense NumPy formulas (independent Newton mode by SciPy),
the exact GP (Gaussian likelihood, with and without masked points), scikit-learn's Laplace
GaussianProcessClassifier at the same fixed hyperparameters, and numerical integration."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import scipy.integrate as si
import scipy.optimize as so
from scipy import stats
from scipy.special import expit

import bayeskern  # noqa: F401
from bayeskern.gp.laplace.marginal import laplace_marginal
from bayeskern.gp.laplace.predict import predict_latent
from bayeskern.gp.predictive_density import bernoulli_probability, predictive_log_density
from bayeskern.infer import Fit
from bayeskern.kernels import RBF, Matern32

N = 15
RNG = np.random.default_rng(11)
X = np.sort(RNG.uniform(0.0, 6.0, N))
X_NEW = np.array([-0.5, 0.3, X[4], 2.5, 4.1, 6.8])  # one new point equals a training input
F_TRUE = np.sin(X)
Y_POIS = RNG.poisson(np.exp(F_TRUE + 0.5)).astype(float)
Y_T = F_TRUE + 0.2 * RNG.standard_normal(N)
Y_T[6] += 4.0  # outlier: W < 0 there
JIT = 1e-8
DRAWS = {"ls": np.array([[1.2, 0.7]]), "var": np.array([[0.8, 1.5]]), "b": np.array([[0.3, -0.2]])}
LIKS = {
    "poisson": lambda f: dist.Poisson(jnp.exp(f)),
    "gauss": lambda f: dist.Normal(f, 0.3),
    "student": lambda f: dist.StudentT(4.0, f, 0.2),
}


def kernel_of(v):
    return Matern32(lengthscale=v["ls"], variance=v["var"])


def model(x, y, kind="poisson", mask=None):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    var = numpyro.sample("var", dist.LogNormal(0.0, 0.5))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    lik = LIKS[kind]
    if mask is not None:
        def lik(f, base=LIKS[kind]):
            return base(f).mask(mask)
    laplace_marginal("f", Matern32(lengthscale=ls, variance=var), x, lik, y, mean=b, jitter=JIT)


def make_fit(*args, **kwargs):
    return Fit(DRAWS, method="nuts", model=model, model_args=args, model_kwargs=kwargs)


# -- independent dense reference ---------------------------------------------------------------
def gram(ls, var, A, B):
    r = np.abs(A[:, None] - B[None, :]) * np.sqrt(3.0) / ls
    return var * (1 + r) * np.exp(-r)


def ref_predict(y, kind, ls, var, b, mask=None):
    """Mode by SciPy trust-region Newton; predictive by dense inverses (R&W eqs. 3.21, 3.24)."""
    K = gram(ls, var, X, X)
    K += JIT * np.mean(np.diag(K)) * np.eye(N)
    Ki = np.linalg.inv(K)
    keep = np.ones(N) if mask is None else mask.astype(float)

    def gw(f):  # gradient and W = -second derivative of the log likelihood
        if kind == "poisson":
            return y - np.exp(f), np.exp(f)
        if kind == "gauss":
            return (y - f) / 0.09, np.full(N, 1 / 0.09)
        nu, s = 4.0, 0.2
        r = y - f
        d = nu * s**2 + r**2
        return (nu + 1) * r / d, (nu + 1) * (nu * s**2 - r**2) / d**2

    def ll(f):
        if kind == "poisson":
            return stats.poisson.logpmf(y, np.exp(f))
        if kind == "gauss":
            return stats.norm.logpdf(y, f, 0.3)
        return stats.t.logpdf(y, 4.0, f, 0.2)

    def obj(f):
        return -(np.sum(keep * ll(f)) - 0.5 * (f - b) @ Ki @ (f - b))

    res = so.minimize(obj, np.full(N, b), jac=lambda f: -(keep * gw(f)[0] - Ki @ (f - b)),
                      hess=lambda f: Ki + np.diag(keep * gw(f)[1]), method="trust-exact",
                      options={"gtol": 1e-10})
    f = res.x
    W = keep * gw(f)[1]
    ks, kss = gram(ls, var, X, X_NEW), gram(ls, var, X_NEW, X_NEW)
    mean = b + ks.T @ Ki @ (f - b)
    if np.all(W > 0):
        cov = kss - ks.T @ np.linalg.inv(K + np.diag(1.0 / W)) @ ks
    else:  # W with zeros or negative entries: Σ = (K⁻¹ + W)⁻¹, Var = k** - k*ᵀK⁻¹k* + k*ᵀK⁻¹ΣK⁻¹k*
        S = np.linalg.inv(Ki + np.diag(W))
        cov = kss - ks.T @ Ki @ ks + ks.T @ Ki @ S @ Ki @ ks
    return mean, np.diag(cov), W


@pytest.mark.parametrize("kind, y", [("poisson", Y_POIS), ("student", Y_T)])
def test_matches_dense_reference(kind, y):
    pred = predict_latent(make_fit(X, y, kind), "f", X_NEW, X=X, kernel=kernel_of)
    assert pred.mean.shape == pred.var.shape == (2, X_NEW.size)
    for s in range(2):
        mu, v, W = ref_predict(y, kind, DRAWS["ls"][0, s], DRAWS["var"][0, s], DRAWS["b"][0, s])
        if kind == "student":
            assert W.min() < 0  # the non-log-concave case is really exercised
        np.testing.assert_allclose(pred.mean[s], mu, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(pred.var[s], v, rtol=1e-6, atol=1e-8)
    mix_mu, mix_var = pred.marginal()
    np.testing.assert_allclose(mix_var, pred.var.mean(0) + pred.mean.var(0))
    np.testing.assert_allclose(mix_mu, pred.mean.mean(0))


def test_gaussian_likelihood_is_exact_gp_and_zero_w_drops_points():
    mask = np.ones(N, dtype=bool)
    mask[[2, 7, 8]] = False  # masked terms: W = 0 there, so those points carry no information
    for msk in (None, mask):
        kw = {} if msk is None else {"mask": jnp.asarray(msk)}
        pred = predict_latent(make_fit(X, Y_T, "gauss", **kw), "f", X_NEW, X=X, kernel=kernel_of)
        keep = np.ones(N, bool) if msk is None else msk
        for s in range(2):
            ls, var, b = (DRAWS[k][0, s] for k in ("ls", "var", "b"))
            Xk, yk = X[keep], Y_T[keep]
            K = gram(ls, var, Xk, Xk) + (0.09 + JIT * var) * np.eye(keep.sum())
            ks = gram(ls, var, Xk, X_NEW)
            mu = b + ks.T @ np.linalg.solve(K, yk - b)
            v = var - np.einsum("ij,ij->j", ks, np.linalg.solve(K, ks))
            np.testing.assert_allclose(pred.mean[s], mu, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(pred.var[s], v, rtol=1e-6, atol=1e-7)


def test_against_sklearn_gpc_at_fixed_hyperparameters():
    from sklearn.gaussian_process import GaussianProcessClassifier
    from sklearn.gaussian_process.kernels import RBF as SkRBF
    from sklearn.gaussian_process.kernels import ConstantKernel

    rng = np.random.default_rng(5)
    Xc = rng.standard_normal((40, 2))
    yc = (rng.uniform(size=40) < expit(2.5 * np.sin(1.5 * Xc[:, 0]) + Xc[:, 1])).astype(float)
    Xs = rng.standard_normal((25, 2)) * 1.5
    ls, var = np.array([0.9, 1.7]), 2.5

    def cmodel(x, y):
        lsv = numpyro.sample("ls", dist.LogNormal(0.0, 1.0).expand([2]).to_event(1))
        v = numpyro.sample("var", dist.LogNormal(0.0, 1.0))
        laplace_marginal("g", RBF(lengthscale=lsv, variance=v), x, lambda f: dist.Bernoulli(logits=f), y,
                         jitter=1e-12)

    fit = Fit({"ls": ls[None, None], "var": np.array([[var]])}, method="laplace", model=cmodel, model_args=(Xc, yc))
    pred = predict_latent(fit, "g", Xs, X=Xc, kernel=lambda v: RBF(lengthscale=v["ls"], variance=v["var"]))

    sk = GaussianProcessClassifier(ConstantKernel(var, "fixed") * SkRBF(ls, "fixed"), optimizer=None).fit(Xc, yc)
    base = sk.base_estimator_
    Ks = base.kernel_(base.X_train_, Xs)
    sk_mean = Ks.T @ (base.y_train_ - base.pi_)
    v = np.linalg.solve(base.L_, base.W_sr_[:, None] * Ks)
    sk_var = base.kernel_.diag(Xs) - np.einsum("ij,ij->j", v, v)
    # sklearn stops Newton at |Δ log Z| < 1e-10: agreement to about 1e-6, far below any effect on p.
    np.testing.assert_allclose(pred.mean[0], sk_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.var[0], sk_var, rtol=1e-5, atol=1e-6)
    p_gh = np.asarray(bernoulli_probability(pred.mean[0], pred.var[0]))
    p_sk = sk.predict_proba(Xs)[:, 1]
    # sklearn integrates an erf-mixture approximation of the logistic (Williams & Barber 1998).
    assert np.max(np.abs(p_gh - p_sk)) < 2e-3
    p_mackay = np.asarray(bernoulli_probability(pred.mean[0], pred.var[0], approx="probit"))
    assert np.max(np.abs(p_mackay - p_gh)) < 0.02


def test_constant_site_mean_and_explicit_mean():
    fit = make_fit(X, Y_POIS, "poisson")
    a = predict_latent(fit, "f", X_NEW, X=X, kernel=kernel_of)
    b = predict_latent(fit, "f", X_NEW, X=X, kernel=kernel_of, mean=lambda v, xn: v["b"] + 0.0 * xn[:, 0],
                       batch_size=1)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.var, b.var, rtol=1e-12, atol=1e-14)
    # Far from the data the predictive reverts to the prior N(b, var).
    far = predict_latent(fit, "f", np.array([60.0]), X=X, kernel=kernel_of)
    np.testing.assert_allclose(far.mean[:, 0], DRAWS["b"][0], atol=1e-8)
    np.testing.assert_allclose(far.var[:, 0], DRAWS["var"][0], rtol=1e-8)


# -- predictive probabilities and densities against numerical integration ------------------------
@pytest.mark.parametrize("mu, s2", [(0.3, 0.5), (-2.0, 4.0), (1.5, 0.0), (4.0, 25.0)])
def test_bernoulli_probability_and_log_density_against_quad(mu, s2):
    def quad(g):
        if s2 == 0:
            return g(mu)
        return si.quad(lambda f: g(f) * stats.norm.pdf(f, mu, np.sqrt(s2)), -np.inf, np.inf, epsabs=1e-13)[0]

    p_logit = quad(expit)
    assert abs(float(bernoulli_probability(mu, s2)) - p_logit) < 2e-6
    assert abs(float(bernoulli_probability(mu, s2, link="probit")) - quad(stats.norm.cdf)) < 1e-12
    lp = predictive_log_density(lambda f: dist.Bernoulli(logits=f), jnp.array([mu, mu]), s2, jnp.array([1.0, 0.0]),
                              num_points=64)
    np.testing.assert_allclose(np.exp(lp), [p_logit, 1 - p_logit], atol=2e-6)
    # Poisson count: against quadrature of the pmf; Gaussian: closed form N(y; μ, s² + σ²).
    s2p = min(s2, 1.0)
    lp_pois = predictive_log_density(lambda f: dist.Poisson(jnp.exp(f)), mu, s2p, 3.0, num_points=64)
    pmf3 = lambda f: np.exp(3 * f - np.exp(f) - np.log(6.0))  # noqa: E731
    sd = np.sqrt(s2p)
    ref = pmf3(mu) if s2p == 0 else si.quad(lambda f: pmf3(f) * stats.norm.pdf(f, mu, sd), mu - 12 * sd,
                                             mu + 12 * sd, epsabs=1e-14, limit=200)[0]
    np.testing.assert_allclose(float(lp_pois), np.log(ref), rtol=1e-6)
    lp_g = predictive_log_density(lambda f: dist.Normal(f, 0.4), mu, s2, 0.7)
    np.testing.assert_allclose(float(lp_g), stats.norm.logpdf(0.7, mu, np.sqrt(s2 + 0.16)), rtol=1e-10)


def test_bad_input_raises_naming_the_argument():
    fit = make_fit(X, Y_POIS, "poisson")
    with pytest.raises(ValueError, match="name"):
        predict_latent(fit, "g", X_NEW, X=X, kernel=kernel_of)
    with pytest.raises(ValueError, match="X must"):
        predict_latent(fit, "f", X_NEW, X=X[:-1], kernel=kernel_of)
    with pytest.raises(ValueError, match="X_new"):
        predict_latent(fit, "f", np.ones((3, 2)), X=X, kernel=kernel_of)
    with pytest.raises(ValueError, match="X_new"):
        predict_latent(fit, "f", np.array([0.0, np.nan]), X=X, kernel=kernel_of)
    with pytest.raises(ValueError, match="kernel"):
        predict_latent(fit, "f", X_NEW, X=X, kernel=lambda v: Matern32(lengthscale=2 * v["ls"], variance=v["var"]))
    with pytest.raises(ValueError, match="kernel"):
        predict_latent(fit, "f", X_NEW, X=X, kernel="rbf")
    with pytest.raises(ValueError, match="mean"):
        predict_latent(fit, "f", X_NEW, X=X, kernel=kernel_of, mean=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        predict_latent(fit, "f", X_NEW, X=X, kernel=kernel_of, batch_size=0)
    with pytest.raises(ValueError, match="fit"):
        predict_latent(Fit(DRAWS, method="nuts"), "f", X_NEW, X=X, kernel=kernel_of)
    with pytest.raises(ValueError, match="var"):
        bernoulli_probability(0.0, -1.0)
    with pytest.raises(ValueError, match="link"):
        bernoulli_probability(0.0, 1.0, link="cloglog")
    with pytest.raises(ValueError, match="approx"):
        bernoulli_probability(0.0, 1.0, approx="laplace")
    with pytest.raises(ValueError, match="likelihood"):
        predictive_log_density(None, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="y must"):
        predictive_log_density(lambda f: dist.Normal(f, 1.0), jnp.zeros(3), 1.0, jnp.zeros(4))
    with pytest.raises(ValueError, match="num_points"):
        predictive_log_density(lambda f: dist.Normal(f, 1.0), 0.0, 1.0, 0.0, num_points=0)
