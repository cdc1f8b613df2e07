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
:func:`~bayeskern.quadrature.sobol` and :func:`kernel_herding`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayeskern.linalg import cholesky
from bayeskern.quadrature.embeddings import embed
from bayeskern.quadrature.measures import Empirical, Measure
from bayeskern.quadrature.qmc import sobol

ACQUISITIONS = ("ivr", "us", "mi")


def acquisition(kind: str, kernel, measure: Measure, X, *, noise: float = 0.0):
    """The acquisition ``a(x)`` as a JAX function of one point ``x`` ``(d,)`` (larger is better).

    Args:
        kind: ``"ivr"``, ``"us"`` or ``"mi"``.
        kernel, measure: the BQ model.
        X: current points ``(n, d)`` (may be empty, shape ``(0, d)``).
        noise: evaluation-noise variance (enters ``σ²`` for ``"mi"``).
    """
    if kind not in ACQUISITIONS:
        raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {kind!r}")
    X = jnp.asarray(X).reshape(-1, measure.dim)
    n = X.shape[0]
    emb_X = embed(kernel, measure, X, warn=False) if n else None
    initial = embed(kernel, measure, jnp.zeros((1, measure.dim)), warn=False).initial
    if n:
        L = cholesky(kernel(X) + noise * jnp.eye(n), name="k(X, X)")
        A = jax.scipy.linalg.solve_triangular(L, emb_X.z, lower=True)
        var_F = jnp.maximum(initial - A @ A, 0.0)
    else:
        var_F = initial

    def parts(x):
        x = x[None, :]
        zx = embed(kernel, measure, x, warn=False).z[0]
        kxx = kernel.diag(x)[0]
        if n:
            b = jax.scipy.linalg.solve_triangular(L, kernel(X, x)[:, 0], lower=True)
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

    Starts are scrambled-Sobol points of the measure (plus their values
    are compared with the optimised ones, so the result is never worse than
    the best start). An :class:`Empirical` measure is searched exhaustively.
    """
    if isinstance(measure, Empirical):
        vals = jax.vmap(acq)(measure.points)
        i = int(jnp.argmax(vals))
        return measure.points[i], vals[i]
    X0 = sobol(measure, starts, seed=seed)
    U0 = measure.to_unconstrained(X0)
    opt = optax.adam(learning_rate)
    loss = lambda u: -acq(measure.from_unconstrained(u))  # noqa: E731

    @jax.jit
    def run(U):
        def one(u):
            def step(carry, _):
                u, s = carry
                g = jax.grad(loss)(u)
                g = jnp.where(jnp.isfinite(g), g, 0.0)
                upd, s = opt.update(g, s, u)
                return (optax.apply_updates(u, upd), s), None

            (u, _), _ = jax.lax.scan(step, (u, opt.init(u)), None, length=steps)
            return u

        U1 = jax.vmap(one)(U)
        cand = jnp.concatenate([U, U1])
        vals = jax.vmap(lambda u: -loss(u))(cand)
        vals = jnp.where(jnp.isfinite(vals), vals, -jnp.inf)
        i = jnp.argmax(vals)
        return measure.from_unconstrained(cand[i]), vals[i]

    return run(U0)


@partial(jax.jit, static_argnames=("kind", "steps", "learning_rate"))
def _multistart(kind, kernel, measure, X, U0, noise, steps, learning_rate):
    """Jitted multi-start Adam on a named acquisition; kernel, measure and X are arguments, so one
    compilation serves every call with the same shapes (a closure would recompile each time)."""
    acq = acquisition(kind, kernel, measure, X, noise=noise)
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


def select_batch(kernel, measure: Measure, X, batch_size: int, *, kind: str = "ivr", noise: float = 0.0,
                 starts: int = 16, steps: int = 100, seed: int = 0):
    """``batch_size`` new points ``(q, d)`` chosen greedily, each conditioned on the ones before.

    Exact for these acquisitions, which depend on where ``f`` was evaluated but
    not on its values.
    """
    X = jnp.asarray(X).reshape(-1, measure.dim)
    new = []
    for j in range(batch_size):
        cur = jnp.concatenate([X] + [p[None] for p in new]) if new else X
        if isinstance(measure, Empirical):
            x, _ = maximize(acquisition(kind, kernel, measure, cur, noise=noise), measure)
        else:
            U0 = measure.to_unconstrained(sobol(measure, starts, seed=seed + j))
            x, _ = _multistart(kind, kernel, measure, cur, U0, jnp.asarray(noise, float), steps, 0.05)
        new.append(x)
    return jnp.stack(new)


def kernel_herding(kernel, measure: Measure, num: int, *, candidates: int = 2048, seed: int = 0):
    """Kernel herding (Chen, Welling & Smola 2010) on a scrambled-Sobol candidate set: ``(num, d)``.

    ``x_{t+1} = argmax_x z(x) - (1/(t+1)) Σ_{i≤t} k(x, x_i)``, i.e. greedy
    minimisation of the MMD to the measure with equal weights.
    """
    C = measure.points if isinstance(measure, Empirical) else sobol(measure, candidates, seed=seed)
    z = embed(kernel, measure, C, warn=False).z
    chosen, running = [], jnp.zeros_like(z)
    for t in range(num):
        i = int(jnp.argmax(z - running / (t + 1)))
        chosen.append(i)
        running = running + kernel(C, C[i : i + 1])[:, 0]
    return C[np.asarray(chosen)]
