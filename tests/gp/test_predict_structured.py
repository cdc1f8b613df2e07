"""Laplace prediction for HSGP and Kronecker laplace_marginal sites.

HSGP: against an independent NumPy reference (the basis and Matérn-3/2 spectral density written out,
R&W Alg. 3.1 Newton on ``K = B Bᵀ`` and the dense predictive with ``k* = B B*ᵀ``). Kronecker: against
``predict_latent`` of the same model with ``structure="dense"`` (shuffled rows, masked cells, a Poisson
and a Student-t likelihood, the latter with ``W < 0``).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers

import bayeskern  # noqa: F401
from bayeskern.features.hsgp import HSGPBoundaryWarning
from bayeskern.gp.laplace.distributions import (
    KroneckerLaplaceMarginal,
    LowRankLaplaceMarginal,
)
from bayeskern.gp.laplace.draws import sample_latent
from bayeskern.gp.laplace.marginal import laplace_marginal
from bayeskern.gp.laplace.predict import predict_latent
from bayeskern.infer import Fit
from bayeskern.kernels import RBF, Matern32

# -- HSGP ---------------------------------------------------------------------------------------
N, M, C_BOX = 20, 24, 1.5
RNG = np.random.default_rng(3)
X = np.sort(RNG.uniform(0.0, 6.0, N))
X_NEW = np.array([-0.7, 0.3, X[4], 2.5, 4.1, 6.3, 6.9])  # inside the box [-0.79, 7.04]; one is a training input
Y = RNG.poisson(np.exp(np.sin(X) + 0.5)).astype(float)
DRAWS = {"ls": np.array([[1.2, 0.7]]), "var": np.array([[0.8, 1.5]]), "b": np.array([[0.3, -0.2]])}


def kernel_of(v):
    return Matern32(lengthscale=v["ls"], variance=v["var"])


def hsgp_model(x, y):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    var = numpyro.sample("var", dist.LogNormal(0.0, 0.5))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    laplace_marginal("f", Matern32(lengthscale=ls, variance=var), x, lambda f: dist.Poisson(jnp.exp(f)), y,
                     mean=b, structure="hsgp", num_basis=M, boundary_factor=C_BOX)


@pytest.fixture(scope="module")
def hsgp_fit():
    return Fit(DRAWS, method="nuts", model=hsgp_model, model_args=(X, Y))


def np_basis(x, ls, var):
    """Φ(x) diag(√S) with the Dirichlet eigenfunctions and the 1-D Matérn-3/2 spectral density, by hand."""
    c = 0.5 * (X.min() + X.max())
    L = C_BOX * max(X.max() - c, c - X.min())
    j = np.arange(1, M + 1)
    phi = np.sin(np.pi * j[None, :] * (x[:, None] - c + L) / (2 * L)) / np.sqrt(L)
    lam, omega = np.sqrt(3.0) / ls, np.pi * j / (2 * L)
    S = 4.0 * var * lam**3 / (lam**2 + omega**2) ** 2  # R&W eq. 4.15, ν = 3/2, D = 1, angular frequency
    return phi * np.sqrt(S)[None, :]


def np_laplace_predict(B, Bs, y, b):
    """R&W Alg. 3.1 (Newton without K⁻¹, so K = B Bᵀ may be singular) and Alg. 3.2's predictive."""
    K = B @ B.T
    g = np.zeros(len(y))  # f - b
    for _ in range(100):
        f = b + g
        W, grad = np.exp(f), y - np.exp(f)
        sw = np.sqrt(W)
        Bm = np.eye(len(y)) + sw[:, None] * K * sw[None, :]
        v = W * g + grad
        a = v - sw * np.linalg.solve(Bm, sw * (K @ v))
        g_new = K @ a
        step = np.max(np.abs(g_new - g))
        g = g_new
        if step < 1e-13:
            break
    assert step < 1e-13
    f = b + g
    W, grad = np.exp(f), y - np.exp(f)
    ks = B @ Bs.T
    mean = b + ks.T @ grad
    var = np.sum(Bs * Bs, axis=1) - np.einsum("ij,ij->j", ks, np.linalg.solve(K + np.diag(1.0 / W), ks))
    return mean, var


def test_hsgp_matches_dense_reference(hsgp_fit):
    pred = predict_latent(hsgp_fit, "f", X_NEW)  # no kernel or X needed
    assert pred.mean.shape == pred.var.shape == (2, X_NEW.size)
    site = handlers.trace(handlers.substitute(handlers.seed(hsgp_model, 0), data={k: v[0, 0] for k, v in
                                                                                  DRAWS.items()})).get_trace(X, Y)
    np.testing.assert_allclose(site["f_y"]["fn"].basis, np_basis(X, 1.2, 0.8), rtol=1e-12, atol=1e-14)
    for s in range(2):
        ls, var, b = (DRAWS[k][0, s] for k in ("ls", "var", "b"))
        mu, v = np_laplace_predict(np_basis(X, ls, var), np_basis(X_NEW, ls, var), Y, b)
        # Newton stops at a whitened gradient of 1e-9 (relative), usually far below after the last step.
        np.testing.assert_allclose(pred.mean[s], mu, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(pred.var[s], v, rtol=1e-8, atol=1e-10)
    # With the optional kernel and X the result is the same (they are only checked).
    again = predict_latent(hsgp_fit, "f", X_NEW, X=X, kernel=kernel_of, batch_size=1)
    np.testing.assert_allclose(again.mean, pred.mean, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(again.var, pred.var, rtol=1e-12, atol=1e-14)


def test_hsgp_checks_and_boundary_warning(hsgp_fit):
    with pytest.raises(ValueError, match="kernel: its HSGP spectral weights"):
        predict_latent(hsgp_fit, "f", X_NEW, kernel=lambda v: Matern32(lengthscale=2 * v["ls"], variance=v["var"]))
    with pytest.raises(ValueError, match="X: the HSGP basis"):
        predict_latent(hsgp_fit, "f", X_NEW, X=X[::-1])
    with pytest.raises(ValueError, match="X must be the 20"):
        predict_latent(hsgp_fit, "f", X_NEW, X=X[:-1])
    with pytest.raises(ValueError, match="X_new must have 1 input"):
        predict_latent(hsgp_fit, "f", np.ones((3, 2)))
    with pytest.warns(HSGPBoundaryWarning):
        predict_latent(hsgp_fit, "f", np.array([1.0, 8.0]))


def test_hsgp_site_is_a_pytree_under_jit_and_vmap():
    def site(ls):
        return handlers.seed(laplace_marginal, 0)("f", Matern32(lengthscale=ls), X, lambda f: dist.Poisson(
            jnp.exp(f)), Y, structure="hsgp", num_basis=M)

    d = site(0.9)
    assert d.hsgp_basis is not None and d.sqrt_weights.shape == (M,)
    d2 = jax.tree_util.tree_unflatten(*reversed(jax.tree_util.tree_flatten(d)))
    assert d2.hsgp_basis.num_basis == (M,)
    y = jnp.asarray(Y)
    lp = jax.jit(lambda dd: dd.log_prob(y))(d)
    batch = jax.vmap(site)(jnp.array([0.6, 0.9]))  # sites built under vmap: batched leaves, basis included
    assert batch.sqrt_weights.shape == (2, M) and batch.hsgp_basis.center.shape == (2, 1)
    lps = jax.jit(jax.vmap(lambda dd: dd.log_prob(y)))(batch)
    np.testing.assert_allclose(lps[1], lp, rtol=1e-10)
    assert np.isfinite(lps[0]) and lps[0] != lps[1]


# -- Kronecker --------------------------------------------------------------------------------------
G1, G2 = np.linspace(0.0, 1.0, 7), np.linspace(0.0, 1.2, 6)
GRID = np.stack([g.ravel() for g in np.meshgrid(G1, G2, indexing="ij")], axis=1)
PERM = np.random.default_rng(4).permutation(len(GRID))
XG = GRID[PERM]  # rows shuffled: the site's cells are a non-trivial permutation
FG = np.sin(3 * XG[:, 0]) * np.cos(2 * XG[:, 1])
YG = np.random.default_rng(5).poisson(np.exp(FG + 0.7)).astype(float)
YT = FG + 0.15 * np.random.default_rng(6).standard_normal(len(XG))
YT[[3, 17]] += np.array([2.5, -2.0])  # outliers: W < 0 there under the Student-t likelihood
MASK = np.ones(len(XG), dtype=bool)
MASK[[5, 30]] = False  # masked cells: W = 0
XG_NEW = np.array([[0.05, 0.1], [0.5, 0.6], XG[5], XG[3], [0.93, 1.25], [6.0, -5.0]])  # XG[5] masked, XG[3] outlier
GDRAWS = {"ls": np.array([[0.35, 0.5]]), "var": np.array([[0.8, 1.5]]), "b": np.array([[0.3, -0.2]])}
GLIK = {"poisson": lambda f: dist.Poisson(jnp.exp(f)), "student": lambda f: dist.StudentT(4.0, f, 0.15)}


def grid_kernel(v):
    return RBF(lengthscale=v["ls"], variance=v["var"])


def grid_model(x, y, method, kind="poisson", mask=None):
    ls = numpyro.sample("ls", dist.LogNormal(-1.0, 0.5))
    var = numpyro.sample("var", dist.LogNormal(0.0, 0.5))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    lik = GLIK[kind]
    if mask is not None:
        def lik(f, base=GLIK[kind]):
            return base(f).mask(mask)
    laplace_marginal("f", RBF(lengthscale=ls, variance=var), x, lik, y, mean=b, structure=method, jitter=1e-10)


def grid_fit(method, kind="poisson", mask=None):
    y = YG if kind == "poisson" else YT
    kw = {} if mask is None else {"mask": jnp.asarray(mask)}
    return Fit(GDRAWS, method="nuts", model=grid_model, model_args=(XG, y, method, kind), model_kwargs=kw)


@pytest.mark.parametrize("kind, mask", [("poisson", MASK), ("student", None)])
def test_kronecker_matches_dense(kind, mask):
    fk = grid_fit("kronecker", kind, mask)
    tr = handlers.trace(handlers.substitute(handlers.seed(grid_model, 0), data={k: v[0, 0] for k, v in
                                                                                GDRAWS.items()}))
    site = tr.get_trace(*fk.model_args, **fk.model_kwargs)["f_y"]["fn"]
    assert isinstance(site, KroneckerLaplaceMarginal) and site.cells is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no non-convergence warning
        pk = predict_latent(fk, "f", XG_NEW, X=XG, kernel=grid_kernel)
    pd = predict_latent(grid_fit("dense", kind, mask), "f", XG_NEW, X=XG, kernel=grid_kernel)
    # The means differ by the two Newton modes' tolerances (whitened gradients ~1e-8 at both: the Kronecker
    # floor is tol = 1e-8), measured 3e-8; the variances by the CG tolerance cg_tol = 1e-10 (error <= 1e-10 k**
    # for W >= 0) and per-axis vs full-matrix jitter (1e-10), measured 5e-10 (Poisson) and 2e-8 relative
    # (Student-t, which has no such bound).
    np.testing.assert_allclose(pk.mean, pd.mean, rtol=0, atol=2e-7)
    np.testing.assert_allclose(pk.var, pd.var, rtol=1e-7, atol=1e-9)
    if kind == "student":
        # At a training input the predictive mean is the mode f̂_i; a Student-t residual beyond √ν s = 0.3
        # makes W_i < 0 there, so the non-log-concave case is really exercised.
        assert np.all(np.abs(YT[3] - pk.mean[:, 3]) > 0.3)
    # far from the grid the prior N(b, var) comes back
    np.testing.assert_allclose(pk.mean[:, -1], GDRAWS["b"][0], atol=1e-8)
    np.testing.assert_allclose(pk.var[:, -1], GDRAWS["var"][0], rtol=1e-8)


def test_sample_latent_on_a_kronecker_site_with_x_as_a_model_argument():
    # The grid is found from concrete X, so the replay must not trace the model's arguments.
    fk = grid_fit("kronecker", "poisson", MASK)
    f = sample_latent(fk, "f", seed=3)
    assert f.shape == (2, len(XG)) and np.all(np.isfinite(f))
    # The draws are around the Laplace mode, which predict_latent returns at the training inputs.
    pk = predict_latent(fk, "f", XG, X=XG, kernel=grid_kernel)
    z = (f - pk.mean) / np.sqrt(pk.var)
    assert np.all(np.abs(z) < 6) and 0.5 < np.std(z) < 1.6


def test_kronecker_checks_x_and_kernel():
    fk = grid_fit("kronecker", "poisson")
    with pytest.raises(ValueError, match="X: its rows are not the grid cells"):
        predict_latent(fk, "f", XG_NEW, X=GRID, kernel=grid_kernel)  # grid order, not the model's row order
    with pytest.raises(ValueError, match="kernel: kernel"):
        predict_latent(fk, "f", XG_NEW, X=XG, kernel=lambda v: RBF(lengthscale=1.1 * v["ls"], variance=v["var"]))
    with pytest.raises(ValueError, match="X must be the 42"):
        predict_latent(fk, "f", XG_NEW, X=XG[:-1], kernel=grid_kernel)
    with pytest.raises(ValueError, match="kernel and X are required for a kronecker"):
        predict_latent(fk, "f", XG_NEW, kernel=grid_kernel)


# -- bad input ----------------------------------------------------------------------------------------
def dense_model(x, y):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    laplace_marginal("f", Matern32(lengthscale=ls), x, lambda f: dist.Poisson(jnp.exp(f)), y, structure="dense")


def user_lowrank_model(x, y):
    ls = numpyro.sample("ls", dist.LogNormal(0.0, 0.5))
    B = jnp.cos(jnp.asarray(x)[:, None] * jnp.arange(1, 6)[None, :] / ls)  # a user-given basis (n, 5)
    numpyro.sample("f_y", LowRankLaplaceMarginal(lambda f: dist.Poisson(jnp.exp(f)), B, jnp.zeros(len(x))), obs=y)


def test_bad_input():
    draws = {"ls": np.array([[1.0, 1.3]])}
    dense = Fit(draws, method="nuts", model=dense_model, model_args=(X, Y))
    with pytest.raises(ValueError, match="kernel and X are required for a dense"):
        predict_latent(dense, "f", X_NEW, X=X)
    with pytest.raises(ValueError, match="kernel and X are required for a dense"):
        predict_latent(dense, "f", X_NEW, kernel=kernel_of)
    user = Fit(draws, method="nuts", model=user_lowrank_model, model_args=(X, Y))
    with pytest.raises(ValueError, match="no stored HSGP basis"):
        predict_latent(user, "f", X_NEW)
    with pytest.raises(ValueError, match="given together"):
        LowRankLaplaceMarginal(lambda f: dist.Poisson(jnp.exp(f)), jnp.ones((N, 3)), jnp.zeros(N),
                               sqrt_weights=jnp.ones(3))
