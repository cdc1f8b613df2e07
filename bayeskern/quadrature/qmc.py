"""Scrambled Sobol points (scipy.stats.qmc, already a dependency of JAX) and randomised-QMC integrals.

Randomised QMC gives an error estimate for free: ``R`` independently scrambled
Sobol sequences give ``R`` unbiased, independent estimates, whose standard
error is ``std / √R``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

from bayeskern._counts import as_count


def sobol_unit(num: int, dim: int, *, seed: int = 0, replicates: int | None = None) -> np.ndarray:
    """Scrambled Sobol points in ``[0, 1)^dim``: ``(num, dim)``, or ``(replicates, num, dim)``.

    ``num`` need not be a power of two (the first ``num`` points of a
    ``2^m`` sequence are used; balance is best at powers of two).
    """
    num, dim = as_count(num, "num"), as_count(dim, "dim")
    m = max(0, math.ceil(math.log2(num)))
    reps = 1 if replicates is None else as_count(replicates, "replicates")
    rng = np.random.default_rng(seed)
    out = np.empty((reps, num, dim))
    for r in range(reps):
        engine = qmc.Sobol(d=dim, scramble=True, seed=rng)
        out[r] = engine.random_base2(m)[:num]
    return out[0] if replicates is None else out


def sobol(measure, num: int, *, seed: int = 0) -> jnp.ndarray:
    """``num`` scrambled-Sobol points ``(num, d)`` transported to ``measure``."""
    return measure.from_unit_cube(jnp.asarray(sobol_unit(num, measure.dim, seed=seed)))


def monte_carlo(measure, num: int, *, seed: int = 0) -> jnp.ndarray:
    """``num`` independent draws ``(num, d)`` from ``measure`` (NumPy generator ``seed``)."""
    U = np.random.default_rng(seed).random((as_count(num, "num"), measure.dim))
    return measure.from_unit_cube(jnp.asarray(U))


def rqmc_mean(fn, measure, *, num: int = 4096, replicates: int = 8, seed: int = 0, pairs: bool = False):
    """Randomised-QMC estimate of ``∫ fn dπ`` (or ``∫∫`` with ``pairs=True``) under the normalised measure.

    Args:
        fn: ``(num, d) -> (num, ...)`` (or ``(num, d), (num, d) -> (num, ...)`` with ``pairs``).
        measure: the measure; the result is for its normalised version.
        num: points per replicate.
        replicates: independent scramblings (>= 2 for an error estimate).
        seed: seed of the scramblings.
        pairs: integrate a function of two independent points.

    Returns:
        ``(estimate, standard_error)``, each of shape ``(...)``.
    """
    d = measure.dim
    replicates = as_count(replicates, "replicates")
    U = sobol_unit(num, 2 * d if pairs else d, seed=seed, replicates=replicates)
    ests = []
    for r in range(replicates):
        T = measure.from_unit_cube(jnp.asarray(U[r, :, :d]))
        vals = fn(T, measure.from_unit_cube(jnp.asarray(U[r, :, d:]))) if pairs else fn(T)
        ests.append(jnp.mean(vals, axis=0))
    ests = jnp.stack(ests)
    return jnp.mean(ests, axis=0), jnp.std(ests, axis=0, ddof=1) / math.sqrt(replicates)
