"""Cox-process covariates: linear terms and offsets on the Laplace path, the GP covariate term, bad input.

References are independent of the library's Laplace code: a dense Newton iteration in NumPy for the
Laplace log marginal, and kernel formulas written out by hand for the Gram matrices.
"""

import jax
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density
from scipy.special import gammaln
from scipy.stats import norm

import bayeskern.cox as cox
from bayeskern.cox.fit import _laplace_intensity
from bayeskern.cox.models import FIELD_JITTER, additive_covariate_kernel, covariate_kernel_sampler
from bayeskern.kernels import RBF, Matern52

WIN = (0.0, 10.0)
N = 20
RNG = np.random.default_rng(11)
Z2 = RNG.standard_normal((N, 2))
OFF = 0.4 * np.sin(np.arange(N) / 3.0)
SPACE = Matern52(lengthscale=2.0, variance=0.7)
COVK = RBF(lengthscale=np.array([0.8, 1.5]), variance=0.3)


def _matern52(x1, x2, ell, var):
    r = np.abs(x1[:, None] - x2[None, :]) / ell
    return var * (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r)


def _rbf_ard(z1, z2, ell, var):
    d2 = (((z1[:, None, :] - z2[None, :, :]) / ell) ** 2).sum(-1)
    return var * np.exp(-0.5 * d2)


def _jittered(K):
    return K + FIELD_JITTER * np.mean(np.diag(K)) * np.eye(K.shape[0])


def _laplace_reference(K, m, y, o, loglik):
    """Dense Newton for log ∫ Π p(y_i | f_i + o_i) N(f; m, K) df by Laplace's method (R&W 2006, eq. 3.32).

    ``loglik(eta) -> (value, first, second derivative)``, each ``(n,)``, in NumPy.
    """
    f = m.copy()
    for _ in range(100):
        _, d1, d2 = loglik(f + o)
        step = np.linalg.solve(np.linalg.inv(K) + np.diag(-d2), d1 - np.linalg.solve(K, f - m))
        f = f + step
        if np.max(np.abs(step)) < 1e-12:
            break
    ll, _, d2 = loglik(f + o)
    sw = np.sqrt(-d2)
    _, logdet = np.linalg.slogdet(np.eye(len(m)) + sw[:, None] * K * sw[None, :])
    return float(np.sum(ll)) - 0.5 * (f - m) @ np.linalg.solve(K, f - m) - 0.5 * logdet


def _masked_grid():
    mask = np.ones(N, bool)
    mask[4:7] = False  # unobserved cells: the dense Laplace field lives on the other 17 only
    events = RNG.uniform(0, 10, 60)
    keep = ~((events >= 2.0) & (events < 3.5))
    return cox.bin_events(events[keep], WIN, N, mask=mask)


@pytest.mark.parametrize("link,gp", [("log", False), ("softplus", False), ("log", True)])
def test_laplace_log_density_with_covariates_matches_dense_reference(link, gp):
    grid, counts = _masked_grid()
    idx = grid.observed
    assert len(idx) == N - 3
    mu, beta = 0.3, np.array([0.5, -0.2])
    kw = dict(kernel=SPACE, link=link, base_rate=2.0, covariates=Z2, offset=OFF, structure="dense")
    if gp:
        kw["covariate_kernel"] = COVK
    lp, tr = log_density(cox.laplace_grid_model, (grid, counts), kw, {"f_mean": mu, "f_beta": beta})

    s = grid.centres[idx, 0]
    K = _matern52(s, s, 2.0, 0.7) + (_rbf_ard(Z2[idx], Z2[idx], np.array([0.8, 1.5]), 0.3) if gp else 0.0)
    K = _jittered(K)
    m = mu + Z2[idx] @ beta
    y = np.asarray(counts, float)[idx]
    e = grid.exposure[idx]
    if link == "log":
        o = np.log(e) + OFF[idx]

        def loglik(eta):
            lam = np.exp(eta)
            return y * eta - lam - gammaln(y + 1), y - lam, -lam

        prior_mu = norm.logpdf(mu, np.log(2.0), 2.0)
    else:
        o = OFF[idx]

        def loglik(eta):
            sp, sg = np.logaddexp(0.0, eta), 1.0 / (1.0 + np.exp(-eta))  # softplus and its derivative
            d1 = (y / sp - e) * sg
            d2 = -y * sg**2 / sp**2 + (y / sp - e) * sg * (1.0 - sg)
            return y * np.log(e * sp) - e * sp - gammaln(y + 1), d1, d2

        centre = float(cox.get_link("softplus").inverse(2.0))
        prior_mu = norm.logpdf(mu, centre, max(1.0, abs(centre)))
    ref_site = _laplace_reference(K, m, y, o, loglik)
    site = float(tr["counts"]["fn"].log_prob(tr["counts"]["value"]))
    assert abs(site - ref_site) < 1e-6, (site, ref_site)
    ref = ref_site + prior_mu + norm.logpdf(beta).sum()
    assert abs(float(lp) - ref) < 1e-6, (float(lp), ref)


@pytest.mark.parametrize("field", ["kronecker", "hsgp"])
def test_laplace_structured_fields_take_mean_and_offset_per_cell(field):
    # Kronecker and HSGP fields: the marginal's prior mean is μ + Zβ and its offset log(exposure) + offset,
    # on every cell (Kronecker) or the observed cells (HSGP).
    grid, counts = _masked_grid()
    idx = np.arange(N) if field == "kronecker" else grid.observed
    mu, beta = -0.1, np.array([0.2, 0.7])

    def model():
        cox.laplace_grid_model(grid, counts, kernel=RBF(lengthscale=2.0), covariates=Z2, offset=OFF, structure=field)

    tr = handlers.trace(handlers.substitute(handlers.seed(model, 0), {"f_mean": mu, "f_beta": beta})).get_trace()
    d = tr["counts"]["fn"]
    np.testing.assert_allclose(np.asarray(d.loc), mu + Z2[idx] @ beta, rtol=1e-12)
    logexpo = np.log(np.where(grid.exposure[idx] > 0, grid.exposure[idx], 1.0))
    np.testing.assert_allclose(np.asarray(d.offset), logexpo + OFF[idx], rtol=1e-12)


def test_additive_covariate_kernel_gram_matches_hand_built():
    rng = np.random.default_rng(3)
    S1, S2 = rng.uniform(0, 5, (7, 2)), rng.uniform(0, 5, (4, 2))
    Zc1, Zc2 = rng.standard_normal((7, 2)), rng.standard_normal((4, 2))
    k = additive_covariate_kernel(Matern52(lengthscale=1.3, variance=0.8), COVK, dim=2)
    X1, X2 = np.hstack([S1, Zc1]), np.hstack([S2, Zc2])

    def m52(a, b):
        r = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)) / 1.3
        return 0.8 * (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r)

    ell = np.array([0.8, 1.5])
    np.testing.assert_allclose(np.asarray(k(X1)), m52(S1, S1) + _rbf_ard(Zc1, Zc1, ell, 0.3), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(k(X1, X2)), m52(S1, S2) + _rbf_ard(Zc1, Zc2, ell, 0.3), rtol=1e-12)
    # A covariate kernel's own active_dims index the covariate columns, not the augmented inputs.
    k1 = additive_covariate_kernel(Matern52(lengthscale=1.3, variance=0.8), RBF(lengthscale=0.5, active_dims=[1]), 2)
    ref = m52(S1, S1) + _rbf_ard(Zc1[:, 1:], Zc1[:, 1:], np.array([0.5]), 1.0)
    np.testing.assert_allclose(np.asarray(k1(X1)), ref, rtol=1e-12)


def test_nuts_field_with_covariate_kernel_is_the_additive_gp():
    # intensity_field (NUTS/SVI path): f = chol(K_space(s) + K_cov(z)) z_white on every cell, and
    # log λ = μ + f + Zβ + offset.
    grid, counts = _masked_grid()
    rng = np.random.default_rng(0)
    white, mu, beta = rng.standard_normal(N), 0.2, np.array([0.3, -0.6])

    def model():
        cox.cox_grid_model(grid, counts, kernel=SPACE, covariates=Z2, offset=OFF, covariate_kernel=COVK)

    data = {"f_z": white, "f_mean": mu, "f_beta": beta}
    tr = handlers.trace(handlers.substitute(handlers.seed(model, 0), data)).get_trace()
    s = grid.centres[:, 0]
    K = _jittered(_matern52(s, s, 2.0, 0.7) + _rbf_ard(Z2, Z2, np.array([0.8, 1.5]), 0.3))
    f = np.linalg.cholesky(K) @ white
    np.testing.assert_allclose(np.asarray(tr["f"]["value"]), f, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(tr["f_intensity"]["value"]), np.exp(mu + f + Z2 @ beta + OFF), rtol=1e-8)


def test_covariate_kernel_class_samples_prefixed_sites():
    grid, counts = _masked_grid()

    def model():
        cox.cox_grid_model(grid, counts, kernel=SPACE, covariates=Z2, covariate_kernel=Matern52, name="g")

    tr = handlers.trace(handlers.seed(model, 1)).get_trace()
    assert {"g_cov_lengthscale", "g_cov_variance", "g_beta", "g_mean", "g_z"} <= set(tr)


def test_laplace_model_with_traced_covariates_matches_eager():
    # Replays of the model (latent draws, pointwise log likelihood) trace the array arguments: the covariates
    # then arrive as tracers, so a kernel class must come pre-resolved by covariate_kernel_sampler.
    grid, counts = _masked_grid()
    sampler = covariate_kernel_sampler(RBF, Z2)
    data = {"f_mean": 0.3, "f_beta": np.array([0.5, -0.2]), "f_cov_lengthscale": 1.1, "f_cov_variance": 0.4}

    def logp(Z, off, ck):
        kw = dict(kernel=SPACE, covariates=Z, offset=off, covariate_kernel=ck)
        return log_density(cox.laplace_grid_model, (grid, counts), kw, data)[0]

    eager = float(logp(Z2, OFF, RBF))
    assert abs(float(jax.jit(lambda Z, off: logp(Z, off, sampler))(Z2, OFF)) - eager) < 1e-8
    with pytest.raises(ValueError, match="covariate_kernel_sampler"):
        jax.jit(lambda Z: logp(Z, OFF, RBF))(Z2)


def test_laplace_intensity_adds_the_offset_back():
    grid, _ = _masked_grid()
    f = RNG.standard_normal((3, len(grid.observed)))
    lam = _laplace_intensity(None, f, grid, "log", "log", None, "f", OFF)
    np.testing.assert_allclose(lam[:, grid.observed], np.exp(f + OFF[grid.observed]), rtol=1e-12)
    assert np.all(np.isnan(lam[:, 4:7]))


@pytest.mark.slow
def test_fit_laplace_with_covariates_end_to_end():
    # Short chains: checks the wiring (covariates traced in the latent-draw replay, offset added back to the
    # intensity), not the posterior.
    grid, _ = _masked_grid()
    events = RNG.uniform(0, 10, 50)
    fit = cox.fit(events, WIN, shape=N, method="laplace", kernel=SPACE, covariates=Z2, offset=OFF,
                  covariate_kernel=RBF, num_warmup=20, num_samples=10, num_chains=1)
    s = fit.samples
    assert s["f_beta"].shape == (10, 2) and s["f_cov_lengthscale"].shape == (10,)
    lam = fit.cell_intensity
    np.testing.assert_allclose(lam, np.exp(np.asarray(s["f"]) + OFF[None, :]), rtol=1e-10)
    assert np.all(np.isfinite(lam))


@pytest.mark.parametrize("method", ["laplace", "nuts"])
def test_bad_covariate_input_names_the_argument(method):
    events = RNG.uniform(0, 10, 30)
    kw = dict(shape=N, method=method, num_warmup=5, num_samples=5, num_chains=1)
    with pytest.raises(ValueError, match="covariates"):
        cox.fit(events, WIN, covariates=Z2[:-1], **kw)
    bad = Z2.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="covariates"):
        cox.fit(events, WIN, covariates=bad, **kw)
    with pytest.raises(ValueError, match="offset"):
        cox.fit(events, WIN, offset=OFF[:-2], **kw)
    with pytest.raises(ValueError, match="offset"):
        cox.fit(events, WIN, offset=np.full(N, np.inf), **kw)
    with pytest.raises(ValueError, match="covariate_kernel"):
        cox.fit(events, WIN, covariate_kernel=RBF, **kw)
    for field in ("kronecker", "hsgp"):
        with pytest.raises(ValueError, match="covariate_kernel"):
            cox.fit(events, WIN, covariates=Z2, covariate_kernel=RBF, structure=field, **kw)
    pts = RNG.uniform(0, 1, (30, 2))  # 2-D: the default field is Kronecker
    with pytest.raises(ValueError, match="covariate_kernel"):
        cox.fit(pts, ((0, 1), (0, 1)), shape=(4, 4), method=method, covariates=np.zeros(16), covariate_kernel=RBF)


def test_model_functions_check_covariates():
    grid, counts = _masked_grid()

    def run(fn, **kw):
        handlers.trace(handlers.seed(lambda: fn(grid, counts, kernel=SPACE, **kw), 0)).get_trace()

    with pytest.raises(ValueError, match="covariates"):
        run(cox.laplace_grid_model, covariates=np.zeros((N + 1, 1)))
    with pytest.raises(ValueError, match="covariate_kernel"):
        run(cox.laplace_grid_model, covariates=Z2, covariate_kernel=COVK, structure="kronecker")
    with pytest.raises(ValueError, match="covariates"):
        run(cox.cox_grid_model, covariates=np.full((N, 1), np.nan))
    with pytest.raises(ValueError, match="covariate_kernel"):
        run(cox.cox_grid_model, covariates=Z2, covariate_kernel=COVK, structure="hsgp")


@pytest.mark.slow
def test_simulated_covariate_effect_is_recovered():
    # λ(s) = exp(a + b z(s) + offset(s) + f(s)) on 80 cells of [0, 20]; z varies faster than the field, so
    # b is identified. The 99% posterior interval of b must cover the truth, for Laplace and NUTS.
    rng = np.random.default_rng(2024)
    m, a, b = 80, np.log(6.0), 0.6
    grid = cox.make_grid((0.0, 20.0), m)
    s = grid.centres[:, 0]
    z = np.sin(2.3 * s) + 0.5 * np.cos(5.1 * s)
    z = (z - z.mean()) / z.std()
    off = 0.3 * np.cos(s / 3.0)
    K = _jittered(_matern52(s, s, 4.0, 0.2))
    f = np.linalg.cholesky(K) @ rng.standard_normal(m)
    counts = rng.poisson(np.exp(a + b * z + off + f) * grid.exposure)
    width = 20.0 / m
    events = np.concatenate([rng.uniform(lo, lo + width, c) for lo, c in zip(s - width / 2, counts, strict=True)])
    out = {}
    for method in ("laplace", "nuts"):
        fit = cox.fit(events, (0.0, 20.0), shape=m, method=method, covariates=z, offset=off, num_warmup=300,
                      num_samples=300, num_chains=1, seed=1)
        bs = np.asarray(fit.samples["f_beta"])[:, 0]
        lo, hi = np.quantile(bs, [0.005, 0.995])
        out[method] = (bs.mean(), bs.std(), lo, hi)
        assert lo < b < hi, (method, out[method])
        assert bs.std() < 0.2, (method, out[method])
    # The two inferences agree on b to within a fraction of its posterior sd.
    assert abs(out["laplace"][0] - out["nuts"][0]) < 0.5 * out["nuts"][1], out
