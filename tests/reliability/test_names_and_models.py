"""Issue 15, classes 2 and 4: a fit never predicts with the wrong model, and names that do nothing are refused."""

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayeskern as bk
from bayeskern.gp import GaussianProcess
from bayeskern.infer import Fit, laplace, map_estimate, nuts, svi
from bayeskern.kernels import Matern52

X = np.linspace(0.0, 5.0, 15)
Y = np.sin(X)


def model(X, y=None, X_new=None):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    noise = numpyro.sample("noise", dist.LogNormal(-3.0, 0.5))
    gp = GaussianProcess(Matern52(lengthscale=ls), X, noise=noise)
    numpyro.sample("y", gp, obs=y)
    if X_new is not None:
        numpyro.sample("f_new", gp.condition(y, X_new))  # posterior predictive: allowed to be new


def renamed(X, y=None, X_new=None):
    ls = numpyro.sample("lengthscale", dist.LogNormal(0.0, 0.5))
    noise = numpyro.sample("noise", dist.LogNormal(-3.0, 0.5))
    numpyro.sample("y", GaussianProcess(Matern52(lengthscale=ls), X, noise=noise), obs=y)


def extra_hyper(X, y=None, X_new=None):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    var = numpyro.sample("var", dist.LogNormal(0.0, 0.5))
    noise = numpyro.sample("noise", dist.LogNormal(-3.0, 0.5))
    numpyro.sample("y", GaussianProcess(Matern52(lengthscale=ls, variance=var), X, noise=noise), obs=y)


@pytest.fixture(scope="module")
def fit():
    return map_estimate(model, X, Y)


def test_predict_with_the_fitted_model_allows_posterior_predictive_sites(fit):
    out = fit.predict(model, X, Y, X_new=np.array([1.0, 2.0]))
    assert out["f_new"].shape == (1, 2)
    np.testing.assert_allclose(out["f_new"][0], np.sin([1.0, 2.0]), atol=0.3)


def test_predict_with_a_renamed_model_names_the_sites(fit):
    with pytest.raises(ValueError, match=r"latent sites \['lengthscale'\].*prior_sites"):
        fit.predict(renamed, X, Y)


def test_predict_with_an_extra_hyperparameter_is_refused_unless_asked(fit):
    with pytest.raises(ValueError, match=r"latent sites \['var'\].*prior_sites"):
        fit.predict(extra_hyper, X, None)
    out = fit.predict(extra_hyper, X, None, prior_sites=["var"])
    assert out["var"].shape == (1,)


def test_loaded_fit_refuses_another_model(fit, tmp_path):
    fit.save(tmp_path / "f.nc")
    loaded = Fit.load(tmp_path / "f.nc")
    with pytest.raises(ValueError, match="does not match this fit"):
        loaded.predict(renamed, X, Y)
    assert loaded.predict(model, X, Y, X_new=np.array([1.0]))["f_new"].shape == (1, 1)


@pytest.mark.parametrize("runner", ["map", "laplace", "svi", "nuts", "nuts_list"])
def test_init_with_an_unknown_site_is_refused_with_a_suggestion(runner):
    bad = {"lengthscal": 1.0}
    call = {
        "map": lambda: map_estimate(model, X, Y, init=bad),
        "laplace": lambda: laplace(model, X, Y, init=bad),
        "svi": lambda: svi(model, X, Y, init=bad, steps=5, num_samples=5),
        "nuts": lambda: nuts(model, X, Y, init=bad, num_warmup=5, num_samples=5, num_chains=1),
        "nuts_list": lambda: nuts(model, X, Y, init=[{"ls": 1.0}, bad], num_warmup=5, num_samples=5, num_chains=2),
    }[runner]
    with pytest.raises(ValueError, match=r"init(\[1\])? names site\(s\) the model does not have: 'lengthscal'.*'ls', 'noise'"):
        call()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"structure": "hsgp", "num_bases": 8}, r"'num_bases' is not a setting of any back end \(did you mean 'num_basis'\?\)"),
        ({"structure": "dense", "num_basis": 8}, r"'num_basis' is a setting of structure='hsgp'"),
        ({"num_harmonics": 3}, r"structure='auto' chose 'dense'.*'num_harmonics' is a setting of structure='kalman'"),
        ({"structure": "rff", "num_features": 16, "cg_tol": 1e-6}, r"'cg_tol' is a setting of structure='kronecker'"),
    ],
)
def test_back_end_settings_that_would_do_nothing_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        GaussianProcess(Matern52(), X, noise=0.1, **options)


def test_valid_back_end_settings_are_accepted():
    gp = GaussianProcess(Matern52(), X, noise=0.1, structure="rff", num_features=16, seed=3)
    assert np.isfinite(float(gp.log_prob(Y)))
    assert bk.gp.GaussianProcess(Matern52(), X, noise=0.1, structure="kalman", parallel_scan=False).structure == "kalman"


def test_kronecker_log_density_from_an_unconverged_cg_is_not_finite():
    import jax

    from bayeskern.errors import ConvergenceError, ConvergenceWarning
    from bayeskern.kernels import RBF
    from bayeskern.linalg.cg import reset_convergence_warnings

    g = np.linspace(0.0, 1.0, 12)
    grid = np.array([(a, b) for a in g for b in g])
    keep = np.random.default_rng(0).random(len(grid)) > 0.5  # missing cells
    Xg, yg = grid[keep], np.sin(3 * grid[keep, 0]) * np.cos(2 * grid[keep, 1])

    def gp(maxiter):
        # per-point noise takes the CG mode (no exact eigen or Schur form)
        return GaussianProcess(RBF(lengthscale=0.3), Xg, noise=np.linspace(1e-4, 2e-4, len(Xg)), structure="kronecker",
                               grid=(tuple(g), tuple(g)), cg_maxiter=maxiter)

    assert np.isfinite(float(gp(2000).log_prob(yg)))
    with pytest.raises(ConvergenceError, match="Kronecker grid.*cg_maxiter"):
        gp(2).log_prob(yg)
    reset_convergence_warnings()
    with pytest.warns(ConvergenceWarning, match="structure='kronecker'"):
        traced = jax.jit(lambda y: gp(2).log_prob(y))(yg)
        jax.block_until_ready(traced)
    assert traced == -np.inf


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nuts(model, X, Y, num_warmups=10), r"nuts: keyword\(s\) 'num_warmups' \(did you mean 'num_warmup'\?\)"),
        (lambda: svi(model, X, Y, step=10), r"svi: keyword\(s\) 'step' \(did you mean 'steps'\?\)"),
        (lambda: laplace(model, X, Y, num_sample=10), r"laplace: keyword\(s\) 'num_sample' \(did you mean 'num_samples'\?\)"),
        (lambda: map_estimate(model, X, Y, X, Y), r"map_estimate: the model cannot be called with these arguments"),
    ],
)
def test_misspelt_runner_options_are_refused_before_any_work(call, match):
    with pytest.raises(TypeError, match=match):
        call()
