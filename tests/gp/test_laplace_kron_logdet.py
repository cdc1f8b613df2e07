"""Kronecker preconditioner / control variate and the Fiedler log det against dense linear algebra."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import bayeskern  # noqa: F401
from bayeskern.gp.laplace.kron_logdet import axis_eigen, fiedler_bounds, fiedler_logdet, scalar_precond
from bayeskern.gp.laplace.kronecker import KronLaplaceOptions, kron_find_mode, kron_log_marginal, kron_logdet
from bayeskern.linalg.lanczos import cg_lanczos

N1, N2 = 12, 10
X1, X2 = np.linspace(0, 1, N1), np.linspace(0, 1.2, N2)
G1, G2 = np.meshgrid(X1, X2, indexing="ij")
# heterogeneous counts (W spans ~1.5 decades) so that A is far from its scalar approximation
Y = np.random.default_rng(0).poisson(np.exp(1.0 + 1.5 * np.sin(4 * G1) * np.cos(3 * G2))).ravel().astype(float)
TH = jnp.array([0.25, 1.5, 0.8])


def ll(f, y):
    return dist.Poisson(jnp.exp(f)).log_prob(y)


def chol_factors(th):
    k1 = th[1] * jnp.exp(-0.5 * (X1[:, None] - X1[None]) ** 2 / th[0] ** 2) + 1e-6 * jnp.eye(N1)
    k2 = jnp.exp(-0.5 * (X2[:, None] - X2[None]) ** 2 / th[0] ** 2) + 1e-6 * jnp.eye(N2)
    return tuple(jnp.linalg.cholesky(k) for k in (k1, k2))


@pytest.fixture(scope="module")
def mode():
    Ls = chol_factors(TH)
    return jax.jit(lambda m: kron_find_mode(ll, (jnp.asarray(Y),), m, Ls))(jnp.full(N1 * N2, TH[2]))


def _dense_A(md):
    S = jnp.kron(*md.Ls)
    return S, jnp.eye(N1 * N2) + S.T @ (md.W[:, None] * S)


def test_scalar_preconditioner_is_exact(mode):
    S, _ = _dense_A(mode)
    c = 0.7
    P = jnp.eye(N1 * N2) + c * S.T @ S
    Pinv, Psqrt, Pisqrt, logdet = scalar_precond(axis_eigen(mode.Ls), c)
    V = jnp.asarray(np.random.default_rng(1).standard_normal((3, N1 * N2)))
    np.testing.assert_allclose(Pinv(V), jnp.linalg.solve(P, V.T).T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(Psqrt(Psqrt(V)), V @ P, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(Psqrt(Pisqrt(V)), V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(logdet, jnp.linalg.slogdet(P)[1], rtol=1e-10)


def test_fiedler_is_an_upper_bound(mode):
    """Fiedler (1971): same-order pairing bounds log det(I + KW) above, reverse pairing below."""
    _, A = _dense_A(mode)
    exact = float(jnp.linalg.slogdet(A)[1])
    lo, hi = fiedler_bounds(mode.Ls, mode.W)
    assert float(lo) < exact < float(hi)
    np.testing.assert_allclose(fiedler_logdet(mode.Ls, mode.W), hi, rtol=1e-12)
    # the documented looseness: tens of per cent (a reason it is not the default)
    assert 0.1 * exact < float(hi) - exact < exact


@pytest.mark.slow
def test_control_variate_slq_error(mode):
    """SLQ with the P = I + mean(W) SᵀS control variate: Hutchinson error shrinking like 1/√J.

    Measured on this grid (W from 0.5 to 14, log det 63.3): 8 probes -3.5 / -0.7 nats (seeds 0 / 1),
    64 probes -1.3 / -0.2, 256 probes -0.3 / -0.2.
    """
    _, A = _dense_A(mode)
    exact = float(jnp.linalg.slogdet(A)[1])
    for J, rel in ((8, 0.08), (64, 0.03), (256, 0.01)):
        for seed in (0, 1):
            est, min_ritz = jax.jit(lambda md, J=J, s=seed: kron_logdet(
                md, KronLaplaceOptions(num_probes=J, seed=s)))(mode)
            assert float(min_ritz) > 0
            assert abs(float(est) - exact) < rel * exact, (J, seed, float(est), exact)


def test_fiedler_gradient_is_exact_derivative_of_its_value():
    opts = KronLaplaceOptions(logdet="fiedler", tol=1e-10)

    def val(th):
        return kron_log_marginal(ll, chol_factors(th), jnp.full(N1 * N2, th[2]), (jnp.asarray(Y),), opts)

    v, g = jax.jit(jax.value_and_grad(val))(TH)
    assert np.isfinite(float(v))
    eps = 1e-5
    steps = jnp.concatenate([jnp.eye(3), -jnp.eye(3)]) * eps
    vals = jax.jit(jax.vmap(lambda d: val(TH + d)))(steps)
    np.testing.assert_allclose(g, (vals[:3] - vals[3:]) / (2 * eps), rtol=1e-4)


def test_option_and_argument_errors():
    with pytest.raises(ValueError, match="logdet"):
        kron_log_marginal(ll, chol_factors(TH), jnp.zeros(N1 * N2), (jnp.asarray(Y),),
                          KronLaplaceOptions(logdet="exact"))
    with pytest.raises(ValueError, match="precondition"):
        kron_find_mode(ll, (jnp.asarray(Y),), jnp.zeros(N1 * N2), chol_factors(TH),
                       KronLaplaceOptions(precondition="ilu"))
    with pytest.raises(ValueError, match="diag or precondition"):
        cg_lanczos(lambda v: v, jnp.ones((1, 3)), steps=2)
