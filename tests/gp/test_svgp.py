"""Sparse variational GP (Hensman et al. 2013): ELBO against exact GP and SGPR, likelihoods, minibatches."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro.distributions import constraints
from numpyro.infer import Predictive, Trace_ELBO

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.gp.svgp import (
    SVGP,
    expected_log_likelihood,
    fit_svgp,
    log_predictive_density,
    optimal_gaussian_q,
    predictive_moments,
    q_marginals,
    select_inducing,
    svgp_elbo,
)
from bayeskern.kernels import RBF, Matern32

N = 30
RNG = np.random.default_rng(0)
X = np.sort(RNG.uniform(0.0, 5.0, N))
Y = np.sin(2.0 * X) + 0.2 * RNG.normal(size=N)
S2 = 0.05
KERNEL = Matern32(lengthscale=0.7, variance=1.3)
X_NEW = np.linspace(-0.5, 5.5, 7)
POS = constraints.positive


def gaussian(f):
    return dist.Normal(f, np.sqrt(S2))


# ------------------------------------------------------------- Gaussian likelihood
@pytest.mark.parametrize("whiten", [True, False], ids=["whitened", "unwhitened"])
def test_optimal_q_elbo_is_exact_at_Z_equal_X_and_equals_sgpr_bound_otherwise(whiten):
    exact = float(GaussianProcess(KERNEL, X, noise=S2).log_prob(Y))
    q = optimal_gaussian_q(KERNEL, X, Y, S2, X, whiten=whiten, jitter=1e-10)
    elbo = float(svgp_elbo(KERNEL, X, Y, gaussian, X, *q, whiten=whiten, jitter=1e-10))
    assert abs(elbo - exact) < 1e-6
    Z = X[::3]  # M = 10 < n: Titsias (2009): the optimal SVGP ELBO is the collapsed bound
    q = optimal_gaussian_q(KERNEL, X, Y, S2, Z, whiten=whiten)
    elbo = float(svgp_elbo(KERNEL, X, Y, gaussian, Z, *q, whiten=whiten))
    bound = float(GaussianProcess(KERNEL, X, noise=S2, structure="sgpr", inducing=Z).log_prob(Y))
    assert abs(elbo - bound) < 1e-8 and bound < exact
    # any other q gives less
    worse = float(svgp_elbo(KERNEL, X, Y, gaussian, Z, q[0] * 0.9, q[1], whiten=whiten))
    assert worse < elbo


@pytest.mark.slow
def test_fit_svgp_at_Z_equal_X_is_the_exact_gp_at_the_learned_hyperparameters():
    """Full batch, M = n, Gaussian likelihood, natural gradients (γ = 1) for q and Adam for the kernel
    and noise: the ELBO at the returned parameters is the exact log marginal likelihood there and the
    predictions are the exact GP's."""

    def kernel():
        return Matern32(lengthscale=numpyro.param("ls", 1.0, constraint=POS),
                        variance=numpyro.param("var", 1.0, constraint=POS))

    def lik(f):
        return dist.Normal(f, numpyro.param("noise_scale", 0.5, constraint=POS))

    fit = fit_svgp(kernel, X, Y, lik, X, steps=150, natgrad_step=1.0, learn_inducing=False, jitter=1e-10,
                   optimizer=optax.adam(3e-2))
    hp = fit.hyperparameters
    assert set(hp) == {"ls", "var", "noise_scale"} and fit.elbo.shape == (150,)
    s2 = float(hp["noise_scale"]) ** 2
    exact = GaussianProcess(Matern32(lengthscale=hp["ls"], variance=hp["var"]), X, noise=s2)
    start = float(GaussianProcess(Matern32(), X, noise=0.25).log_prob(Y))
    assert float(exact.log_prob(Y)) > start + 5.0  # the hyperparameters were learned
    assert abs(fit.full_elbo(X, Y) - float(exact.log_prob(Y))) < 1e-6
    np.testing.assert_allclose(fit.elbo[-1], float(exact.log_prob(Y)), atol=1e-2)
    pred, ref = fit.predict(X_NEW), exact.condition(Y, X_NEW)
    np.testing.assert_allclose(pred.f_mean, ref.mean, atol=1e-6)
    np.testing.assert_allclose(pred.f_var, ref.variance, atol=1e-6)
    np.testing.assert_allclose(pred.y_mean, ref.mean, atol=1e-6)
    np.testing.assert_allclose(pred.y_var, ref.variance + s2, atol=1e-6)
    lpd = fit.log_predictive_density(X_NEW, ref.mean + 0.3)
    np.testing.assert_allclose(lpd, -0.5 * np.log(2 * np.pi * (ref.variance + s2)) - 0.045 / (ref.variance + s2),
                               atol=1e-6)


# ------------------------------------------------------------- other likelihoods
@pytest.mark.slow
def test_bernoulli_classification_is_accurate_and_calibrated():
    rng = np.random.default_rng(1)

    def truth(x):
        return 1.0 / (1.0 + np.exp(-3.0 * np.sin(1.5 * x)))

    Xc = rng.uniform(-3, 3, 400)
    yc = (rng.uniform(size=400) < truth(Xc)).astype(float)
    Xt = np.linspace(-3, 3, 2000)
    pt = truth(Xt)

    def kernel():
        return RBF(lengthscale=numpyro.param("ls", 1.0, constraint=POS),
                   variance=numpyro.param("var", 1.0, constraint=POS))

    Z0 = select_inducing(Xc, 15, seed=0)
    fit = fit_svgp(kernel, Xc, yc, lambda f: dist.Bernoulli(logits=f), Z0, steps=600, batch_size=100,
                   optimizer=optax.adam(2e-2))
    assert not np.allclose(fit.inducing, Z0)  # inducing inputs are learned
    p = np.asarray(fit.predict(Xt).y_mean)
    assert np.all((p > 0) & (p < 1))
    accuracy = np.mean((p > 0.5) == (pt > 0.5))  # agreement with the Bayes classifier
    assert accuracy > 0.9
    # calibrated-ish: predicted probabilities close to the true ones on average and per bin
    assert np.mean(np.abs(p - pt)) < 0.08
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for b in np.unique(bins):
        m = bins == b
        if m.sum() > 100:
            assert abs(p[m].mean() - pt[m].mean()) < 0.1


@pytest.mark.slow
def test_poisson_log_rate():
    rng = np.random.default_rng(2)
    Xp = np.linspace(0, 6, 120)
    rate = np.exp(1.0 + np.sin(Xp))
    yp = rng.poisson(rate).astype(float)

    def kernel():
        return RBF(lengthscale=numpyro.param("ls", 1.0, constraint=POS))

    fit = fit_svgp(kernel, Xp, yp, lambda f: dist.Poisson(jnp.exp(f)), select_inducing(Xp, 12, seed=0), steps=300,
                   natgrad_step=0.5, mean=lambda x: numpyro.param("c", 0.0) * jnp.ones(jnp.shape(x)[0]),
                   optimizer=optax.adam(3e-2))
    pred = fit.predict(Xp)
    assert set(fit.hyperparameters) == {"ls", "c"}
    est = np.asarray(pred.y_mean)
    assert np.corrcoef(est, rate)[0, 1] > 0.95
    assert np.mean(np.abs(est - rate) / rate) < 0.2
    assert np.all(np.asarray(pred.y_var) > est)  # Poisson mean plus the rate's uncertainty


def test_quadrature_against_closed_forms_and_monte_carlo():
    mean, var = jnp.array([-1.0, 0.3, 2.0]), jnp.array([0.5, 0.1, 2.0])
    y = jnp.array([0.2, -0.4, 1.0])
    s2 = 0.3
    got = expected_log_likelihood(lambda f: dist.Normal(f, np.sqrt(s2)), y, mean, var)
    ref = -0.5 * np.log(2 * np.pi * s2) - 0.5 * ((y - mean) ** 2 + var) / s2
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    lpd = log_predictive_density(lambda f: dist.Normal(f, np.sqrt(s2)), y, mean, var)  # closed form
    np.testing.assert_allclose(lpd, dist.Normal(mean, jnp.sqrt(var + s2)).log_prob(y), rtol=1e-12)
    wide = 30.0  # quadrature path (Student-t is not recognised as Gaussian); wide t ~ Gaussian
    lpd_t = log_predictive_density(lambda f: dist.StudentT(1e6, f, wide), y, mean, var)
    np.testing.assert_allclose(lpd_t, dist.Normal(mean, jnp.sqrt(var + wide**2)).log_prob(y), rtol=1e-5)
    counts = jnp.array([0.0, 3.0, 7.0])
    got = expected_log_likelihood(lambda f: dist.Poisson(jnp.exp(f)), counts, mean, var)
    # E[y f - e^f - log y!] with E[e^f] = exp(mean + var/2)
    ref = counts * mean - jnp.exp(mean + var / 2) - jax.scipy.special.gammaln(counts + 1)
    np.testing.assert_allclose(got, ref, rtol=1e-9)


# ------------------------------------------------------------- minibatches
@pytest.mark.slow
def test_minibatch_elbo_is_unbiased():
    Z = select_inducing(X, 6, seed=0)
    key = jax.random.PRNGKey(0)
    q_loc = 0.5 * jax.random.normal(key, (6,))
    q_tril = jnp.tril(0.2 * jax.random.normal(jax.random.PRNGKey(1), (6, 6)), -1) + 0.5 * jnp.eye(6)

    def lik(f):
        return dist.Bernoulli(logits=f)

    yb = (Y > 0).astype(float)
    full = float(svgp_elbo(KERNEL, X, yb, lik, Z, q_loc, q_tril))
    b = 5

    @jax.jit
    @jax.vmap
    def batch_elbo(idx):
        return svgp_elbo(KERNEL, jnp.asarray(X)[idx], jnp.asarray(yb)[idx], lik, Z, q_loc, q_tril, num_data=N)

    # exact: the batches of one permutation average to the full ELBO
    perm = np.random.default_rng(0).permutation(N).reshape(-1, b)
    assert abs(float(jnp.mean(batch_elbo(jnp.asarray(perm)))) - full) < 1e-9
    assert float(jnp.std(batch_elbo(jnp.asarray(perm)))) > 0.1  # the batches really differ


@pytest.mark.slow
def test_minibatch_elbo_is_unbiased_over_random_batches():
    Z = select_inducing(X, 6, seed=0)
    q_loc = 0.5 * jax.random.normal(jax.random.PRNGKey(0), (6,))
    q_tril = jnp.tril(0.2 * jax.random.normal(jax.random.PRNGKey(1), (6, 6)), -1) + 0.5 * jnp.eye(6)

    def lik(f):
        return dist.Bernoulli(logits=f)

    yb = (Y > 0).astype(float)
    full = float(svgp_elbo(KERNEL, X, yb, lik, Z, q_loc, q_tril))
    b = 5

    @jax.jit
    @jax.vmap
    def batch_elbo(idx):
        return svgp_elbo(KERNEL, jnp.asarray(X)[idx], jnp.asarray(yb)[idx], lik, Z, q_loc, q_tril, num_data=N)

    # Monte Carlo: independent uniformly drawn batches
    keys = jax.random.split(jax.random.PRNGKey(2), 2000)
    idx = jax.vmap(lambda k: jax.random.choice(k, N, (b,), replace=False))(keys)
    est = np.asarray(batch_elbo(idx))
    se = est.std() / np.sqrt(len(est))
    assert est.std() > 0.1  # the batches really differ
    assert abs(est.mean() - full) < 4 * se


# ------------------------------------------------------------- NumPyro model piece
@pytest.mark.slow
def test_numpyro_piece_trace_elbo_is_unbiased_for_the_svgp_elbo_and_predicts():
    Z = select_inducing(X, 6, seed=0)
    svgp = SVGP("f", Z, gaussian)

    def model(X, y=None, batch_size=None):
        k = Matern32(lengthscale=numpyro.param("ls", 0.7, constraint=POS), variance=1.3)
        return svgp(k, X, y, batch_size=batch_size)

    def guide(X, y=None, batch_size=None):
        svgp.guide()

    q_loc, q_tril = optimal_gaussian_q(KERNEL, X, Y, S2, Z)
    params = {"ls": jnp.asarray(0.7), "f_inducing": jnp.asarray(Z), "f_q_loc": q_loc, "f_q_scale_tril": q_tril}
    target = float(svgp_elbo(KERNEL, X, Y, gaussian, Z, q_loc, q_tril))

    @jax.jit
    def losses(keys):
        return jax.vmap(lambda k: Trace_ELBO().loss(k, params, model, guide, X, Y, batch_size=10))(keys)

    est = -np.asarray(losses(jax.random.split(jax.random.PRNGKey(0), 1000)))
    se = est.std() / np.sqrt(len(est))
    assert abs(est.mean() - target) < 4 * se, (est.mean(), target, se)
    # the closed-form marginals of the fitted q agree with q_marginals; Predictive samples f and y
    m, v = svgp.marginals(KERNEL, X_NEW, params)
    m2, v2 = q_marginals(KERNEL, X_NEW, Z, q_loc, q_tril)
    np.testing.assert_allclose(m, m2)
    np.testing.assert_allclose(v, v2)
    pred = Predictive(model, guide=guide, params=params, num_samples=2000)(jax.random.PRNGKey(1), X_NEW)
    assert pred["f"].shape == (2000, len(X_NEW)) and pred["f_y"].shape == (2000, len(X_NEW))
    assert "f_v" not in pred
    np.testing.assert_allclose(pred["f"].mean(0), m, atol=0.1)
    np.testing.assert_allclose(pred["f"].var(0), v, rtol=0.15, atol=0.02)


# ------------------------------------------------------------- bad input
def test_bad_inputs_raise_value_errors():
    Z = X[:5]
    with pytest.raises(ValueError, match="y"):
        fit_svgp(KERNEL, X, Y[:-1], gaussian, Z, steps=1)
    with pytest.raises(ValueError, match="inducing"):
        fit_svgp(KERNEL, X, Y, gaussian, np.zeros((5, 2)), steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        fit_svgp(KERNEL, X, Y, gaussian, Z, steps=1, batch_size=N + 1)
    with pytest.raises(ValueError, match="natgrad_step"):
        fit_svgp(KERNEL, X, Y, gaussian, Z, steps=1, natgrad_step=2.0)
    with pytest.raises(ValueError, match="numpyro.param"):
        fit_svgp(lambda: RBF(lengthscale=numpyro.sample("ls", dist.LogNormal())), X, Y, gaussian, Z, steps=1)
    with pytest.raises(ValueError, match="q_loc"):
        svgp_elbo(KERNEL, X, Y, gaussian, Z, jnp.zeros(4), jnp.eye(5))
    with pytest.raises(ValueError, match="inducing"):
        SVGP("f", np.zeros((5, 2)), gaussian)(KERNEL, X, Y)


def test_structure_svgp_on_gaussian_process_points_to_the_svgp_model_piece():
    with pytest.raises(ValueError, match="bayeskern.gp.svgp.SVGP"):
        GaussianProcess(KERNEL, X, noise=S2, structure="svgp")


# ------------------------------------------------------------- SVGP against SGPR for M < n
def test_optimal_q_predictions_and_trainer_match_sgpr():
    """Gaussian likelihood, M < n: at the optimal q the SVGP predictive q(f*) is the SGPR posterior."""
    Z = X[1::4]
    sgpr = GaussianProcess(KERNEL, X, noise=S2, structure="sgpr", inducing=Z)
    ref = sgpr.condition(Y, X_NEW)
    q = optimal_gaussian_q(KERNEL, X, Y, S2, Z)
    m, v = q_marginals(KERNEL, X_NEW, Z, *q)
    np.testing.assert_allclose(m, ref.mean, atol=1e-9)
    np.testing.assert_allclose(v, ref.variance, atol=1e-9)


@pytest.mark.slow
def test_trainer_natural_gradient_step_lands_on_the_sgpr_solution():
    """fit_svgp with one full-batch natural-gradient step (γ = 1) lands on the optimal q (Salimbeni et al.
    2018): its ELBO is the SGPR bound and its predictions the SGPR posterior (M < n)."""
    Z = X[1::4]
    sgpr = GaussianProcess(KERNEL, X, noise=S2, structure="sgpr", inducing=Z)
    ref = sgpr.condition(Y, X_NEW)
    q = optimal_gaussian_q(KERNEL, X, Y, S2, Z)
    fit = fit_svgp(KERNEL, X, Y, gaussian, Z, steps=1, natgrad_step=1.0, learn_inducing=False)
    np.testing.assert_allclose(fit.full_elbo(X, Y), float(sgpr.log_prob(Y)), atol=1e-8)
    pred = fit.predict(X_NEW)
    np.testing.assert_allclose(pred.f_mean, ref.mean, atol=1e-8)
    np.testing.assert_allclose(pred.f_var, ref.variance, atol=1e-8)
    np.testing.assert_allclose(fit.q_scale_tril @ fit.q_scale_tril.T, q[1] @ q[1].T, atol=1e-9)


# ------------------------------------------------------------- real data
def _standardised(name):
    from bayeskern.datasets import load_classification

    data = load_classification(name)
    Xd = (data.X - data.X.mean(0)) / data.X.std(0)
    return Xd, data.y.astype(float)


@pytest.mark.slow
def test_breast_cancer_classification_with_minibatches_is_accurate():
    Xd, yd = _standardised("breast_cancer")
    perm = np.random.default_rng(0).permutation(len(yd))
    train, test = perm[:400], perm[400:]

    def kernel():
        return RBF(lengthscale=numpyro.param("ls", 5.0, constraint=POS),
                   variance=numpyro.param("var", 2.0, constraint=POS))

    fit = fit_svgp(kernel, Xd[train], yd[train], lambda f: dist.Bernoulli(logits=f),
                   select_inducing(Xd[train], 20, seed=0), steps=300, batch_size=100, natgrad_step=0.2,
                   optimizer=optax.adam(2e-2))
    assert fit.elbo[-20:].mean() > fit.elbo[:20].mean()
    p = np.asarray(fit.predict(Xd[test]).y_mean)
    accuracy = np.mean((p > 0.5) == (yd[test] == 1))
    # GP classifiers and logistic regression reach ~0.95-0.98 on this set; the majority class is 0.63
    assert accuracy > 0.93, accuracy
    nlpd = -float(np.mean(fit.log_predictive_density(Xd[test], yd[test])))
    assert nlpd < 0.2, nlpd  # far below log 2 = 0.69 (chance)
    bern = -np.mean(yd[test] * np.log(p) + (1 - yd[test]) * np.log1p(-p))
    np.testing.assert_allclose(nlpd, bern, rtol=1e-6)  # lpd of a Bernoulli is log of the predictive probability


@pytest.mark.slow
def test_bernoulli_predictive_probabilities_match_long_nuts_on_a_tiny_problem():
    """Iris (versicolor vs virginica), 2 features, 40 training points, fixed kernel: SVGP with Z = X and a
    converged full-rank q against NUTS on the exact latent GP at training and test inputs jointly."""
    from bayeskern.gp import latent
    from bayeskern.infer import nuts

    Xd, yd = _standardised("iris")
    Xd = Xd[:, 2:]  # petal length and width
    perm = np.random.default_rng(1).permutation(len(yd))
    train, test = perm[:40], perm[40:60]
    k = RBF(lengthscale=1.0, variance=2.0)

    def lik(f):
        return dist.Bernoulli(logits=f)

    fit = fit_svgp(k, Xd[train], yd[train], lik, Xd[train], steps=200, natgrad_step=0.5,
                   learn_inducing=False, jitter=1e-8)
    assert abs(fit.elbo[-1] - fit.elbo[-2]) < 1e-6  # converged
    p_svgp = np.asarray(fit.predict(Xd[test]).y_mean)

    X_all = np.concatenate([Xd[train], Xd[test]])

    def model(y):
        f = latent("f", k, X_all, jitter=1e-8)
        numpyro.sample("y", dist.Bernoulli(logits=f[:40]), obs=y)

    ref = nuts(model, yd[train], num_warmup=1000, num_samples=4000, num_chains=1, progress_bar=False, seed=3)
    f_test = np.asarray(ref.samples["f"])[:, 40:]
    p_nuts = (1.0 / (1.0 + np.exp(-f_test))).mean(0)
    # The KL-optimal Gaussian is accurate for GP classification (Nickisch & Rasmussen 2008): measured max
    # difference 0.003, mean 0.0018, probabilities spanning 0.07-0.92; MC se of p_nuts about 0.003.
    assert p_nuts.min() < 0.2 and p_nuts.max() > 0.8  # test points on both sides, not all saturated
    np.testing.assert_allclose(p_svgp, p_nuts, atol=0.015)
    assert np.mean(np.abs(p_svgp - p_nuts)) < 0.008


# ------------------------------------------------------------- driven by bayeskern.infer.svi
@pytest.mark.slow
def test_numpyro_piece_driven_by_bayeskern_svi_fits_a_classifier():
    from bayeskern.infer import svi

    rng = np.random.default_rng(4)
    Xc = rng.uniform(-3, 3, 200)
    pt = 1.0 / (1.0 + np.exp(-3.0 * np.sin(1.5 * Xc)))
    yc = (rng.uniform(size=200) < pt).astype(float)
    piece = SVGP("g", select_inducing(Xc, 10, seed=0), lambda f: dist.Bernoulli(logits=f))

    def model(X, y=None):
        k = RBF(lengthscale=numpyro.param("g_ls", 1.0, constraint=POS),
                variance=numpyro.param("g_var", 2.0, constraint=POS))
        piece(k, X, y, batch_size=50)

    fit = svi(model, Xc, guide=piece.guide, y=yc, steps=800, num_samples=50, optimizer=optax.adam(3e-2))
    assert fit.losses[-100:].mean() < fit.losses[:100].mean()
    assert "g_v" in fit.samples and fit.samples["g_v"].shape == (50, 10)
    params = fit.params
    k = RBF(lengthscale=params["g_ls"], variance=params["g_var"])
    m, v = piece.marginals(k, Xc, params)
    p = np.asarray(predictive_moments(piece.likelihood, m, v)[0])  # E_q[sigmoid(f)]
    assert np.all((p > 0) & (p < 1))
    accuracy = np.mean((p > 0.5) == (pt > 0.5))  # agreement with the Bayes classifier
    assert accuracy > 0.9, accuracy
