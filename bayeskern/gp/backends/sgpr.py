"""Sparse GP regression back end (collapsed inducing points; Titsias 2009), ``O(n M²)``.

Use it as ``GaussianProcess(kernel, X, noise=s2, structure="sgpr", inducing=Z)``
with ``Z`` the ``(M, d)`` inducing inputs. ``Z`` travels in
``process.option_arrays`` (pytree data), so it may be a ``numpyro.param``, a
sampled value or any traced array: the log density is differentiable in
``Z``, the kernel hyperparameters and the noise. Choose ``Z`` with
``bayeskern.gp.svgp.select_inducing(X, M, seed=0)`` (k-means++) and, usually,
optimise it together with the hyperparameters.

Notation: ``K_mm = K(Z, Z) + εI = L Lᵀ`` (``ε``: relative jitter, option
``jitter``, default ``bayeskern.features.nystrom.INDUCING_JITTER = 1e-6``),
``V = L⁻¹ K_mn`` ``(M, n)``, ``Q_nn = Vᵀ V = K_nm K_mm⁻¹ K_mn``, ``Λ`` the
diagonal "noise" of the approximate model, ``A = V Λ^{-1/2}``,
``B = I + A Aᵀ = L_B L_Bᵀ``. By the matrix determinant lemma and Woodbury,

    log det(Q_nn + Λ) = Σ log λ_i + 2 Σ log diag L_B,
    rᵀ (Q_nn + Λ)⁻¹ r = Σ r_i²/λ_i − ‖L_B⁻¹ A Λ^{-1/2} r‖²,

so nothing of size ``n × n`` is formed. ``K_mn`` is processed in chunks of
``chunk_size`` columns (option, default 4096), so memory is ``O(M · chunk + M²)``
even under reverse-mode differentiation.

Option ``bound`` selects the objective returned by ``log_prob``:

* ``"vfe"`` (default; Titsias 2009): the collapsed evidence lower bound

      log N(y | m, Q_nn + σ²I) − tr(K_nn − Q_nn) / (2σ²)

  (per-point noise: ``Σ_i (k_ii − q_ii) / (2σ_i²)``). **It is a lower bound
  on the exact log marginal likelihood, not a likelihood**: maximising it
  over hyperparameters and ``Z`` is variational inference (the trace term
  penalises inducing inputs that explain ``K_nn`` badly, so more / better
  inducing points never make it worse), and running NUTS on it samples an
  approximate posterior ``∝ p(θ) exp(ELBO(θ))``, not the exact one. With
  ``Z = X`` it equals the exact log marginal likelihood (up to jitter).
* ``"dtc"`` (deterministic training conditional; Seeger et al. 2003): the
  log density of the approximate model ``N(m, Q_nn + σ²I)`` alone, without
  the trace term. Neither a bound nor the exact value; it tends to
  underestimate the noise and overfit ``Z``.
* ``"fitc"`` (fully independent training conditional; Snelson &
  Ghahramani 2006): ``N(m, Q_nn + diag(K_nn − Q_nn) + σ²I)``, which restores
  the exact prior variances. A different generative model rather than an
  approximation to the exact one: known pathologies (Bauer, van der Wilk &
  Rasmussen 2016) are a noise variance driven towards zero with the
  heteroscedastic diagonal ``diag(K_nn − Q_nn)`` absorbing the noise, and an
  objective that can exceed the exact log marginal likelihood, so that even
  with ``M = n`` its optimum need not be the full GP (``Z = X``); it overfits.

The approximate *model* is in every case the Gaussian ``N(m, Q_nn + Λ)`` with
``Λ = diag(σ²)`` (VFE, DTC) or ``diag(σ² + k_ii − q_ii)`` (FITC):
``sample`` draws from it (a rank-``M`` function plus noise, not the exact
prior), ``pointwise_log_prob`` gives its exact leave-one-out densities (the
VFE trace term is a variational penalty, not a likelihood term, and has no
pointwise share), and ``condition`` gives its posterior predictive
(Titsias 2009 eq. 6 / Quiñonero-Candela & Rasmussen 2005):

    mean  = m(X*) + K_*m Σ K_mn Λ⁻¹ (y − m),  Σ = (K_mm + K_mn Λ⁻¹ K_nm)⁻¹,
    cov   = K_** − Q_** + K_*m Σ K_m*,

computed as ``W = L_B⁻¹ L⁻¹ K_m*``: ``mean = Wᵀ c``, ``cov = K_** − V_*ᵀV_* + WᵀW``.
The exact GP's ``K_**`` enters the predictive covariance for all three bounds.

Options: ``inducing`` (required, ``(M, d)`` or ``(M,)`` for 1-D inputs),
``bound`` (``"vfe"``, ``"dtc"``, ``"fitc"``), ``jitter`` (relative, on
``K_mm``), ``chunk_size`` (columns of ``K_mn`` per block). The noise must be
positive (scalar or per point).

Note: ``GaussianProcess.covariance_matrix`` / ``.variance`` remain those of
the exact model; the approximate covariance is ``Q_nn + Λ``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from bayeskern._checks import is_concrete
from bayeskern.features.nystrom import landmark_cholesky
from bayeskern.gp.posterior import (
    GaussianPrediction,
    mean_at,
    prediction_inputs,
    prediction_noise,
)
from bayeskern.kernels import Kernel

BOUNDS = ("vfe", "dtc", "fitc")
OPTIONS = ("inducing", "bound", "jitter", "chunk_size")
DEFAULT_CHUNK = 4096

_HINT = (
    "pass inducing=Z with Z an (M, d) array of inducing inputs, e.g. "
    "Z = bayeskern.gp.svgp.select_inducing(X, M, seed=0) (k-means++ over the inputs) or a random subset of X"
)


# -------------------------------------------------------------- options
def _inducing(process):
    Z = process.option_arrays.get("inducing", process.options.get("inducing"))
    return None if Z is None else jnp.asarray(Z)


def applicable(process):
    """None when the options describe a valid sparse GP, else why not (always names the option)."""
    unknown = sorted((set(process.options) | set(process.option_arrays)) - set(OPTIONS))
    if unknown:
        return f"unknown option(s) {unknown} for structure='sgpr'; its options are {list(OPTIONS)}"
    Z = _inducing(process)
    d = process.X.shape[1]
    if Z is None:
        return f"structure='sgpr' needs inducing inputs: {_HINT}"
    if not (Z.ndim == 2 and Z.shape[1] == d and Z.shape[0] >= 1) and not (Z.ndim == 1 and d == 1 and Z.shape[0] >= 1):
        return (f"inducing must have shape (M, {d}) to match the {d} input dimension(s) of X"
                f"{' (or (M,) for 1-D inputs)' if d == 1 else ''}, got shape {Z.shape}")
    if is_concrete(Z) and not np.all(np.isfinite(np.asarray(Z))):
        return "inducing contains NaN or infinite values"
    bound = process.options.get("bound", "vfe")
    if bound not in BOUNDS:
        return f"bound must be one of {BOUNDS}, got {bound!r}"
    jitter = process.options.get("jitter")
    if jitter is not None and not (isinstance(jitter, (int, float)) and 0 <= jitter < 1):
        return f"jitter must be a relative jitter in [0, 1), got {jitter!r}"
    chunk = process.options.get("chunk_size", DEFAULT_CHUNK)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        return f"chunk_size must be a positive integer, got {chunk!r}"
    if is_concrete(process.noise) and not np.all(np.asarray(process.noise) > 0):
        return "the sgpr back end needs a positive observation-noise variance (noise=...), got noise=0 or None"
    return None


class _Setup:
    """Everything about a process that does not depend on the observations."""

    def __init__(self, process):
        self.process = process
        self.kernel = process.kernel
        self.X = process.X
        self.n = process.X.shape[0]
        Z = _inducing(process)
        self.Z = Z[:, None] if Z.ndim == 1 else Z
        if not jnp.issubdtype(self.Z.dtype, jnp.floating):
            self.Z = self.Z.astype(self.X.dtype)
        self.M = self.Z.shape[0]
        self.bound = process.options.get("bound", "vfe")
        self.chunk = int(process.options.get("chunk_size", DEFAULT_CHUNK))
        self.L = landmark_cholesky(self.kernel, self.Z, jitter=process.options.get("jitter"),
                                   name="inducing-point kernel matrix K_mm")
        self.noise = jnp.broadcast_to(process.noise, (self.n,)).astype(self.X.dtype)

    def block(self, Xc, noise_c):
        """``V`` ``(M, c)``, ``λ`` ``(c,)`` and ``k_ii − q_ii`` ``(c,)`` for a block of inputs."""
        V = solve_triangular(self.L, self.kernel(self.Z, Xc), lower=True)
        gap = jnp.maximum(self.kernel.diag(Xc) - jnp.sum(V * V, axis=0), 0.0)
        lam = noise_c + gap if self.bound == "fitc" else noise_c
        return V, lam, gap


# ---------------------------------------------------------- chunking
def _padded_blocks(chunk, n, *arrays):
    """Arrays ``(n, ...)`` padded to a multiple of ``chunk`` and reshaped ``(blocks, chunk, ...)``, plus a mask."""
    blocks = -(-n // chunk)
    pad = blocks * chunk - n
    out = []
    for a, fill in arrays:
        if pad:
            a = jnp.concatenate([a, jnp.broadcast_to(fill, (pad,) + a.shape[1:]).astype(a.dtype)], axis=0)
        out.append(a.reshape((blocks, chunk) + a.shape[1:]))
    mask = (jnp.arange(blocks * chunk) < n).reshape(blocks, chunk)
    return out, mask


def _statistics(setup: _Setup, R):
    """Sums over data points, ``R`` ``(n, k)`` residual columns.

    Returns ``(AAᵀ (M, M), b = A Λ^{-1/2} R (M, k), Σ r²/λ (k,), Σ log λ, Σ (k_ii − q_ii)/σ_i²)``.
    """

    def block_sums(Xc, noise_c, Rc, mask_c):
        V, lam, gap = setup.block(Xc, noise_c)
        w = jnp.where(mask_c, 1.0 / lam, 0.0)
        Vw = V * w
        return (Vw @ V.T, Vw @ Rc, jnp.sum(w[:, None] * Rc * Rc, axis=0),
                jnp.sum(jnp.where(mask_c, jnp.log(lam), 0.0)),
                jnp.sum(jnp.where(mask_c, gap / noise_c, 0.0)))

    n = setup.n
    if n <= setup.chunk:
        return block_sums(setup.X, setup.noise, R, jnp.ones((n,), bool))
    (Xb, noise_b, Rb), mask = _padded_blocks(
        setup.chunk, n, (setup.X, setup.X[0]), (setup.noise, 1.0), (R, 0.0))

    @jax.checkpoint
    def body(carry, xs):
        parts = block_sums(*xs)
        return tuple(c + p for c, p in zip(carry, parts, strict=True)), None

    M, k = setup.M, R.shape[1]
    dt = setup.X.dtype
    init = (jnp.zeros((M, M), dt), jnp.zeros((M, k), dt), jnp.zeros((k,), dt), jnp.zeros((), dt), jnp.zeros((), dt))
    sums, _ = jax.lax.scan(body, init, (Xb, noise_b, Rb, mask))
    return sums


def _per_point(setup: _Setup, fn, *arrays):
    """``fn(V, λ, *array_blocks)`` over blocks of data points, concatenated to ``(n, ...)``."""
    n = setup.n
    if n <= setup.chunk:
        V, lam, _ = setup.block(setup.X, setup.noise)
        return fn(V, lam, *arrays)
    blocks, _ = _padded_blocks(setup.chunk, n, (setup.X, setup.X[0]), (setup.noise, 1.0),
                               *[(a, 0.0) for a in arrays])

    def one(xs):
        Xc, noise_c, *rest = xs
        V, lam, _ = setup.block(Xc, noise_c)
        return fn(V, lam, *rest)

    out = jax.lax.map(one, tuple(blocks))
    return out.reshape((-1,) + out.shape[2:])[:n]


def _columns(process, value):
    """Residuals ``value − m`` ``(..., n)`` as columns ``(n, k)`` and the batch shape."""
    resid = value - process.loc
    batch = resid.shape[:-1]
    return resid.reshape(-1, resid.shape[-1]).T, batch


def _factor_B(AAt):
    M = AAt.shape[0]
    return jnp.linalg.cholesky(jnp.eye(M, dtype=AAt.dtype) + AAt)


# ---------------------------------------------------------- interface
def log_prob(process, value):
    """The chosen ``bound`` (default VFE: a lower bound on the exact log marginal likelihood), ``(..., n) -> (...)``.

    Under ``jit`` a ``K_mm`` that is not numerically positive definite gives ``-inf``.
    """
    setup = _Setup(process)
    R, batch = _columns(process, value)
    AAt, b, r2, logdet_lam, trace = _statistics(setup, R)
    LB = _factor_B(AAt)
    c = solve_triangular(LB, b, lower=True)
    quad = r2 - jnp.sum(c * c, axis=0)
    logdet = logdet_lam + 2.0 * jnp.sum(jnp.log(jnp.diagonal(LB)))
    out = -0.5 * (setup.n * math.log(2 * math.pi) + logdet + quad)
    if setup.bound == "vfe":
        out = out - 0.5 * trace
    out = jnp.where(jnp.isfinite(out), out, -jnp.inf)
    return out.reshape(batch)


def pointwise_log_prob(process, value):
    """Exact leave-one-out log densities of the approximate Gaussian ``N(m, Q_nn + Λ)``, ``(..., n)``.

    ``diag((Q_nn + Λ)⁻¹)`` and ``(Q_nn + Λ)⁻¹ r`` come from Woodbury in
    ``O(n M²)``; then R&W eqs. 5.10-5.12. For ``bound="vfe"`` the trace term of
    the bound is a variational penalty, not part of any likelihood, and is not
    spread over the points.
    """
    setup = _Setup(process)
    R, batch = _columns(process, value)
    AAt, b, _, _, _ = _statistics(setup, R)
    LB = _factor_B(AAt)
    c = solve_triangular(LB, b, lower=True)  # (M, k)

    def terms(V, lam, Rc):
        s = 1.0 / jnp.sqrt(lam)
        G = solve_triangular(LB, V * s, lower=True)  # L_B⁻¹ A  (M, c)
        diag_inv = (1.0 - jnp.sum(G * G, axis=0)) / lam  # diag of (Q + Λ)⁻¹
        alpha = Rc / lam[:, None] - s[:, None] * (G.T @ c)
        var = 1.0 / diag_inv
        return -0.5 * (jnp.log(2 * math.pi * var)[:, None] + alpha * alpha * var[:, None])

    out = _per_point(setup, terms, R)  # (n, k)
    return out.T.reshape(batch + (setup.n,))


def sample(process, key, sample_shape):
    """Draws ``sample_shape + (n,)`` from the approximate model ``N(m, Q_nn + Λ)`` (rank-``M`` signal plus noise)."""
    setup = _Setup(process)
    num = int(math.prod(sample_shape)) if sample_shape else 1
    k_u, k_e = jax.random.split(key)
    eps_u = jax.random.normal(k_u, (setup.M, num), setup.X.dtype)
    eps_n = jax.random.normal(k_e, (setup.n, num), setup.X.dtype)

    def draws(V, lam, e):
        return V.T @ eps_u + jnp.sqrt(lam)[:, None] * e

    out = _per_point(setup, draws, eps_n)  # (n, num)
    return (process.loc + out.T).reshape(tuple(sample_shape) + (setup.n,))


def condition(process, y):
    """A :class:`SparsePosterior` (one pass over the data; each ``at`` costs ``O(M² m)``)."""
    return SparsePosterior(process, y)


class SparsePosterior:
    """The SGPR posterior predictive: ``O(n M²)`` once, then ``O(M² m)`` per ``at``.

    Attributes:
        process: the prior ``GaussianProcess``.
        L: Cholesky factor of the jittered ``K_mm``.
        LB: Cholesky factor of ``B = I + A Aᵀ``.
        c: ``L_B⁻¹ A Λ^{-1/2} (y − m)`` ``(M,)``.
    """

    def __init__(self, process, y):
        setup = _Setup(process)
        self.process = process
        self.Z = setup.Z
        self.L = setup.L
        R, _ = _columns(process, y)
        AAt, b, _, _, _ = _statistics(setup, R)
        self.LB = _factor_B(AAt)
        self.c = solve_triangular(self.LB, b, lower=True)[:, 0]

    @property
    def inducing_mean(self):
        """Posterior mean of ``u = f(Z)`` (without the prior mean), ``(M,)``: ``L L_B⁻ᵀ c``."""
        return self.L @ solve_triangular(self.LB, self.c, lower=True, trans="T")

    def at(self, X_new, *, kernel: Kernel | None = None, include_noise: bool = False, noise_new=None):
        """Predictive distribution of ``f(X_new)`` (or of one additive ``kernel`` component); see ``GPPosterior.at``.

        For a component ``k_c`` of a sum kernel the inducing variables stay
        those of the whole function, so the cross-covariances use ``k_c(X*, Z)``
        and the prior covariance ``k_c(X*, X*)``.
        """
        proc = self.process
        Xn = prediction_inputs(proc, X_new)
        component = kernel is not None
        k = kernel if component else proc.kernel
        Vs = solve_triangular(self.L, k(self.Z, Xn), lower=True)
        Ws = solve_triangular(self.LB, Vs, lower=True)
        prior_mean = jnp.zeros(Xn.shape[0]) if component else mean_at(proc, X_new)
        extra = prediction_noise(proc, Xn.shape[0], include_noise, noise_new)
        return SparseConditionedGP(prior_mean + Ws.T @ self.c, k, Xn, Vs, Ws, extra)


class SparseConditionedGP(GaussianPrediction):
    """Gaussian ``f(X_new) | y`` under SGPR: mean ``(m,)``, covariance ``K_** − VᵀV + WᵀW``.

    ``mean`` and ``variance`` cost ``O(M m)`` memory; ``covariance_matrix``,
    ``sample`` and ``log_prob`` form the ``(m, m)`` matrix.
    """

    pytree_data_fields = ("kernel", "X_new", "V", "W")

    def __init__(self, loc, kernel, X_new, V, W, extra_noise=None, validate_args=None):
        self.kernel = kernel
        self.X_new = X_new
        self.V = V
        self.W = W
        super().__init__(loc, extra_noise, validate_args)

    def _posterior_variance(self):
        return self.kernel.diag(self.X_new) - jnp.sum(self.V * self.V, axis=0) + jnp.sum(self.W * self.W, axis=0)

    def _posterior_covariance(self):
        return self.kernel(self.X_new) - self.V.T @ self.V + self.W.T @ self.W
