"""Newton mode of a latent Gaussian field and the Laplace log marginal with an implicit gradient.

For ``f ~ N(m, K)`` and a factorised log likelihood ``ℓ(f) = Σ_i log p(y_i | f_i, φ)``
the Laplace approximation of the log marginal likelihood is (Rasmussen &
Williams 2006, eq. 3.32 / 5.20)

    log Z ≈ ℓ(f̂) - ½ (f̂ - m)ᵀ K⁻¹ (f̂ - m) - ½ log|I + K W|,   W = -∇²ℓ(f̂) (diagonal)

at the mode ``f̂``. We work in whitened coordinates ``f = m + L u`` with
``K = L Lᵀ``: the Newton system is ``A = I + Lᵀ W L`` and ``log|I + K W| = log|A|``.
For ``W ≥ 0`` this ``A`` has the eigenvalues of R&W's ``B = I + W½ K W½``
(Alg. 3.1/5.1), so it is as well conditioned; unlike ``B`` it needs no
``W½`` and stays valid when ``W`` has negative entries (Student-t, any
non-log-concave likelihood), as long as the posterior precision
``K⁻¹ + W`` is positive definite at the mode.

The Newton direction ``A⁻¹ ∇Ψ`` is solved in ``f``-space through the posterior
precision ``Q = K⁻¹ + W`` (:func:`precision_solver`; ``A`` itself for a
low-rank factor): at the prior variances NUTS proposes while it adapts (1e12
to 1e72, measured on a Cox process) ``A`` and Woodbury through ``B`` lose
every digit, ``Q`` does not.

Non-log-concave likelihoods: a Newton step uses the true ``Q`` (or ``A``) when
its Cholesky factor exists and otherwise ``K⁻¹ + max(W, 0)`` (``A⁺ = I + Lᵀ
max(W, 0) L``; a Fisher-like, always positive-definite model: an ascent
direction), and every step is backtracked until the objective increases. At
the final mode the true ``A`` must be positive definite, else the log marginal
is ``-inf`` (a NUTS proposal there is rejected; never NaN).

Gradients: ``log_marginal`` has a custom VJP from the implicit function
theorem (R&W eqs. 5.22-5.23 extended to a mean and to likelihood parameters);
the Newton loop is a ``lax.while_loop`` and is never differentiated.

Convergence: the search starts at the prior mean and, if that run does not
converge, restarts once from a data-based start
(:func:`bayeskern.gp.laplace.newton_ascent.data_start`, computed only then). It has
converged when the whitened gradient is below ``tol`` (relative), or when no
step can raise the objective any more, the gradient is within its round-off
floor (:func:`~bayeskern.gp.laplace.newton_ascent.gradient_floor`) and the last Newton
step moves ``f`` by at most ``√tol`` relative (a flat objective with the mode
still far is not a mode). A mode that still has not
converged makes the log marginal ``-inf`` (zero gradient) with a
:class:`~bayeskern.errors.ConvergenceWarning` naming the site, or raises
:class:`~bayeskern.errors.ConvergenceError` when called eagerly: never a
finite value from an unconverged mode.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular

from bayeskern.gp.laplace.newton_ascent import data_start, gradient_floor, newton_ascent
from bayeskern.linalg.cg import guard_convergence
from bayeskern.linalg.triangular import POTRI_MIN_SIZE, inverse_from_cholesky

#: Site name used in convergence messages when a caller gives none.
DEFAULT_SITE = "laplace_marginal"
#: What to change when a mode search fails (part of the ConvergenceWarning/ConvergenceError message).
NEWTON_ADVICE = ("Raise max_iter, give a prior mean near the data's scale (e.g. mean=log(mean count) for counts "
                 "with a log link), or check the scale of the data and of the likelihood's parameters.")


class NewtonInfo(NamedTuple):
    """Convergence record of one mode search (arrays, so it passes through ``jit``/``vmap``).

    Attributes:
        iterations: Newton iterations taken.
        grad_norm: max-abs gradient of the objective (whitened coordinates) at the end.
        converged: ``grad_norm <= tol`` (or no further increase was possible at round-off level).
    """

    iterations: jax.Array
    grad_norm: jax.Array
    converged: jax.Array


class LaplaceMode(NamedTuple):
    """The Laplace Gaussian ``q(f) = N(f̂, (K⁻¹ + W)⁻¹)`` at one hyperparameter value.

    Attributes:
        f: mode ``f̂`` ``(n,)``.
        u: whitened mode ``L⁻¹(f̂ - m)`` ``(n,)``.
        L: ``(n, n)`` lower Cholesky factor of the (jittered) prior covariance.
        C: ``(n, n)`` lower Cholesky factor of ``A = I + Lᵀ W L`` (non-finite if
            the posterior precision is not positive definite).
        W: ``(n,)`` negative second derivatives of the log likelihood at ``f̂``.
        grad: ``(n,)`` first derivatives of the log likelihood at ``f̂``.
        loglik: ``(n,)`` pointwise log likelihood at ``f̂``.
        info: :class:`NewtonInfo`.
    """

    f: jax.Array
    u: jax.Array
    L: jax.Array
    C: jax.Array
    W: jax.Array
    grad: jax.Array
    loglik: jax.Array
    info: NewtonInfo


def derivatives(loglik: Callable, f, consts):
    """Pointwise log likelihood, gradient and ``W = -diag ∇²`` at ``f`` ``(n,)``.

    The likelihood is factorised, so its Hessian is diagonal and equals
    ``∇²ℓ · 1`` (one forward-over-reverse product).
    """
    def total(x):
        return jnp.sum(loglik(x, *consts))

    g_fn = jax.grad(total)
    g, h = jax.jvp(g_fn, (f,), (jnp.ones_like(f),))
    return loglik(f, *consts), g, -h


def third_derivatives(loglik: Callable, f, consts):
    """``∂³ log p(y_i | f_i) / ∂f_i³`` ``(n,)`` (diagonal, as the likelihood is factorised)."""
    ones = jnp.ones_like(f)

    def neg_w(x):
        g_fn = jax.grad(lambda z: jnp.sum(loglik(z, *consts)))
        return jax.jvp(g_fn, (x,), (ones,))[1]

    return jax.jvp(neg_w, (f,), (ones,))[1]


def _chol_A(L, W):
    n = L.shape[1]  # L may be rectangular (n_obs, M): a low-rank whitening f = m + L u, u ∈ R^M
    return jnp.linalg.cholesky(jnp.eye(n, dtype=L.dtype) + L.T @ (W[:, None] * L))


def _objective(loglik, consts, m, L, u):
    return jnp.sum(loglik(m + L @ u, *consts)) - 0.5 * jnp.dot(u, u)


def _step_via_B(K, L, W, gu):
    """``A⁻¹ g`` for ``A = I + Lᵀ W L`` by Woodbury through ``B = I + W½ K W½`` (needs ``W ≥ 0``).

    ``A⁻¹ = I - Lᵀ W½ B⁻¹ W½ L``: one Cholesky of ``B`` (formed elementwise from
    ``K``) and three matrix-vector products, instead of the ``O(n³)`` product
    ``Lᵀ W L`` that forming ``A`` takes (R&W Alg. 3.1 uses ``B`` for this reason).
    """
    n = K.shape[0]
    ws = jnp.sqrt(W)
    LB = jnp.linalg.cholesky(jnp.eye(n, dtype=K.dtype) + ws[:, None] * K * ws[None, :])
    t = ws * jax.scipy.linalg.cho_solve((LB, True), ws * (L @ gu))
    step = gu - L.T @ t
    return step, jnp.all(jnp.isfinite(step))


def find_mode(loglik: Callable, consts: tuple, m, L, *, u0=None, max_iter: int = 100, tol: float = 1e-9,
              max_halvings: int = 30, K=None, final_factor: bool = True, candidates=None,
              restart: bool = True) -> LaplaceMode:
    """Newton's method with backtracking for the mode of ``ℓ(f) + log N(f; m, L Lᵀ)``.

    Args:
        loglik: ``(f (n,), *consts) -> (n,)`` pointwise log likelihood.
        consts: arrays the likelihood depends on (hyperparameters, data).
        m: prior mean ``(n,)``.
        L: lower Cholesky factor ``(n, n)`` of the prior covariance, or any factor
            ``(n, M)`` with ``K = L Lᵀ`` (a low-rank basis: Newton then runs in ``M`` dimensions).
        u0: whitened starting point ``(M,)`` (default zeros: the prior mean).
        max_iter: Newton iteration cap.
        tol: stop when the max-abs whitened gradient ``|Lᵀ∇ℓ - u|`` is below ``tol``
            (relative to ``1 + max|u|``), or when no step can raise the objective any further and
            the gradient is within its round-off floor (:func:`~bayeskern.gp.laplace.newton_ascent.gradient_floor`).
        max_halvings: backtracking cap per step.
        K: the prior covariance ``(n, n)`` with ``K = L Lᵀ`` (square ``L`` only). When given, the
            Newton direction is solved in ``f``-space through the posterior precision
            ``Q = K⁻¹ + W`` (see :func:`precision_solver`), which stays accurate at prior
            scales where ``A = I + Lᵀ W L`` (or Woodbury through ``B = I + W½ K W½``) loses every
            digit (a prior variance of 1e15). Otherwise ``A`` is factored.
        final_factor: compute ``C`` at the mode; ``False`` leaves ``C=None`` for callers that
            factor the posterior precision their own way (``log_marginal``).
        candidates: ``(k, n)`` data-based starting values of ``f`` for the restart (see
            :func:`~bayeskern.gp.laplace.newton_ascent.data_start`), or ``None``.
        restart: restart once from the data-based start when the run from ``u0`` does not converge
            (the start is only computed then).

    Returns:
        :class:`LaplaceMode`.
    """
    u0 = jnp.zeros((L.shape[1],), L.dtype) if u0 is None else u0

    def gradient(u):  # the curvature passed on is (W, ∇ℓ) at f
        _, g, W = derivatives(loglik, m + L @ u, consts)
        return L.T @ g - u, (W, g)

    if K is None:
        def solve_A(r, W):
            C = _chol_A(L, W)
            C = lax.cond(jnp.all(jnp.isfinite(C)), lambda: C, lambda: _chol_A(L, jnp.maximum(W, 0.0)))
            return jax.scipy.linalg.cho_solve((C, True), r)

        def direction(u, gu, curv):
            return solve_A(gu, curv[0])

        def alt():
            f_d, W_d = data_start(loglik, consts, m, jnp.sum(L * L, axis=1), candidates)
            return solve_A(L.T @ (W_d * (f_d - m)), W_d)
    else:
        solve_f, Linv = precision_solver(L)

        def direction(u, gu, curv):
            # the gradient in f, formed directly (not as L⁻ᵀ gu: gu = Lᵀ∇ℓ - u has absolute
            # round-off ε |L|ᵀ|∇ℓ|, which L⁻ᵀ would spread over cells whose own gradient is far smaller)
            W, g = curv
            return Linv @ solve_f(g - Linv.T @ u, W)

        def alt():
            # each cell's own problem with its conditional prior variance 1/(K⁻¹)_ii, not K_ii: with a
            # vast prior variance the cells are nearly independent given the rest, and a zero count's
            # latent value then sits near -log((K⁻¹)_ii⁻¹), far below where the marginal variance puts it
            f_d, W_d = data_start(loglik, consts, m, 1.0 / jnp.sum(Linv * Linv, axis=0), candidates)
            return Linv @ solve_f(W_d * (f_d - m), W_d)
    if not restart:
        alt = None

    abs_L = jnp.abs(L)

    def floor(u, curv):
        W, g = curv
        return gradient_floor(lambda v: abs_L.T @ v, m + L @ u, W, grad=g, f_scale=jnp.abs(m) + abs_L @ jnp.abs(u))

    def step_ok(u, step):  # the step moves f by at most √tol relative: f (hence W) is settled
        return jnp.max(jnp.abs(L @ step)) <= jnp.sqrt(tol) * (1.0 + jnp.max(jnp.abs(m + L @ u)))

    res = newton_ascent(partial(_objective, loglik, consts, m, L), gradient, direction, u0,
                        max_iter=max_iter, tol=tol, max_halvings=max_halvings, restart=alt, grad_floor=floor,
                        step_ok=step_ok)
    u = res.u
    f = m + L @ u
    ll, g, W = derivatives(loglik, f, consts)
    C = _chol_A(L, W) if final_factor else None
    return LaplaceMode(f, u, L, C, W, g, ll, NewtonInfo(res.iterations, res.grad_norm, res.converged))


def precision_solver(L) -> tuple[Callable, jax.Array]:
    """Newton solves of the whitened search in ``f``-space: ``(solve, L⁻¹)``.

    ``solve(r, W) = Q⁻¹ r`` with ``Q = K⁻¹ + W`` the posterior precision (``K = L Lᵀ``); the
    whitened Newton step ``A⁻¹ g`` (``A = I + Lᵀ W L``) is ``L⁻¹ Q⁻¹ r`` with
    ``r = L⁻ᵀ g = ∇ℓ - K⁻¹(f - m)`` the gradient in ``f``. Why not ``A`` or Woodbury through
    ``B = I + W½ K W½``: both carry the prior scale: ``A``'s condition number is about
    ``1 + n · var · max W`` and Woodbury's ``g - Lᵀ W½ B⁻¹ W½ L g`` cancels terms of that relative
    size, so a prior variance of 1e15 (which NUTS's step-size search does propose) leaves no correct
    digit and the search stalls at its first step. ``Q``'s Cholesky factor is as accurate as that
    of its diagonally scaled form, whose condition number does not grow with the variance. When
    ``Q`` is not positive definite (``W`` with negative entries) the solve uses ``K⁻¹ + max(W, 0)``
    (an ascent direction, as ``A⁺`` gives).

    Args:
        L: lower Cholesky factor ``(n, n)`` of the prior covariance. ``K⁻¹`` is formed once,
            from ``L⁻¹`` (:func:`triangular_inverse`).
    """
    Linv = triangular_inverse(L)
    Kinv = Linv.T @ Linv

    def chol_Q(W):
        return jnp.linalg.cholesky(Kinv + jnp.diag(W))

    def solve(r, W):
        C = chol_Q(W)
        C = lax.cond(jnp.all(jnp.isfinite(C)), lambda: C, lambda: chol_Q(jnp.maximum(W, 0.0)))
        return jax.scipy.linalg.cho_solve((C, True), r)

    return solve, Linv


#: Column block of :func:`triangular_inverse`'s base case.
TRI_BLOCK = 8


def triangular_inverse(L):
    """``L⁻¹`` ``(n, n)`` of a lower-triangular ``L``, by recursive 2 x 2 blocks.

    ``[[A, 0], [C, D]]⁻¹ = [[A⁻¹, 0], [-D⁻¹ C A⁻¹, D⁻¹]]``, down to blocks of at most
    ``TRI_BLOCK`` rows solved against the identity: the work is matrix products in XLA and
    ``8 x 8`` triangular solves (from ``POTRI_MIN_SIZE`` rows: one solve against the identity).
    A single LAPACK ``trsm`` against the ``n x n`` identity is
    threaded by OpenBLAS (the LAPACK JAX calls on CPU) from about 20 columns, and on a loaded
    2-core machine its threads' spin-waits cost 50-200x the arithmetic (measured: ``n = 56``,
    8 ms instead of 0.04 ms per call; ``OPENBLAS_NUM_THREADS=1`` removes it too).
    """
    n = L.shape[-1]
    if n <= TRI_BLOCK or n >= POTRI_MIN_SIZE:  # large: one threaded trsm pays off
        return solve_triangular(L, jnp.eye(n, dtype=L.dtype), lower=True)
    h = n // 2
    Ai = triangular_inverse(L[:h, :h])
    Di = triangular_inverse(L[h:, h:])
    lower = -(Di @ (L[h:, :h] @ Ai))
    top = jnp.concatenate([Ai, jnp.zeros((h, n - h), L.dtype)], axis=1)
    return jnp.concatenate([top, jnp.concatenate([lower, Di], axis=1)], axis=0)


def spd_inverse(F):
    """``(F Fᵀ)⁻¹`` ``(n, n)``, exactly symmetric, from a lower Cholesky factor ``F``.

    Through :func:`triangular_inverse` below ``POTRI_MIN_SIZE`` (no threaded LAPACK call), else
    :func:`bayeskern.linalg.triangular.inverse_from_cholesky` (LAPACK ``potri``).
    """
    if F.shape[-1] >= POTRI_MIN_SIZE:
        return inverse_from_cholesky(F)
    Fi = triangular_inverse(F)
    S = Fi.T @ Fi
    return 0.5 * (S + S.T)


def log_marginal_at_mode(mode: LaplaceMode):
    """``ℓ(f̂) - ½ uᵀu - Σ log diag C``: the Laplace log marginal (``-inf`` if ``A`` is not PD)."""
    logdet_half = jnp.sum(jnp.log(jnp.diagonal(mode.C)))
    value = jnp.sum(mode.loglik) - 0.5 * jnp.dot(mode.u, mode.u) - logdet_half
    return jnp.where(jnp.isfinite(value), value, -jnp.inf)


def posterior_covariance(mode: LaplaceMode):
    """``Σ = (K⁻¹ + W)⁻¹ = L A⁻¹ Lᵀ`` ``(n, n)``."""
    V = triangular_inverse(mode.C) @ mode.L.T
    return V.T @ V


def split_options(options: tuple) -> tuple[int, float, str]:
    """``(max_iter, tol)`` or ``(max_iter, tol, site)`` -> ``(max_iter, tol, site)``."""
    max_iter, tol, *rest = options
    return int(max_iter), float(tol), str(rest[0]) if rest else DEFAULT_SITE


def guard_mode(value, info: NewtonInfo, site: str, tol: float, solver: str = "Newton mode search"):
    """``value`` where the mode search converged, else ``-inf`` with a ConvergenceWarning (ConvergenceError
    when eager) naming ``site``, the iterations and the final gradient norm.

    Inside a trace the warning's host callback sits in the failing branch of a ``lax.cond``, so a
    converged search (outside ``vmap``) makes no host round trip: that callback costs about as much
    as the whole log density and gradient of a 56-cell Cox model (0.6 of 1.1 ms, measured).
    """
    def guarded():
        return guard_convergence(value, info.converged, solver=solver, site=site, advice=NEWTON_ADVICE,
                                 stats={"iterations": info.iterations, "final gradient norm": info.grad_norm,
                                        "tol": jnp.asarray(tol)})

    converged = jnp.all(info.converged)
    if not isinstance(converged, jax.core.Tracer):
        return guarded()  # eager: raises ConvergenceError when not converged
    value = jnp.asarray(value)
    return lax.cond(converged, lambda: value, lambda: jnp.asarray(guarded(), value.dtype))


@partial(jax.custom_vjp, nondiff_argnums=(0, 4))
def log_marginal(loglik: Callable, K, m, consts: tuple, options: tuple, candidates=None):
    """Laplace log marginal ``log Z(K, m, consts)`` with an implicit-function-theorem VJP.

    Args:
        loglik: ``(f, *consts) -> (n,)`` pointwise log likelihood (closure-converted:
            every traced value it needs is in ``consts``).
        K: ``(n, n)`` prior covariance (jitter already added).
        m: ``(n,)`` prior mean.
        consts: tuple of arrays (likelihood parameters and data).
        options: ``(max_iter, tol)`` or ``(max_iter, tol, site)`` (``site`` names the model site in
            convergence messages).
        candidates: ``(k, n)`` data-based starting values for the restart (no gradient), or ``None``.

    Returns:
        Scalar; ``-inf`` where the posterior precision is not positive definite, and ``-inf`` with a
        :class:`~bayeskern.errors.ConvergenceWarning` where the mode search did not converge.

    Raises:
        ConvergenceError: the mode search did not converge and the call is eager (concrete values).
    """
    mode, _, F = _mode(loglik, K, m, consts, options, candidates)
    _, tol, site = split_options(options)
    return guard_mode(_value(mode, F), mode.info, site, tol)


def compiled_log_marginal(loglik: Callable, K, m, consts: tuple, options: tuple, candidates=None):
    """:func:`log_marginal` run as one compiled program, with the same value, gradient and guard.

    Called eagerly (concrete arguments, e.g. a data check before sampling) or under eager
    autodiff (NumPyro's first, un-jitted evaluation of the potential and its gradient at each
    chain's start), the Newton loops would otherwise run op by op, and each ``lax.while_loop``
    is compiled anew on every such call: about a second per evaluation, never kept by JAX's
    persistent compilation cache (each piece compiles under its threshold). As one ``jit`` the
    program compiles once per call site and shape, and the persistent cache keeps it. Under an
    outer ``jit`` (NUTS) it is inlined. With concrete arguments an unconverged mode search raises
    :class:`~bayeskern.errors.ConvergenceError`, as :func:`log_marginal` does.

    Args: as :func:`log_marginal`.
    """
    if isinstance(jnp.zeros(()), jax.core.Tracer):
        # inside jit (every operation is staged): already one program; and ``loglik`` may close over
        # the enclosing trace's integer tracers (closure conversion hoists only float ones)
        return log_marginal(loglik, K, m, consts, options, candidates)
    leaves = jax.tree_util.tree_leaves((K, m, consts, candidates))
    if not any(isinstance(x, jax.core.Tracer) for x in leaves):
        value, info = _value_and_info(loglik, options, K, m, consts, candidates)
        _, tol, site = split_options(options)
        return guard_mode(value, info, site, tol)  # eager: raises when not converged
    return _log_marginal_jit(loglik, K, m, consts, options, candidates)


@partial(jax.jit, static_argnums=(0, 1))
def _value_and_info(loglik, options, K, m, consts, candidates):
    mode, _, F = _mode(loglik, K, m, consts, options, candidates)
    return _value(mode, F), mode.info


def _mode(loglik, K, m, consts, options, candidates=None):
    max_iter, tol, _ = split_options(options)
    L = jnp.linalg.cholesky(K)
    cand = None if candidates is None else lax.stop_gradient(candidates)
    mode = find_mode(loglik, consts, m, L, max_iter=max_iter, tol=tol, K=K, final_factor=False, candidates=cand)
    use_b, F = _precision_factor(mode, K)
    return mode, use_b, F


def _precision_factor(mode, K):
    """Cholesky factor of ``B = I + W½ K W½`` when ``W ≥ 0``, else of ``A = I + Lᵀ W L``.

    Both have determinant ``|I + K W|``; ``B`` is formed elementwise, ``A`` needs an
    ``O(n³)`` product, so ``A`` is only used where ``W`` has negative entries.
    Returns ``(use_b, factor)``.
    """
    W = mode.W
    use_b = jnp.all(W >= 0)

    def factor_b():
        ws = jnp.sqrt(jnp.maximum(W, 0.0))
        return jnp.linalg.cholesky(jnp.eye(K.shape[0], dtype=K.dtype) + ws[:, None] * K * ws[None, :])

    return use_b, lax.cond(use_b, factor_b, lambda: _chol_A(mode.L, W))


def _value(mode, F):
    value = jnp.sum(mode.loglik) - 0.5 * jnp.dot(mode.u, mode.u) - jnp.sum(jnp.log(jnp.diagonal(F)))
    return jnp.where(jnp.isfinite(value) & mode.info.converged, value, -jnp.inf)


def _posterior_terms(mode, K, use_b, F, third):
    """``diag Σ``, ``Σ s₂`` and ``R = (W⁻¹ + K)⁻¹`` for ``Σ = (K⁻¹ + W)⁻¹``, ``s₂ = ½ diag Σ · ∂³ℓ``.

    With ``W ≥ 0``: ``R = W½ B⁻¹ W½`` and ``Σ = K - K R K`` (an inverse from the
    factor and one product). Otherwise ``Σ = L A⁻¹ Lᵀ`` and ``R = W - W Σ W``.
    """
    W = mode.W

    def via_b():
        ws = jnp.sqrt(jnp.maximum(W, 0.0))
        R = ws[:, None] * spd_inverse(F) * ws[None, :]
        KR = K @ R
        dS = jnp.diagonal(K) - jnp.sum(KR * K, axis=1)
        s2 = 0.5 * dS * third
        Ks2 = K @ s2
        return dS, Ks2 - KR @ Ks2, R

    def via_a():
        V = triangular_inverse(F) @ mode.L.T
        S = V.T @ V
        dS = jnp.diagonal(S)
        R = jnp.diag(W) - W[:, None] * S * W[None, :]  # valid for any sign of W
        return dS, S @ (0.5 * dS * third), R

    return lax.cond(use_b, via_b, via_a)


def _fwd(loglik, K, m, consts, options, candidates=None):
    mode, use_b, F = _mode(loglik, K, m, consts, options, candidates)
    _, tol, site = split_options(options)
    return guard_mode(_value(mode, F), mode.info, site, tol), (mode, K, use_b, F, consts, candidates)


def _bwd(loglik, options, res, gbar):
    mode, K, use_b, F, consts, candidates = res
    W = mode.W
    a = solve_triangular(mode.L.T, mode.u, lower=False)  # K⁻¹(f̂ - m)
    # ∂ log Z / ∂ f̂ through W(f̂) only (the rest is stationary): R&W eq. 5.23's s2.
    third = third_derivatives(loglik, mode.f, consts)
    dS, Ss2, R = _posterior_terms(mode, K, use_b, F, third)
    s2 = 0.5 * dS * third
    b = s2 - W * Ss2  # (I + W K)⁻¹ s2
    Kbar = 0.5 * jnp.outer(a, a) - 0.5 * R + 0.5 * (jnp.outer(b, a) + jnp.outer(a, b))
    mbar = a + b

    def parts(c):
        ll, g, Wc = derivatives(loglik, mode.f, c)
        return jnp.sum(ll), Wc, g

    _, vjp = jax.vjp(parts, consts)
    (cbar,) = vjp((jnp.ones_like(gbar), -0.5 * dS, Ss2))
    cbar = jax.tree_util.tree_map(lambda x: x * gbar if jnp.issubdtype(x.dtype, jnp.inexact) else x, cbar)
    finite = jnp.isfinite(_value(mode, F))
    # Outside the log marginal's domain its value is -inf; give a zero (not NaN) gradient there.
    Kbar = jnp.where(finite, gbar * Kbar, 0.0)
    mbar = jnp.where(finite, gbar * mbar, 0.0)
    cbar = jax.tree_util.tree_map(
        lambda x: jnp.where(finite, x, 0.0) if jnp.issubdtype(x.dtype, jnp.inexact) else x, cbar
    )
    return Kbar, mbar, cbar, jax.tree_util.tree_map(jnp.zeros_like, candidates)


log_marginal.defvjp(_fwd, _bwd)

_log_marginal_jit = jax.jit(log_marginal, static_argnums=(0, 4))
