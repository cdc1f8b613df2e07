"""``structure="kronecker"`` (GP on a Cartesian grid) against the dense back end.

Full grids (exact): log_prob and its gradient w.r.t. every hyperparameter and
the noise, LOO, conditioning (whole function and a component), prior samples.
Grids with missing cells: exact with few missing cells (Schur complement);
with many, the quadratic form is exact (CG) and the log-determinant is an
upper bound whose error is measured here. Bad inputs and non-separable
kernels raise ``ValueError`` naming why.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (enables float64)
from bayeskern.gp import GaussianProcess
from bayeskern.gp.backends import BackendNote
from bayeskern.gp.backends.kronecker import is_exact
from bayeskern.gp.backends.kronecker_factors import factor_kernel
from bayeskern.gp.backends.kronecker_grid import grid_axes
from bayeskern.gp.backends.kronecker_predict import KroneckerConditioned
from bayeskern.kernels import RBF, Constant, Matern32, Matern52, Periodic, White
from bayeskern.linalg.grid import grid_points

RNG = np.random.default_rng(0)
AX2 = (np.linspace(0.0, 3.0, 6), np.linspace(-1.0, 1.0, 5))  # 6 x 5
AX3 = (np.array([0.0, 1.2]), np.array([0.0, 0.7, 1.5]), np.linspace(-1.0, 1.0, 5))  # 2 x 3 x 5
RTOL = 1e-6


def _shuffled(axes, seed=1):
    G = grid_points(axes)
    return G[np.random.default_rng(seed).permutation(len(G))]


X2 = _shuffled(AX2)
X3 = _shuffled(AX3)
Y2 = np.sin(X2[:, 0]) * np.cos(2 * X2[:, 1]) + 0.1 * RNG.normal(size=len(X2))
Y3 = np.sin(X3[:, 0]) + X3[:, 1] * X3[:, 2] + 0.1 * RNG.normal(size=len(X3))


def k2(th):
    """Scaled product of per-axis kernels: θ = (ℓ0, ℓ1, scale)."""
    return th[2] * (Matern32(lengthscale=th[0], active_dims=[0]) * RBF(lengthscale=th[1], active_dims=[1]))


def k3(th):
    """RBF with ARD lengthscales over three axes (separable), θ = (ℓ0, ℓ1, ℓ2, variance)."""
    return RBF(lengthscale=th[:3], variance=th[3])


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


class _Ref:
    """Dense NumPy reference with the dense back end's jitter (1e-10 x mean diagonal of K_y)."""

    def __init__(self, kernel, X, noise, y, mean=0.0):
        n = len(X)
        Ky = np.asarray(kernel(X)) + np.diag(np.broadcast_to(noise, (n,)))
        Ky = Ky + 1e-10 * np.mean(np.diag(Ky)) * np.eye(n)
        self.kernel, self.X, self.noise, self.mean = kernel, X, noise, mean
        self.Kinv = np.linalg.inv(Ky)
        self.alpha = self.Kinv @ (y - mean)
        self.quad = float((y - mean) @ self.alpha)
        self.logdet = float(np.linalg.slogdet(Ky)[1])
        self.log_prob = -0.5 * self.quad - 0.5 * self.logdet - 0.5 * n * np.log(2 * np.pi)

    def loo(self):
        d = np.diag(self.Kinv)
        return -0.5 * (np.log(2 * np.pi / d) + self.alpha**2 / d)

    def at(self, Xs, kernel=None, include_noise=False):
        k = self.kernel if kernel is None else kernel
        Ks = np.asarray(k(self.X, Xs))
        mean = Ks.T @ self.alpha + (0.0 if kernel is not None else self.mean)
        cov = np.asarray(k(Xs)) - Ks.T @ self.Kinv @ Ks
        if include_noise:
            cov = cov + self.noise * np.eye(len(Xs))
        return mean, cov


def _split_log_prob(gp, y):
    """(quadratic form, log-determinant) of a Gaussian log_prob, from its values at y and at the mean."""
    n = len(y)
    at_mean = float(gp.log_prob(np.asarray(gp.mean)))
    return -2.0 * (float(gp.log_prob(y)) - at_mean), -2.0 * at_mean - n * np.log(2 * np.pi)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _vg(kernel_fn, method, opts, X, y, th):
    def f(p):
        return GaussianProcess(kernel_fn(p[:-1]), X, noise=p[-1], structure=method, **dict(opts)).log_prob(y)

    return jax.value_and_grad(f)(th)


def _lp_and_grad(kernel_fn, X, y, th, method, **opts):
    """``log_prob`` and its gradient w.r.t. (hyperparameters..., noise), jitted (X traced: grid= needed)."""
    return _vg(kernel_fn, method, tuple(sorted(opts.items())), jnp.asarray(X), jnp.asarray(y), jnp.asarray(th))


# -- full grids: exact ----------------------------------------------------------------
@pytest.mark.parametrize(
    "kernel_fn, X, y, th",
    [(k2, X2, Y2, [0.7, 0.5, 1.3, 0.05]), (k3, X3, Y3, [0.8, 1.1, 0.6, 1.5, 0.1])],
    ids=["6x5_product", "2x3x5_rbf_ard"],
)
def test_log_prob_and_gradient_match_dense(kernel_fn, X, y, th):
    gp = GaussianProcess(kernel_fn(jnp.asarray(th[:-1])), X, noise=th[-1], structure="kronecker")
    assert gp.structure == "kronecker"
    v_k, g_k = _lp_and_grad(kernel_fn, X, y, th, "kronecker", grid=grid_axes(X))
    v_d, g_d = _lp_and_grad(kernel_fn, X, y, th, "dense")
    assert abs(float(v_k - v_d)) < RTOL * abs(float(v_d))
    assert _rel(g_k, g_d) < RTOL  # every hyperparameter and the noise
    # grid found from X itself; batched values
    Yb = np.stack([y, 2 * y])
    np.testing.assert_allclose(gp.log_prob(Yb), [gp.log_prob(y), gp.log_prob(2 * y)], rtol=1e-12)
    assert abs(float(gp.log_prob(y) - v_d)) < RTOL * abs(float(v_d))


def test_periodic_grid_with_paired_eigenvalues_has_dense_gradient():
    """A whole-period periodic axis gives a circulant factor with repeated eigenvalues."""
    X = _shuffled((np.arange(6) / 6.0, np.linspace(0, 1, 5)))
    y = np.cos(2 * np.pi * X[:, 0]) + X[:, 1]

    def kf(p):
        return Periodic(lengthscale=p[0], period=1.0, active_dims=[0]) * RBF(lengthscale=p[1], active_dims=[1])

    th = [0.8, 0.7, 0.05]
    v_k, g_k = _lp_and_grad(kf, X, y, th, "kronecker", grid=grid_axes(X))
    v_d, g_d = _lp_and_grad(kf, X, y, th, "dense")
    assert np.all(np.isfinite(np.asarray(g_k)))
    assert abs(float(v_k - v_d)) < RTOL * abs(float(v_d)) and _rel(g_k, g_d) < RTOL


def test_loo_matches_dense():
    gp_k = GaussianProcess(k2([0.7, 0.5, 1.3]), X2, noise=0.05, mean=0.2, structure="kronecker")
    ref = _Ref(k2([0.7, 0.5, 1.3]), X2, 0.05, Y2, mean=0.2)
    np.testing.assert_allclose(gp_k.pointwise_log_prob(Y2), ref.loo(), rtol=1e-8)


XS = np.array([[0.3, 0.2], [1.7, -0.9], [3.4, 0.5], [0.6, 0.75]])  # off-grid, one outside


def _compare_posteriors(pk, ref, tol=1e-8):
    mean, cov = ref
    np.testing.assert_allclose(pk.mean, mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(pk.variance, np.maximum(np.diag(cov), 0.0), rtol=tol, atol=tol)
    np.testing.assert_allclose(pk.covariance_matrix, cov, rtol=tol, atol=tol)


def test_condition_matches_dense_whole_function_and_component():
    kx = Matern32(lengthscale=0.7, active_dims=[0])
    ky = RBF(lengthscale=0.5, active_dims=[1])
    kernel = 1.3 * (kx * ky)
    post_k = GaussianProcess(kernel, X2, noise=0.05, structure="kronecker").condition(Y2)
    ref = _Ref(kernel, X2, 0.05, Y2)
    pk = post_k.at(XS)
    assert isinstance(pk, KroneckerConditioned) and pk.event_shape == (4,)
    _compare_posteriors(pk, ref.at(XS))
    _compare_posteriors(post_k.at(XS, include_noise=True), ref.at(XS, include_noise=True))
    # component kernels, as in the dense back end: one that factors and one that does not
    for comp in (0.5 * kernel, Matern52(lengthscale=[0.7, 0.5], variance=0.3)):
        _compare_posteriors(post_k.at(XS, kernel=comp), ref.at(XS, kernel=comp))
    draws = pk.sample(jax.random.PRNGKey(0), (3,))
    assert draws.shape == (3, 4) and np.all(np.isfinite(np.asarray(draws)))
    assert np.isfinite(float(pk.log_prob(pk.mean)))


def test_prior_samples_empirical_covariance():
    X = _shuffled((np.linspace(0, 1, 4), np.linspace(0, 1, 3)))
    gp = GaussianProcess(RBF(lengthscale=[0.5, 0.8], variance=2.0), X, noise=0.1, mean=1.0, structure="kronecker")
    draws = np.asarray(gp.sample(jax.random.PRNGKey(1), (20000,)))
    assert draws.shape == (20000, 12)
    np.testing.assert_allclose(draws.mean(0), 1.0, atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), np.asarray(gp.covariance_matrix), atol=0.08)


# -- grids with missing cells ---------------------------------------------------------
AXM = AX2  # 6 x 5 = 30 cells
GM = grid_points(AXM)


def _masked(num_missing, seed=3):
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(GM), len(GM) - num_missing, replace=False))
    X = GM[rng.permutation(keep)]
    y = np.sin(X[:, 0]) * np.cos(2 * X[:, 1]) + 0.1 * rng.normal(size=len(X))
    return X, y


def test_few_missing_cells_are_exact():
    X, y = _masked(4)
    th = [0.7, 0.5, 1.3, 0.05]
    v_k, g_k = _lp_and_grad(k2, X, y, th, "kronecker", grid=grid_axes(AXM))
    v_d, g_d = _lp_and_grad(k2, X, y, th, "dense")
    assert abs(float(v_k - v_d)) < RTOL * abs(float(v_d)) and _rel(g_k, g_d) < RTOL
    gp_k = GaussianProcess(k2(th[:3]), X, noise=0.05, structure="kronecker", grid=grid_axes(AXM))
    assert is_exact(gp_k)  # "auto": the Schur path, since (N - n) N is small
    ref = _Ref(k2(th[:3]), X, 0.05, y)
    np.testing.assert_allclose(gp_k.pointwise_log_prob(y), ref.loo(), rtol=1e-8)
    _compare_posteriors(gp_k.condition(y, XS), ref.at(XS))


@pytest.mark.parametrize("ls, fiedler_err, scaled_err", [(0.1, 0.01, -8.63), (0.4, 7.61, -1.12), (1.5, 8.71, 2.83)])
def test_many_missing_cells_quadratic_exact_logdet_bounded(ls, fiedler_err, scaled_err):
    """CG path: only the log-determinant is approximated. On this 6 x 5 grid with 12 of the 30 cells
    missing (Matern32 x RBF, lengthscale ls on both axes, unit variance, noise 0.05) the errors
    log det_approx - log det_exact are, for ls = 0.1 / 0.4 / 1.5: Fiedler +0.01 / +7.61 / +8.71 nats
    (never below the exact value: an upper bound), 'scaled' -8.63 / -1.12 / +2.83 nats (exact log dets
    0.88 / -2.03 / -27.18). The quadratic form matches dense to the CG tolerance."""
    X, y = _masked(12)
    kern = k2(jnp.array([ls, ls, 1.0]))
    ref = _Ref(kern, X, 0.05, y)
    for logdet, expected in (("fiedler", fiedler_err), ("scaled", scaled_err)):
        gp_k = GaussianProcess(kern, X, noise=0.05, structure="kronecker", grid=grid_axes(AXM), logdet=logdet)
        assert not is_exact(gp_k)
        quad, approx = _split_log_prob(gp_k, y)
        assert quad == pytest.approx(ref.quad, rel=1e-8)  # the quadratic form is exact (CG)
        assert approx - ref.logdet == pytest.approx(expected, abs=0.01)
        if logdet == "fiedler":
            assert approx - ref.logdet >= -1e-9
    if ls == 0.4:  # predictions in the CG path are exact (to the CG tolerance)
        gp_k = GaussianProcess(kern, X, noise=0.05, structure="kronecker", grid=grid_axes(AXM), logdet="fiedler")
        _compare_posteriors(gp_k.condition(y, XS), ref.at(XS), tol=1e-7)


def test_cg_path_gradient_is_the_gradient_of_its_objective():
    X, y = _masked(12)
    opts = {"grid": grid_axes(AXM), "logdet": "fiedler"}
    p = np.array([0.4, 0.6, 1.2, 0.05])
    _, g = _lp_and_grad(k2, X, y, p, "kronecker", **opts)

    def f(q):
        return float(GaussianProcess(k2(jnp.asarray(q[:3])), X, noise=q[3], structure="kronecker", **opts).log_prob(y))

    eps = 1e-5
    fd = [(f(p + eps * e) - f(p - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(g, fd, rtol=1e-4)


def test_heteroscedastic_noise_on_full_grid():
    """Per-point noise goes through CG (exact quadratic form and predictions); the log det is the
    Fiedler upper bound, here (noise 0.02-0.2 on the 6 x 5 grid) 2.32 nats above the exact value -6.83."""
    noise = np.random.default_rng(7).uniform(0.02, 0.2, size=len(X2))
    gp_k = GaussianProcess(k2([0.7, 0.5, 1.3]), X2, noise=noise, structure="kronecker")
    ref = _Ref(k2([0.7, 0.5, 1.3]), X2, noise, Y2)
    quad, approx = _split_log_prob(gp_k, Y2)
    assert quad == pytest.approx(ref.quad, rel=1e-8)
    assert approx - ref.logdet == pytest.approx(2.32, abs=0.01)
    _compare_posteriors(gp_k.condition(Y2, XS), ref.at(XS), tol=1e-7)
    with pytest.warns(BackendNote, match="dense back end"):
        loo = gp_k.pointwise_log_prob(Y2)
    np.testing.assert_allclose(loo, ref.loo(), rtol=1e-8)


# -- transformations ---------------------------------------------------------------------
def test_traced_inputs_need_the_grid_option():
    """Inside jit X is a tracer: the grid cannot be found from its values (``_lp_and_grad`` above runs
    the traced path with ``grid=``)."""
    with pytest.raises(ValueError, match="X is traced.*grid_axes"):
        jax.jit(lambda Xj: GaussianProcess(RBF(), Xj, noise=0.1, structure="kronecker").log_prob(Y2))(X2)


# -- bad input ---------------------------------------------------------------------------
def test_off_grid_inputs_are_rejected_with_the_reason():
    with pytest.raises(ValueError, match="not a Cartesian grid: 27 of the 30 combinations"):
        GaussianProcess(RBF(), X2[3:], noise=0.1, structure="kronecker")
    with pytest.raises(ValueError, match="not a Cartesian grid"):
        GaussianProcess(RBF(), RNG.uniform(size=(20, 2)), noise=0.1, structure="kronecker")
    bad = X2.copy()
    bad[5, 0] += 0.01
    with pytest.raises(ValueError, match="point 5 is not on the grid"):
        GaussianProcess(RBF(), bad, noise=0.1, structure="kronecker", grid=grid_axes(AX2))
    with pytest.raises(ValueError, match="unknown option"):
        GaussianProcess(RBF(), X2, noise=0.1, structure="kronecker", num_harmonics=3)


@pytest.mark.parametrize(
    "kernel, match",
    [
        (Matern52(lengthscale=[1.0, 2.0]), "Matern52 over input dimensions \\[0, 1\\] is not separable"),
        (RBF(active_dims=[0]) + RBF(active_dims=[1]), "sum over several input dimensions"),
        (RBF() + White(variance=0.1), "pass it as noise="),
    ],
    ids=["matern_2d", "sum_across_axes", "white"],
)
def test_non_separable_kernels_are_rejected(kernel, match):
    with pytest.raises(ValueError, match=match):
        GaussianProcess(kernel, X2, noise=0.1, structure="kronecker")


def test_factor_kernel_structures():
    f = factor_kernel(2.0 * (Constant(variance=3.0) * RBF(lengthscale=[0.5, 2.0], variance=1.5)), 2)
    assert float(f.scale) == pytest.approx(9.0) and [len(a) for a in f.axes] == [1, 1]
    f = factor_kernel((RBF(active_dims=[0]) + Periodic(active_dims=[0])) * Matern52(active_dims=[2]), 3)
    assert [len(a) for a in f.axes] == [1, 0, 1]  # a sum within one axis is one factor
    assert "not separable" in factor_kernel(Matern32(), 2)


def test_auto_chooses_kronecker_on_a_full_grid_and_dense_elsewhere():
    axes = (np.linspace(0.0, 3.0, 10), np.linspace(-1.0, 1.0, 8))  # 80 cells >= GP_KRONECKER_MIN_POINTS
    X = _shuffled(axes)
    y = np.sin(X[:, 0]) + X[:, 1]
    k = RBF(lengthscale=jnp.array([0.8, 0.5]), variance=1.3)
    auto = GaussianProcess(k, X, noise=0.05)
    assert auto.structure == "kronecker"
    dense = GaussianProcess(k, X, noise=0.05, structure="dense")
    np.testing.assert_allclose(auto.log_prob(y), dense.log_prob(y), rtol=RTOL)
    # Scattered inputs, or a kernel that does not factor, stay dense.
    scattered = X + 1e-3 * np.random.default_rng(3).normal(size=X.shape)
    assert GaussianProcess(k, scattered, noise=0.05).structure == "dense"
    assert GaussianProcess(Matern52(lengthscale=0.7), X, noise=0.05).structure == "dense"
    # Few missing cells (axes given) are still exact (Schur complement) ...
    assert GaussianProcess(k, X[:70], noise=0.05, grid=grid_axes(axes)).structure == "kronecker"
    # ... but the approximate log-determinant (per-point noise) is never chosen automatically.
    assert GaussianProcess(k, X, noise=0.05 + 0.01 * np.arange(len(X))).structure == "dense"


def test_grid_option_as_a_tuple_of_arrays_is_data_not_a_static_setting():
    k = k2(jnp.array([0.7, 0.4, 1.5]))
    axes = tuple(jnp.asarray(a) for a in AX2)
    gp = GaussianProcess(k, X2, noise=0.05, structure="kronecker", grid=axes)
    assert "grid" in gp.option_arrays and "grid" not in gp.options
    dense = GaussianProcess(k, X2, noise=0.05, structure="dense")
    np.testing.assert_allclose(gp.log_prob(Y2), dense.log_prob(Y2), rtol=RTOL)


def test_unhashable_static_option_is_a_clear_error():
    with pytest.raises(ValueError, match="logdet=.*hashable"):
        GaussianProcess(k2(jnp.array([0.7, 0.4, 1.5])), X2, noise=0.05, structure="kronecker", logdet=["exact"])
