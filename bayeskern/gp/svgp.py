"""Sparse variational GPs for any likelihood, with minibatches (Hensman, Fusi & Lawrence 2013).

Model: ``f ~ GP(m, k)``, ``y_i | f ~ p(y_i | f(x_i))`` independently, ``M``
inducing inputs ``Z`` and *whitened* inducing values ``v``:
``u = f(Z) = L v`` with ``K_mm + εI = L Lᵀ`` and ``v ~ N(0, I)``. The
variational family is ``q(v) = N(μ_v, S)``, ``S = L_S L_Sᵀ``, with
``q(f | v) = p(f | v)``; then the marginal of ``f_i = f(x_i)`` is Gaussian,

    q(f_i) = N(a_iᵀ μ_v,  k_ii − ‖a_i‖² + ‖L_Sᵀ a_i‖²),    a_i = L⁻¹ k(Z, x_i),

and the evidence lower bound is

    ELBO = Σ_i E_{q(f_i)}[log p(y_i | f_i)] − KL(q(v) ‖ N(0, I)),

a sum over data points, so ``(n / b) Σ_{i ∈ batch}`` over a uniformly drawn
minibatch of size ``b`` is an unbiased estimate of the first part. The
one-dimensional expectations use Gauss–Hermite quadrature (20 nodes by
default; exact for a Gaussian likelihood). For a Gaussian likelihood the
optimal ``q(v)`` is available in closed form (:func:`optimal_gaussian_q`) and
the ELBO at it equals the collapsed SGPR bound of
``bayeskern.gp.backends.sgpr`` (Titsias 2009).

Two ways to use it:

* :func:`fit_svgp` — optimises the ELBO above (expectations over ``q(f_i)`` in
  closed form + quadrature, KL analytic) with optax over the kernel
  hyperparameters, likelihood and mean parameters (declared with
  ``numpyro.param`` inside the builders you pass), the inducing inputs and
  ``q(v)``; returns an :class:`SVGPFit` with ``predict``.
* :class:`SVGP` — a NumPyro model piece plus guide for ``numpyro.infer.SVI``.
  The model is an honest generative model: a site ``{name}_v ~ N(0, I)``,
  ``f | v`` Gaussian, and, when ``y`` is observed, the factor
  ``E_{p(f_i | v)}[log p(y_i | f_i)]`` inside a (subsampling) plate. With the
  guide ``q(v)`` the expected Trace_ELBO equals the ELBO above (the ``v``
  integral is done by sampling rather than in closed form, so gradients are
  noisier). Because the model never touches variational parameters it also
  works with NUTS: sampling ``v`` and hyperparameters jointly targets the
  optimal free-form ``q(v, θ)`` of Hensman, Matthews, Filippone & Ghahramani
  (2015), an approximation of the exact posterior (the factor is a lower
  bound on ``log p(y | v)``).

Jitter on ``K_mm``: relative ``1e-6`` by default
(``bayeskern.features.nystrom.INDUCING_JITTER``); the bound stays a bound.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
from jax.scipy.linalg import solve_triangular
from numpyro import handlers
from numpyro.distributions import biject_to, constraints

from bayeskern._checks import as_inputs, as_observations, is_concrete
from bayeskern.features.nystrom import _as_landmarks, landmark_cholesky, select_landmarks
from bayeskern.kernels import Kernel

NUM_QUADRATURE = 20

__all__ = [
    "select_inducing", "gauss_hermite", "expected_log_likelihood", "log_predictive_density", "predictive_moments", "q_marginals", "kl_whitened",
    "svgp_elbo", "optimal_gaussian_q", "natural_gradient_step", "fit_svgp", "SVGPFit", "SVGPPrediction", "SVGP",
]


def select_inducing(X, num: int, seed: int = 0, *, method: str = "kmeans++") -> np.ndarray:
    """``num`` inducing inputs ``(M, d)`` chosen among the rows of ``X``, deterministically given ``seed``.

    ``method="kmeans++"`` (default; spreads points by squared distance) or
    ``"random"`` (a uniform subset); see ``bayeskern.features.nystrom.select_landmarks``.
    """
    return select_landmarks(X, num, method=method, seed=seed)


# ------------------------------------------------------------ quadrature
def gauss_hermite(num_points: int = NUM_QUADRATURE, dtype=None):
    """Nodes and weights ``(num_points,)`` with ``E_{N(0,1)}[g(z)] ≈ Σ_j w_j g(z_j)``."""
    t, w = np.polynomial.hermite.hermgauss(int(num_points))
    dtype = jnp.result_type(float) if dtype is None else dtype
    return jnp.asarray(math.sqrt(2.0) * t, dtype), jnp.asarray(w / math.sqrt(math.pi), dtype)


def _safe_sqrt(var):
    pos = var > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, var, 1.0)), 0.0)


def _nodes(mean, var, num_points):
    z, w = gauss_hermite(num_points, jnp.result_type(mean))
    return mean[None, :] + _safe_sqrt(var)[None, :] * z[:, None], w  # (Q, b)


def expected_log_likelihood(likelihood: Callable, y, mean, var, num_points: int = NUM_QUADRATURE):
    """``E_{N(f | mean, var)}[log p(y_i | f)]`` per point ``(b,)`` by Gauss–Hermite quadrature.

    Args:
        likelihood: ``f -> numpyro Distribution`` acting elementwise, e.g.
            ``lambda f: dist.Bernoulli(logits=f)``; called once with ``f`` of shape
            ``(num_points, b)``.
        y: observations ``(b,)``.
        mean, var: moments of ``q(f_i)`` ``(b,)``.
        num_points: quadrature nodes.
    """
    f, w = _nodes(mean, var, num_points)
    return w @ likelihood(f).log_prob(y)


def log_predictive_density(likelihood: Callable, y, mean, var, num_points: int = NUM_QUADRATURE):
    """``log E_{N(f | mean, var)}[p(y_i | f)]`` per point ``(b,)`` (log-sum-exp over quadrature nodes)."""
    f, w = _nodes(mean, var, num_points)
    return jax.scipy.special.logsumexp(likelihood(f).log_prob(y) + jnp.log(w)[:, None], axis=0)


def predictive_moments(likelihood: Callable, mean, var, num_points: int = NUM_QUADRATURE):
    """``(E[y_i], Var[y_i])`` under ``f_i ~ N(mean, var)`` by quadrature of the likelihood's mean and variance.

    ``(None, None)`` when the likelihood's distribution does not implement them.
    """
    f, w = _nodes(mean, var, num_points)
    d = likelihood(f)
    try:
        m, v = jnp.broadcast_to(d.mean, f.shape), jnp.broadcast_to(d.variance, f.shape)
    except NotImplementedError:
        return None, None
    ey = w @ m
    return ey, jnp.maximum(w @ (v + m * m) - ey * ey, 0.0)


# ------------------------------------------------------------ q(f) and KL
def _check_q(q_loc, q_scale_tril, M):
    if jnp.shape(q_loc) != (M,) or jnp.shape(q_scale_tril) != (M, M):
        raise ValueError(f"q_loc must have shape ({M},) and q_scale_tril ({M}, {M}) for {M} inducing inputs, "
                         f"got {jnp.shape(q_loc)} and {jnp.shape(q_scale_tril)}")


def q_marginals(kernel: Kernel, X, inducing, q_loc, q_scale_tril, *, whiten: bool = True, jitter=None, L=None):
    """Mean and variance ``(n,)`` of ``q(f(X))`` (zero prior mean).

    Whitened (default): ``q(v) = N(q_loc, q_scale_tril q_scale_trilᵀ)`` with
    ``u = L v``. Not whitened: ``q(u) = N(q_loc, q_scale_tril q_scale_trilᵀ)``
    directly. ``L`` (the factor of the jittered ``K_mm``) may be passed to
    avoid refactorising.
    """
    Xa = as_inputs(X, "X")
    Z = _as_landmarks(inducing, Xa.shape[1], "inducing")
    _check_q(q_loc, q_scale_tril, Z.shape[0])
    if L is None:
        L = landmark_cholesky(kernel, Z, jitter=jitter, name="inducing-point kernel matrix K_mm")
    A = solve_triangular(L, kernel(Z, Xa), lower=True)  # (M, n)
    P = A if whiten else solve_triangular(L, A, lower=True, trans="T")  # K_mm⁻¹ K_mn when not whitened
    mean = P.T @ q_loc
    SP = q_scale_tril.T @ P
    var = kernel.diag(Xa) - jnp.sum(A * A, axis=0) + jnp.sum(SP * SP, axis=0)
    return mean, jnp.maximum(var, 0.0)


def kl_whitened(q_loc, q_scale_tril):
    """``KL(N(q_loc, S) ‖ N(0, I))`` with ``S = q_scale_tril q_scale_trilᵀ``."""
    M = q_loc.shape[-1]
    logdet = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(q_scale_tril))))
    return 0.5 * (jnp.sum(q_scale_tril**2) + jnp.sum(q_loc**2) - M - logdet)


def _kl_unwhitened(q_loc, q_scale_tril, L):
    """``KL(N(q_loc, S) ‖ N(0, L Lᵀ))``."""
    M = q_loc.shape[-1]
    LiS = solve_triangular(L, q_scale_tril, lower=True)
    Lim = solve_triangular(L, q_loc, lower=True)
    logdet_q = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(q_scale_tril))))
    logdet_p = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L)))
    return 0.5 * (jnp.sum(LiS**2) + jnp.sum(Lim**2) - M + logdet_p - logdet_q)


def _mean_values(mean, X):
    if mean is None:
        return 0.0
    if callable(mean):
        return jnp.asarray(mean(X))
    return jnp.asarray(mean)


def svgp_elbo(kernel: Kernel, X, y, likelihood: Callable, inducing, q_loc, q_scale_tril, *,
              num_data: int | None = None, whiten: bool = True, jitter=None, mean=None,
              num_quadrature: int = NUM_QUADRATURE):
    """The SVGP evidence lower bound, estimated on the batch ``(X, y)``.

    Args:
        kernel: covariance function.
        X: batch inputs ``(b,)`` or ``(b, d)``; y: batch observations ``(b,)``.
        likelihood: ``f -> Distribution`` (elementwise), e.g.
            ``lambda f: dist.Poisson(jnp.exp(f))``.
        inducing: ``Z`` ``(M, d)``.
        q_loc, q_scale_tril: ``q(v)`` (whitened) or ``q(u)`` parameters, ``(M,)``, ``(M, M)``.
        num_data: size ``n`` of the full data set the batch was drawn from
            (default ``b``: the batch is the data). The likelihood sum is scaled
            by ``n / b``, which makes the estimate unbiased for uniformly
            drawn batches.
        whiten: whitened parametrisation (see :func:`q_marginals`).
        jitter: relative jitter on ``K_mm``.
        mean: prior mean: ``None`` (zero), a scalar or ``(b,)`` array, or a callable ``mean(X) -> (b,)``.
        num_quadrature: Gauss–Hermite nodes.

    Returns:
        Scalar ELBO (estimate).
    """
    Xa = as_inputs(X, "X")
    b = Xa.shape[0]
    y = as_observations(y, "y")
    if y.shape != (b,):
        raise ValueError(f"y must have shape ({b},) to match X, got {y.shape}")
    Z = _as_landmarks(inducing, Xa.shape[1], "inducing")
    L = landmark_cholesky(kernel, Z, jitter=jitter, name="inducing-point kernel matrix K_mm")
    mu, var = q_marginals(kernel, Xa, Z, q_loc, q_scale_tril, whiten=whiten, L=L)
    mu = mu + _mean_values(mean, X)
    ell = expected_log_likelihood(likelihood, y, mu, var, num_quadrature)
    kl = kl_whitened(q_loc, q_scale_tril) if whiten else _kl_unwhitened(q_loc, q_scale_tril, L)
    scale = (b if num_data is None else num_data) / b
    return scale * jnp.sum(ell) - kl


def optimal_gaussian_q(kernel: Kernel, X, y, noise, inducing, *, whiten: bool = True, jitter=None, mean=None):
    """Closed-form optimal ``q`` for a Gaussian likelihood ``N(y_i | f_i, noise_i)``.

    ``S = (I + A Λ⁻¹ Aᵀ)⁻¹``, ``μ_v = S A Λ⁻¹ (y − m)`` in whitened coordinates
    (``A = L⁻¹ K_mn``); mapped to ``q(u)`` (``L μ_v``, ``L L_S``) when not whitened.
    At this ``q`` the SVGP ELBO equals the collapsed SGPR (VFE) bound.

    Returns:
        ``(q_loc (M,), q_scale_tril (M, M))``.
    """
    Xa = as_inputs(X, "X")
    Z = _as_landmarks(inducing, Xa.shape[1], "inducing")
    L = landmark_cholesky(kernel, Z, jitter=jitter, name="inducing-point kernel matrix K_mm")
    A = solve_triangular(L, kernel(Z, Xa), lower=True)
    lam = jnp.broadcast_to(jnp.asarray(noise, A.dtype), (Xa.shape[0],))
    r = as_observations(y, "y") - _mean_values(mean, X)
    M = Z.shape[0]
    B = jnp.eye(M, dtype=A.dtype) + (A / lam) @ A.T
    S = jnp.linalg.inv(B)
    S = 0.5 * (S + S.T)
    loc = S @ (A @ (r / lam))
    tril = jnp.linalg.cholesky(S)
    if whiten:
        return loc, tril
    return L @ loc, L @ tril


# ------------------------------------------------------------ fitting
class SVGPPrediction(NamedTuple):
    """Predictive moments at new inputs, each ``(m,)``.

    ``f_mean``, ``f_var``: ``q(f(X_new))``. ``y_mean``, ``y_var``: the
    likelihood's mean and variance integrated over ``q(f)`` (by quadrature;
    for a Gaussian likelihood ``y_var = f_var + noise``; for Bernoulli
    ``y_mean`` is the predictive probability); ``None`` when the likelihood
    has no mean/variance.
    """

    f_mean: jax.Array
    f_var: jax.Array
    y_mean: jax.Array | None
    y_var: jax.Array | None


class SVGPFit:
    """Result of :func:`fit_svgp`.

    Attributes:
        params: every fitted parameter by site name (constrained values):
            the user's hyperparameters plus ``{name}_inducing``,
            ``{name}_q_loc``, ``{name}_q_scale_tril``.
        hyperparameters: the user's parameters only (kernel, likelihood, mean).
        kernel: the kernel built with the fitted hyperparameters.
        inducing: fitted ``Z`` ``(M, d)``.
        q_loc, q_scale_tril: fitted ``q(v)`` (or ``q(u)`` when not whitened).
        elbo: ``(steps,)`` ELBO estimate at each step (before its update).
        whiten, num_data: settings of the fit.
    """

    def __init__(self, *, params, user_names, name, kernel_fn, likelihood, mean, whiten, jitter,
                 num_quadrature, elbo, num_data):
        self.params = params
        self.hyperparameters = {k: params[k] for k in user_names}
        self._name = name
        self._kernel_fn = kernel_fn
        self._likelihood = likelihood
        self._mean = mean
        self.whiten = whiten
        self._jitter = jitter
        self._Q = num_quadrature
        self.elbo = elbo
        self.num_data = num_data
        self.inducing = params[f"{name}_inducing"]
        self.q_loc = params[f"{name}_q_loc"]
        self.q_scale_tril = params[f"{name}_q_scale_tril"]
        self.kernel = self._with_params(kernel_fn)

    def _with_params(self, fn, *args):
        return handlers.substitute(fn, data=self.params)(*args)

    def _marginals(self, X_new, chunk_size):
        Xa = as_inputs(X_new, "X_new")
        Z = _as_landmarks(self.inducing, Xa.shape[1], "inducing")
        L = landmark_cholesky(self.kernel, Z, jitter=self._jitter, name="inducing-point kernel matrix K_mm")
        means, variances = [], []
        for s in range(0, Xa.shape[0], chunk_size):
            mu, var = q_marginals(self.kernel, Xa[s:s + chunk_size], Z, self.q_loc, self.q_scale_tril,
                                  whiten=self.whiten, L=L)
            means.append(mu)
            variances.append(var)
        mu = jnp.concatenate(means) + self._with_params(lambda: _mean_values(self._mean, X_new))
        return mu, jnp.concatenate(variances)

    def predict(self, X_new, *, chunk_size: int = 4096) -> SVGPPrediction:
        """Moments of ``q(f(X_new))`` and of the predictive ``y`` (see :class:`SVGPPrediction`)."""
        mu, var = self._marginals(X_new, chunk_size)
        ey, vy = self._with_params(lambda: predictive_moments(self._likelihood, mu, var, self._Q))
        return SVGPPrediction(mu, var, ey, vy)

    def log_predictive_density(self, X_new, y_new, *, chunk_size: int = 4096):
        """``log ∫ p(y_i | f) q(f_i) df`` per point ``(m,)`` (quadrature); ``-mean`` of it is the NLPD."""
        mu, var = self._marginals(X_new, chunk_size)
        y_new = as_observations(y_new, "y_new")
        return self._with_params(lambda: log_predictive_density(self._likelihood, y_new, mu, var, self._Q))

    def full_elbo(self, X, y, *, chunk_size: int = 4096) -> float:
        """The ELBO on the whole data set ``(X, y)`` at the fitted parameters (no minibatch noise)."""
        mu, var = self._marginals(X, chunk_size)
        y = as_observations(y, "y")
        ell = self._with_params(lambda: expected_log_likelihood(self._likelihood, y, mu, var, self._Q))
        if self.whiten:
            kl = kl_whitened(self.q_loc, self.q_scale_tril)
        else:
            Z = _as_landmarks(self.inducing, as_inputs(X).shape[1], "inducing")
            L = landmark_cholesky(self.kernel, Z, jitter=self._jitter)
            kl = _kl_unwhitened(self.q_loc, self.q_scale_tril, L)
        return float(jnp.sum(ell) - kl)


def _as_kernel_fn(kernel):
    if isinstance(kernel, Kernel):
        return lambda: kernel
    if callable(kernel):
        return kernel
    raise ValueError(f"kernel must be a bayeskern Kernel or a callable returning one, got {type(kernel).__name__}")


def _tril_from_raw(raw):
    """Unconstrained ``(M, M)`` -> lower triangular with positive diagonal."""
    return jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diagonal(raw)))


def _raw_from_tril(tril):
    return jnp.tril(tril, -1) + jnp.diag(jnp.log(jnp.abs(jnp.diagonal(tril))))


def natural_gradient_step(elbo_fn: Callable, q_loc, q_scale_tril, step_size: float):
    """One natural-gradient step on a Gaussian ``q = N(q_loc, S)`` (Salimbeni, Eleftheriadis & Hensman 2018).

    With natural parameters ``θ = (S⁻¹μ, −½S⁻¹)`` and expectation parameters
    ``η = (μ, S + μμᵀ)``, the natural gradient in ``θ`` is the ordinary
    gradient in ``η``: ``θ ← θ + γ ∂ELBO/∂η``. For a Gaussian likelihood and
    ``γ = 1`` this lands exactly on the optimal ``q`` (with full batches).
    A step that leaves ``S`` not positive definite is rejected (``q`` unchanged).

    Args:
        elbo_fn: ``(q_loc, q_scale_tril) -> ELBO`` (scalar, differentiable).
        q_loc, q_scale_tril: current ``q``, ``(M,)``, ``(M, M)``.
        step_size: ``γ`` in ``(0, 1]``.

    Returns:
        ``(q_loc, q_scale_tril)`` after the step.
    """
    M = q_loc.shape[0]
    eye = jnp.eye(M, dtype=q_loc.dtype)

    def in_eta(eta1, eta2):
        cov = eta2 - jnp.outer(eta1, eta1)
        return elbo_fn(eta1, jnp.linalg.cholesky(0.5 * (cov + cov.T)))

    S = q_scale_tril @ q_scale_tril.T
    g1, g2 = jax.grad(in_eta, argnums=(0, 1))(q_loc, S + jnp.outer(q_loc, q_loc))
    g2 = 0.5 * (g2 + g2.T)
    Linv = solve_triangular(q_scale_tril, eye, lower=True)
    prec = Linv.T @ Linv
    theta1 = prec @ q_loc + step_size * g1
    new_prec = prec - 2.0 * step_size * g2  # −2 θ₂
    Lp = jnp.linalg.cholesky(0.5 * (new_prec + new_prec.T))
    Lp_inv = solve_triangular(Lp, eye, lower=True)
    new_S = Lp_inv.T @ Lp_inv
    new_loc = new_S @ theta1
    new_tril = jnp.linalg.cholesky(0.5 * (new_S + new_S.T))
    ok = jnp.all(jnp.isfinite(new_tril)) & jnp.all(jnp.isfinite(new_loc))
    return jnp.where(ok, new_loc, q_loc), jnp.where(ok, new_tril, q_scale_tril)


def fit_svgp(kernel, X, y, likelihood: Callable, inducing, *, steps: int = 1000, batch_size: int | None = None,
             optimizer=None, natgrad_step: float | None = None, seed: int = 0, whiten: bool = True,
             learn_inducing: bool = True, mean=None, jitter=None, num_quadrature: int = NUM_QUADRATURE,
             q_init=None, name: str = "svgp") -> SVGPFit:
    """Fit a sparse variational GP by stochastic optimisation of its ELBO.

    Hyperparameters are declared the NumPyro way, with ``numpyro.param``
    inside the callables you pass, e.g.::

        from numpyro.distributions import constraints
        pos = constraints.positive
        kernel = lambda: RBF(lengthscale=numpyro.param("ls", 1.0, constraint=pos),
                             variance=numpyro.param("var", 1.0, constraint=pos))
        lik = lambda f: dist.Normal(f, numpyro.param("noise_scale", 0.3, constraint=pos))
        fit = fit_svgp(kernel, X, y, lik, select_inducing(X, 100), steps=2000, batch_size=256)
        pred = fit.predict(X_new)      # f_mean, f_var, y_mean, y_var

    Each step draws a minibatch, optionally moves ``q(v)`` by a natural-gradient
    step (``natgrad_step``), then applies one ``optimizer`` update to every
    other parameter (and to ``q`` too when ``natgrad_step`` is None).

    Args:
        kernel: a ``Kernel`` (fixed hyperparameters) or a zero-argument
            callable returning one (hyperparameters from ``numpyro.param``).
        X: inputs ``(n,)`` or ``(n, d)``; y: observations ``(n,)``.
        likelihood: ``f -> Distribution`` acting elementwise (Gaussian
            ``dist.Normal(f, s)``, ``dist.Bernoulli(logits=f)``,
            ``dist.Poisson(jnp.exp(f))``, ...); may declare ``numpyro.param`` sites.
        inducing: initial inducing inputs ``(M, d)`` (see :func:`select_inducing`).
        steps: optimisation steps.
        batch_size: minibatch size (``None``: full batch). Batches are drawn
            without replacement within each pass over a fresh permutation.
        optimizer: an ``optax.GradientTransformation``; default ``optax.adam(1e-2)``.
        natgrad_step: ``None`` (default: ``q(v)`` is optimised by ``optimizer``
            like everything else) or a natural-gradient step size ``γ`` for
            ``q(v)`` (:func:`natural_gradient_step`): ``1.0`` is exact for a
            Gaussian likelihood with full batches; ``0.05``–``0.5`` with
            minibatches or non-Gaussian likelihoods. Much faster convergence of
            ``q`` than Adam on its Cholesky factor.
        seed: seed for the minibatch order.
        whiten: optimise ``q(v)`` of the whitened values (default; better conditioned).
        learn_inducing: optimise ``Z`` as well.
        mean: prior mean: ``None``, a scalar or a callable ``mean(X) -> (n,)``
            (which may declare ``numpyro.param`` sites, e.g. a learnable constant).
        jitter: relative jitter on ``K_mm`` (default ``1e-6``).
        num_quadrature: Gauss–Hermite nodes.
        q_init: ``(q_loc, q_scale_tril)`` to start from (default ``0`` and ``I``,
            the prior in whitened coordinates; :func:`optimal_gaussian_q` for a
            Gaussian likelihood).
        name: prefix of the variational parameters' names in ``SVGPFit.params``.

    Returns:
        :class:`SVGPFit`.

    Raises:
        ValueError: bad shapes or settings, or the builders declare ``numpyro.sample`` sites.
        FloatingPointError: the ELBO is not finite at the end.
    """
    Xa = as_inputs(X, "X")
    n, d = Xa.shape
    ya = as_observations(y, "y")
    if ya.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {ya.shape}")
    Z0 = _as_landmarks(inducing, d, "inducing")
    M = Z0.shape[0]
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    b = n if batch_size is None else int(batch_size)
    if not 1 <= b <= n:
        raise ValueError(f"batch_size must be in [1, n={n}] or None, got {batch_size!r}")
    if natgrad_step is not None and not 0 < float(natgrad_step) <= 1:
        raise ValueError(f"natgrad_step must be None or in (0, 1], got {natgrad_step!r}")
    kernel_fn = _as_kernel_fn(kernel)
    dt = Xa.dtype
    if q_init is None:
        q_init = (jnp.zeros((M,), dt), jnp.eye(M, dtype=dt))
    _check_q(*q_init, M)
    q_loc0, q_tril0 = jnp.asarray(q_init[0], dt), jnp.asarray(q_init[1], dt)

    def objective(Xb, yb, q_loc, q_tril):
        k = kernel_fn()
        Z = numpyro.param(f"{name}_inducing", Z0) if learn_inducing else Z0
        return svgp_elbo(k, Xb, yb, likelihood, Z, q_loc, q_tril, num_data=n, whiten=whiten,
                         jitter=jitter, mean=mean, num_quadrature=num_quadrature)

    trace = handlers.trace(handlers.seed(objective, 0)).get_trace(Xa[:b], ya[:b], q_loc0, q_tril0)
    samples = [k for k, s in trace.items() if s["type"] == "sample"]
    if samples:
        raise ValueError(f"fit_svgp optimises point values: declare hyperparameters with numpyro.param, "
                         f"not numpyro.sample (found sample sites {samples})")
    sites = {k: s for k, s in trace.items() if s["type"] == "param"}
    transforms = {k: biject_to(s["kwargs"].get("constraint", constraints.real)) for k, s in sites.items()}
    p0 = {k: transforms[k].inv(jnp.asarray(s["value"])) for k, s in sites.items()}

    def constrain(p):
        return {k: transforms[k](v) for k, v in p.items()}

    def elbo(p, q_loc, q_tril, Xb, yb):
        return handlers.substitute(objective, data=constrain(p))(Xb, yb, q_loc, q_tril)

    opt = optax.adam(1e-2) if optimizer is None else optimizer
    if natgrad_step is None:
        # q is optimised with everything else, its Cholesky factor through an exp-diagonal map.
        params0 = (p0, q_loc0, _raw_from_tril(q_tril0))

        def step(carry, idx):
            params, state = carry
            Xb, yb = (Xa, ya) if idx is None else (Xa[idx], ya[idx])
            value, grads = jax.value_and_grad(
                lambda par: -elbo(par[0], par[1], _tril_from_raw(par[2]), Xb, yb))(params)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), -value

        carry0 = (params0, opt.init(params0))
    else:
        gamma = float(natgrad_step)

        def step(carry, idx):
            (p, q_loc, q_tril), state = carry
            Xb, yb = (Xa, ya) if idx is None else (Xa[idx], ya[idx])
            q_loc, q_tril = natural_gradient_step(lambda m, L: elbo(p, m, L, Xb, yb), q_loc, q_tril, gamma)
            value, grads = jax.value_and_grad(lambda p_: -elbo(p_, q_loc, q_tril, Xb, yb))(p)
            updates, state = opt.update(grads, state, p)
            return ((optax.apply_updates(p, updates), q_loc, q_tril), state), -value

        carry0 = ((p0, q_loc0, q_tril0), opt.init(p0))

    if b == n:
        run = jax.jit(lambda c: jax.lax.scan(lambda c, _: step(c, None), c, None, length=steps))
        (final, _), elbos = run(carry0)
    else:
        rng = np.random.default_rng(seed)
        per_epoch = n // b
        perms = [rng.permutation(n)[: per_epoch * b].reshape(per_epoch, b) for _ in range(-(-steps // per_epoch))]
        idx = jnp.asarray(np.concatenate(perms)[:steps])
        run = jax.jit(lambda c, i: jax.lax.scan(step, c, i))
        (final, _), elbos = run(carry0, idx)
    elbos = np.asarray(elbos)
    if not np.isfinite(elbos[-1]):
        bad = int(np.argmax(~np.isfinite(elbos)))
        raise FloatingPointError(
            f"SVGP ELBO is not finite at the end ({elbos[-1]}); it first became non-finite at step {bad}. "
            "Lower the learning rate, increase jitter, or check the initial hyperparameters")
    p, q_loc, q_last = final
    q_tril = _tril_from_raw(q_last) if natgrad_step is None else q_last
    params = constrain(p)
    if not learn_inducing:
        params[f"{name}_inducing"] = Z0
    params[f"{name}_q_loc"] = q_loc
    params[f"{name}_q_scale_tril"] = q_tril
    internal = {f"{name}_inducing"}
    return SVGPFit(params=params, user_names=[k for k in sites if k not in internal], name=name,
                   kernel_fn=kernel_fn, likelihood=likelihood, mean=mean, whiten=whiten, jitter=jitter,
                   num_quadrature=num_quadrature, elbo=elbos, num_data=n)


# ------------------------------------------------------------ NumPyro piece
class SVGP:
    """A sparse variational GP as a NumPyro model piece (``__call__``) and its guide (``guide``).

    Example::

        svgp = SVGP("f", inducing=select_inducing(X, 50), likelihood=lambda f: dist.Bernoulli(logits=f))

        def model(X, y=None):
            k = RBF(lengthscale=numpyro.param("ls", 1.0, constraint=constraints.positive))
            svgp(k, X, y, batch_size=128)

        def guide(X, y=None):
            svgp.guide()

        result = SVI(model, guide, optax.adam(1e-2), Trace_ELBO()).run(key, 3000, X, y)
        mean, var = svgp.marginals(k_fitted, X_new, result.params)

    Sites (``name`` is yours): param ``{name}_inducing`` (when
    ``learn_inducing``), sample ``{name}_v`` ``(M,)`` with prior ``N(0, I)``, plate
    ``{name}_data`` (size ``n``, ``subsample_size=batch_size``), and either the
    factor ``{name}_expected_log_lik`` (``y`` given: ``E_{p(f_i|v)}[log p(y_i|f_i)]``
    by quadrature, scaled by ``n / b`` by the plate) or, with ``y=None``, the
    latent ``{name}`` (``f`` at the batch inputs) and the observation site
    ``obs_name`` (default ``{name}_y``) drawn from the likelihood — what
    ``Predictive`` uses. The guide declares params ``{name}_q_loc``,
    ``{name}_q_scale_tril`` and samples ``{name}_v ~ N(q_loc, S)``; any other
    guide for ``{name}_v`` (e.g. an autoguide) works as well.
    """

    def __init__(self, name: str, inducing, likelihood: Callable, *, learn_inducing: bool = True,
                 jitter=None, num_quadrature: int = NUM_QUADRATURE):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.inducing = _as_landmarks(inducing, None, "inducing")
        self.likelihood = likelihood
        self.learn_inducing = learn_inducing
        self.jitter = jitter
        self.num_quadrature = num_quadrature

    @property
    def num_inducing(self) -> int:
        return self.inducing.shape[0]

    def _Z(self):
        if self.learn_inducing:
            return numpyro.param(f"{self.name}_inducing", self.inducing)
        return self.inducing

    def __call__(self, kernel: Kernel, X, y=None, *, batch_size: int | None = None, mean=None,
                 obs_name: str | None = None):
        """Model piece; returns ``f`` at the batch inputs when ``y`` is None, else the plate's indices.

        ``mean``: ``None``, a scalar, or a callable ``mean(X_batch (b, d)) -> (b,)``.
        """
        Xa = as_inputs(X, "X")
        n, d = Xa.shape
        if self.inducing.shape[1] != d:
            raise ValueError(f"inducing must have shape (M, {d}) to match X, got {self.inducing.shape}")
        if y is not None:
            y = as_observations(y, "y")
            if y.shape != (n,):
                raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}")
        Z = self._Z()
        M = Z.shape[0]
        L = landmark_cholesky(kernel, Z, jitter=self.jitter, name="inducing-point kernel matrix K_mm")
        v = numpyro.sample(f"{self.name}_v", dist.Normal(jnp.zeros((M,), Xa.dtype), 1.0).to_event(1))
        with numpyro.plate(f"{self.name}_data", n, subsample_size=batch_size) as idx:
            Xb = Xa[idx]
            A = solve_triangular(L, kernel(Z, Xb), lower=True)
            mu = A.T @ v + _mean_values(mean, Xb)
            var = jnp.maximum(kernel.diag(Xb) - jnp.sum(A * A, axis=0), 0.0)
            if y is not None:
                ell = expected_log_likelihood(self.likelihood, y[idx], mu, var, self.num_quadrature)
                numpyro.factor(f"{self.name}_expected_log_lik", ell)
                return idx
            f = numpyro.sample(self.name, dist.Normal(mu, jnp.sqrt(var + jnp.finfo(var.dtype).tiny)))
            numpyro.sample(obs_name or f"{self.name}_y", self.likelihood(f))
            return f

    def guide(self, *args, **kwargs):
        """``q(v) = N(q_loc, q_scale_tril q_scale_trilᵀ)`` (arguments are ignored)."""
        M = self.num_inducing
        dt = self.inducing.dtype
        loc = numpyro.param(f"{self.name}_q_loc", jnp.zeros((M,), dt))
        tril = numpyro.param(f"{self.name}_q_scale_tril", jnp.eye(M, dtype=dt), constraint=constraints.lower_cholesky)
        return numpyro.sample(f"{self.name}_v", dist.MultivariateNormal(loc, scale_tril=tril))

    def marginals(self, kernel: Kernel, X_new, params):
        """Mean and variance ``(m,)`` of ``q(f(X_new))`` (zero prior mean) from fitted SVI ``params``."""
        Z = params.get(f"{self.name}_inducing", self.inducing)
        return q_marginals(kernel, X_new, Z, params[f"{self.name}_q_loc"], params[f"{self.name}_q_scale_tril"],
                           whiten=True, jitter=self.jitter)
