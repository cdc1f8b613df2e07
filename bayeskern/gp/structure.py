"""The one ``structure="auto"`` rule: which linear-algebra structure a Gaussian latent or process uses.

``structure=`` names the linear algebra behind a Gaussian process or latent
field (``"dense"`` Cholesky, ``"kalman"`` state-space scan, ``"kronecker"``
grid algebra, and the approximations ``"hsgp"``, ``"rff"``, ``"sgpr"``);
``method=`` names an inference algorithm (``"nuts"``, ``"svi"``,
``"laplace"``). Every piece that takes ``structure="auto"`` resolves it with
:func:`choose_structure`:

* ``GaussianProcess`` (context ``"gp"``, ``bayeskern.gp.backends.choose``),
* ``laplace_marginal`` (context ``"laplace"``),
* the Cox latent fields and ``cox.fit`` (context ``"cox"``).

The BO surrogates do not resolve ``"auto"``: ``GPSurrogate`` always uses a
dense Cholesky, and ``CoxSurrogate`` takes its structure explicitly
(``"dense"`` or ``"hsgp"``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "CONTEXTS",
    "COX_KRONECKER_MIN_POINTS",
    "DENSE_NOTE_POINTS",
    "GP_KALMAN_MIN_POINTS",
    "GP_KRONECKER_MIN_POINTS",
    "LAPLACE_KRONECKER_MIN_POINTS",
    "choose_structure",
]

#: Exact GP, 1-D inputs: from this many points the state-space scan beats a dense Cholesky for the
#: log density and its gradient (Matérn 5/2, 1 thread, 2026-12-06: break-even near n = 70; 2.5x
#: faster at n = 100, 29x at n = 500).
GP_KALMAN_MIN_POINTS = 128
#: Exact GP, a grid in 2-D or more: below this many points a dense Cholesky is as fast as the
#: per-axis eigendecompositions.
GP_KRONECKER_MIN_POINTS = 64
#: Laplace marginal, a grid in 2-D or more: the Kronecker mode search (CG Newton, stochastic Lanczos
#: log det) pays for its estimator error only from this many cells.
LAPLACE_KRONECKER_MIN_POINTS = 1024
#: Cox latent field on its grid: Kronecker in 2-D and up whatever the cell count (a Cox grid is
#: always a full Cartesian grid).
COX_KRONECKER_MIN_POINTS = 1
#: Exact GP: above this many points a dense solve is slow enough to mention the approximate structures.
DENSE_NOTE_POINTS = 4000

#: Per context, the fewest points for the Kalman structure (1-D inputs; None: not offered there)
#: and for the Kronecker structure (2-D and up).
CONTEXTS = {
    "gp": {"kalman": GP_KALMAN_MIN_POINTS, "kronecker": GP_KRONECKER_MIN_POINTS},
    "laplace": {"kalman": None, "kronecker": LAPLACE_KRONECKER_MIN_POINTS},
    "cox": {"kalman": None, "kronecker": COX_KRONECKER_MIN_POINTS},
}


def choose_structure(context: str, n: int, dim: int, *, kalman: Callable[[], str | None] | None = None,
                     kronecker: Callable[[], str | None] | None = None) -> str:
    """Resolve ``structure="auto"`` to an exact structure: ``"kalman"``, ``"kronecker"`` or ``"dense"``.

    The rule, the same everywhere up to the per-context thresholds of :data:`CONTEXTS`:

    * 1-D inputs with at least ``CONTEXTS[context]["kalman"]`` points (exact GP only: 128) and a
      kernel with an exact state-space form: ``"kalman"``;
    * inputs in 2-D or more on a full Cartesian grid with at least
      ``CONTEXTS[context]["kronecker"]`` points (exact GP 64, Laplace marginal 1024, Cox field 1)
      and a kernel that factors over the axes: ``"kronecker"``;
    * else ``"dense"``.

    The approximate structures (``"hsgp"``, ``"rff"``, ``"sgpr"``) change the model and are never
    chosen automatically.

    Args:
        context: ``"gp"`` (the ``GaussianProcess`` distribution), ``"laplace"``
            (``laplace_marginal``) or ``"cox"`` (a Cox latent field on its grid).
        n: number of input points.
        dim: input dimension.
        kalman, kronecker: zero-argument checks, called only when the size rule allows that
            structure, returning None when it applies exactly to this problem (kernel, inputs)
            and otherwise the reason it does not; None (the default) means it applies.

    Raises:
        ValueError: an unknown ``context``.
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {sorted(CONTEXTS)}, got {context!r}")
    rule = CONTEXTS[context]
    if dim == 1:
        if rule["kalman"] is not None and n >= rule["kalman"] and (kalman is None or kalman() is None):
            return "kalman"
    elif dim >= 2 and n >= rule["kronecker"] and (kronecker is None or kronecker() is None):
        return "kronecker"
    return "dense"
