"""Standard BO test functions (minimisation) with their known minima, vectorised over rows ``(n, d)``."""

from __future__ import annotations

import numpy as np

__all__ = ["PROBLEMS", "ackley", "branin", "hartmann6"]


def branin(X):
    """Branin on ``[-5, 10] x [0, 15]``; minimum 0.397887 at three points."""
    X = np.atleast_2d(X)
    x1, x2 = X[:, 0], X[:, 1]
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(X):
    """Hartmann-6 on ``[0, 1]^6``; minimum −3.32237."""
    X = np.atleast_2d(X)
    inner = np.sum(_H_A[None] * (X[:, None, :] - _H_P[None]) ** 2, axis=-1)
    return -np.sum(_H_ALPHA * np.exp(-inner), axis=-1)


def ackley(X):
    """Ackley on ``[-32.768, 32.768]^d``; minimum 0 at the origin."""
    X = np.atleast_2d(X)
    d = X.shape[1]
    return (-20 * np.exp(-0.2 * np.sqrt(np.sum(X**2, 1) / d)) - np.exp(np.sum(np.cos(2 * np.pi * X), 1) / d)
            + 20 + np.e)


# name -> (function, bounds, minimum value)
PROBLEMS = {
    "branin": (branin, np.array([[-5.0, 10.0], [0.0, 15.0]]), 0.397887357729738),
    "hartmann6": (hartmann6, np.array([[0.0, 1.0]] * 6), -3.32236801141551),
    "ackley5": (ackley, np.array([[-32.768, 32.768]] * 5), 0.0),
}
