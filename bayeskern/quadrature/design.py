"""Point selection for BQ: acquisitions optimised by gradient from many starts, batches, baselines.

Acquisitions, for a kernel ``k``, measure ``π`` and current points ``X``
(none depends on the function values, so batches are exact greedy designs):

* ``"ivr"`` integral-variance reduction: ``(z(x) - k(x,X)K⁻¹z)² / σ²(x)``,
  the drop in ``Var[F]`` from adding ``x``;
* ``"us"`` uncertainty sampling: ``σ²(x) · p(x)²`` (posterior variance of the
  integrand ``f·p``; ``p`` the measure's density);
* ``"mi"`` mutual information between ``F`` and ``f(x)``: ``-½ log(1 - ρ²(x))``
  with ``ρ²`` the squared posterior correlation.

Each is maximised by Adam (optax) in the measure's unconstrained coordinates
from ``starts`` scrambled-Sobol starting points, vectorised with ``vmap``
and compiled with ``jit``. Baselines: :func:`~bayeskern.quadrature.monte_carlo`,
:func:`~bayeskern.quadrature.sobol` and :func:`kernel_herding` (greedy MMD
minimisation; :func:`mmd` measures any equal- or BQ-weighted rule).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optax

from bayeskern._counts import as_count
from bayeskern.linalg import cholesky
from bayeskern.quadrature.embeddings import embed
from bayeskern.quadrature.measures import Empirical, Measure
from bayeskern.quadrature.qmc import sobol

ACQUISITIONS = ("ivr", "us", "mi")


def acquisition(kind: str, kernel, measure: Measure, X, *, noise: float = 0.0, mask=None):
    """The acquisition ``a(x)`` as a JAX function of one point ``x`` ``(d,)`` (larger is better).

    Args:
        kind: ``"ivr"``, ``"us"`` or ``"mi"``.
        kernel, measure: the BQ model.
        X: current points ``(n, d)`` (may be empty, shape ``(0, d)``).
        noise: evaluation-noise variance (enters ``σ²`` for ``"mi"``).
        mask: ``(n,)`` booleans, False for padding rows of ``X`` that are ignored
            (lets one compiled acquisition serve designs of growing size).
    """
    if kind not in ACQUISITIONS:
        raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {kind!r}")
    X = jnp.asarray(X).reshape(-1, measure.dim)
    n = X.shape[0]
    keep = jnp.ones((n,), bool) if mask is None else jnp.asarray(mask, bool)
    initial = embed(kernel, measure, jnp.zeros((1, measure.dim)), warn=False).initial
    if n:
        # Padding rows get a unit diagonal and zero covariances: the factor is block-diagonal,
        # so they drop out of every solve below exactly.
        both = keep[:, None] & keep[None, :]
        K = jnp.where(both, kernel(X) + noise * jnp.eye(n), jnp.eye(n))
        L = cholesky(K, name="k(X, X)")
        z_X = jnp.where(keep, embed(kernel, measure, X, warn=False).z, 0.0)
        A = jax.scipy.linalg.solve_triangular(L, z_X, lower=True)
        var_F = jnp.maximum(initial - A @ A, 0.0)
    else:
        var_F = initial

    def parts(x):
        x = x[None, :]
        zx = embed(kernel, measure, x, warn=False).z[0]
        kxx = kernel.diag(x)[0]
        if n:
            kx = jnp.where(keep, kernel(X, x)[:, 0], 0.0)
            b = jax.scipy.linalg.solve_triangular(L, kx, lower=True)
            return zx - b @ A, jnp.maximum(kxx - b @ b, 1e-300)
        return zx, kxx

    def a(x):
        cov, var = parts(x)
        if kind == "ivr":
            return cov**2 / (var + noise)
        if kind == "us":
            return var * measure.density(x[None, :])[0] ** 2
        rho2 = cov**2 / ((var + noise) * jnp.maximum(var_F, 1e-300))
        return -0.5 * jnp.log1p(-jnp.clip(rho2, 0.0, 1.0 - 1e-12))

    return a


def maximize(acq, measure: Measure, *, starts: int = 16, steps: int = 100, learning_rate: float = 0.05, seed: int = 0):
    """Maximise ``acq`` over the measure's support by multi-start Adam; returns ``(x_best (d,), value)``.

    Starts are scrambled-Sobol points of the measure (their values are
    compared with the optimised ones, so the result is never worse than the
    best start). An :class:`Empirical` measure is searched exhaustively.
    """
    starts, steps = as_count(starts, "starts"), as_count(steps, "steps", minimum=0)
    if isinstance(measure, Empirical):
        vals = jax.vmap(acq)(measure.points)
        i = int(jnp.argmax(vals))
        return measure.points[i], vals[i]
    U0 = measure.to_unconstrained(sobol(measure, starts, seed=seed))
    # A closure: compiled per call. Repeated designs use :func:`multistart` with a module-level factory.
    return multistart(lambda: acq, (), measure, U0, steps, learning_rate)


def _named(kind, kernel, measure, X, mask, noise):
    return acquisition(kind, kernel, measure, X, noise=noise, mask=mask)


# One factory object per kind, created once, so jit's cache (keyed on the static factory) is reused.
_FACTORIES = {kind: partial(_named, kind) for kind in ACQUISITIONS}


@partial(jax.jit, static_argnames=("make", "steps", "learning_rate"))
def multistart(make, args, measure, U0, steps: int = 100, learning_rate: float = 0.05):
    """Jitted multi-start Adam on the acquisition ``make(*args)``; returns ``(x_best (d,), value)``.

    ``make`` is a module-level function (static: it keys the compilation
    cache); ``args`` (kernels, padded points, masks) and the starts ``U0``
    ``(s, d)`` (unconstrained) are traced, so one compilation serves every
    call with the same shapes (a closure would recompile each time).
    """
    acq = make(*args)
    opt = optax.adam(learning_rate)
    loss = lambda u: -acq(measure.from_unconstrained(u))  # noqa: E731

    def one(u):
        def step(carry, _):
            u, s = carry
            g = jax.grad(loss)(u)
            g = jnp.where(jnp.isfinite(g), g, 0.0)
            upd, s = opt.update(g, s, u)
            return (optax.apply_updates(u, upd), s), None

        (u, _), _ = jax.lax.scan(step, (u, opt.init(u)), None, length=steps)
        return u

    cand = jnp.concatenate([U0, jax.vmap(one)(U0)])
    vals = jax.vmap(lambda u: -loss(u))(cand)
    vals = jnp.where(jnp.isfinite(vals), vals, -jnp.inf)
    i = jnp.argmax(vals)
    return measure.from_unconstrained(cand[i]), vals[i]


def pad_points(measure: Measure, X):
    """``(X_padded (m, d), mask (m,))`` with ``m`` the next power of two >= max(8, n).

    Padding rows sit at a fixed point of the support and are masked out, so
    a design that grows one point at a time recompiles only when ``m`` doubles.
    """
    n = X.shape[0]
    size = max(8, 1 << max(n - 1, 0).bit_length())
    fill = jnp.broadcast_to(measure.from_unconstrained(jnp.zeros(measure.dim)), (size - n, measure.dim))
    return jnp.concatenate([X, fill.astype(X.dtype)]), jnp.arange(size) < n


def select_batch(kernel, measure: Measure, X, batch_size: int, *, kind: str = "ivr", noise: float = 0.0,
                 starts: int = 16, steps: int = 100, seed: int = 0):
    """``batch_size`` new points ``(q, d)`` chosen greedily, each conditioned on the ones before.

    Exact for these acquisitions, which depend on where ``f`` was evaluated but
    not on its values.
    """
    X = jnp.asarray(X).reshape(-1, measure.dim)
    batch_size = as_count(batch_size, "batch_size")
    starts, steps = as_count(starts, "starts"), as_count(steps, "steps", minimum=0)
    new = []
    for j in range(batch_size):
        cur = jnp.concatenate([X] + [p[None] for p in new]) if new else X
        if isinstance(measure, Empirical):
            x, _ = maximize(acquisition(kind, kernel, measure, cur, noise=noise), measure)
        else:
            pad, mask = pad_points(measure, cur)
            U0 = measure.to_unconstrained(sobol(measure, starts, seed=seed + j))
            x, _ = multistart(_FACTORIES[kind], (kernel, measure, pad, mask, jnp.asarray(noise, float)), measure,
                              U0, steps, 0.05)
        new.append(x)
    return jnp.stack(new)


def mmd(kernel, measure: Measure, X, weights=None):
    """Maximum mean discrepancy between ``Σ_i w_i δ_{x_i}`` and the measure, in the kernel's RKHS.

    ``MMD² = ∫∫ k dπ dπ - 2 Σ_i w_i z(x_i) + wᵀ k(X, X) w``, from the
    closed-form embedding (QMC fallback otherwise). It bounds the error of the
    rule ``Σ w_i f(x_i)`` for every ``f`` of unit RKHS norm, and equals the BQ
    posterior sd when ``w`` are the BQ weights (zero prior mean).

    Args:
        kernel, measure: the RKHS and the target measure.
        X: points ``(n, d)``.
        weights: ``(n,)``; default ``mass / n`` each (the equal-weight rule of MC, QMC and herding).

    Returns:
        ``()``, the MMD (never negative: a rounding-negative square is clipped at 0).
    """
    X = Measure.check_points(measure, X, "X")
    emb = embed(kernel, measure, X, warn=False)
    w = jnp.full(X.shape[:1], measure.mass / X.shape[0]) if weights is None else jnp.asarray(weights)
    if w.shape != X.shape[:1]:
        raise ValueError(f"weights must have shape ({X.shape[0]},), got {w.shape}")
    sq = emb.initial - 2 * w @ emb.z + w @ kernel(X) @ w
    return jnp.sqrt(jnp.maximum(sq, 0.0))


def kernel_herding(kernel, measure: Measure, num: int, *, candidates: int = 2048, seed: int = 0):
    """Kernel herding (Chen, Welling & Smola 2010) over a candidate set: ``num`` points ``(num, d)``.

    Greedy minimisation of the MMD (:func:`mmd`) of the equal-weight rule
    ``(π(1)/t) Σ_{i≤t} δ_{x_i}`` to the measure, using its kernel mean ``z``:
    ``x_{t+1} = argmax_x z(x) - (π(1)/(t+1)) (Σ_{i≤t} k(x, x_i) + k(x, x)/2)``
    (the exact greedy step; the ``k(x, x)`` term is constant for stationary
    kernels). Candidates are ``candidates`` scrambled-Sobol points of the
    measure (an :class:`Empirical` measure's own points); each is used at most once.

    Args:
        kernel: the kernel defining the MMD (with a closed-form embedding, or QMC is used).
        measure: the target measure.
        num: number of points (at most the number of candidates).
        candidates: size of the Sobol candidate set.
        seed: scrambling seed of the candidates.
    """
    num = as_count(num, "num")
    C = measure.points if isinstance(measure, Empirical) else sobol(measure, as_count(candidates, "candidates"),
                                                                    seed=seed)
    if not 1 <= num <= C.shape[0]:
        raise ValueError(f"num must be between 1 and the number of candidates ({C.shape[0]}), got {num}")
    z = embed(kernel, measure, C, warn=False).z
    half_diag = 0.5 * kernel.diag(C)
    mass = measure.mass

    @jax.jit
    def run(C, z, half_diag, mass):
        def step(carry, t):
            running, taken = carry
            score = z - mass / (t + 1.0) * (running + half_diag)
            i = jnp.argmax(jnp.where(taken, -jnp.inf, score))
            return (running + kernel(C, C[i][None])[:, 0], taken.at[i].set(True)), i

        init = (jnp.zeros_like(z), jnp.zeros(z.shape, bool))
        _, idx = jax.lax.scan(step, init, jnp.arange(num, dtype=z.dtype))
        return idx

    return C[run(C, z, half_diag, mass)]
