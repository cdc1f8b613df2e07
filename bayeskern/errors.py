"""Exceptions and warnings bayeskern raises beyond Python's own ``ValueError``/``TypeError``.

Bad input is a ``ValueError`` or ``TypeError`` naming the argument and the
fix. What is left are failures of a computation on valid input: an
iterative method that did not reach its tolerance raises
:class:`ConvergenceError` (or, inside a traced log density, yields ``-inf``
with a :class:`ConvergenceWarning` naming the site), never a finite value
as if it had converged.
"""

from __future__ import annotations


class ConvergenceError(RuntimeError):
    """An iterative method (mode search, solver) stopped before meeting its tolerance.

    Example::

        try:
            fit = bk.infer.laplace(model, X, y)
        except bk.errors.ConvergenceError as err:
            print(err)  # says how far it got and what to change
    """


class ConvergenceWarning(RuntimeWarning):
    """An iterative method inside a traced computation did not converge; its value was replaced by ``-inf``."""
