"""Interchangeable linear-algebra back ends behind ``GaussianProcess``.

Each back end is a module with

* ``applicable(process) -> str | None``: None when it can be used, else why not;
* ``log_prob(process, value)``: ``(..., n) -> (...)``;
* ``pointwise_log_prob(process, value)``: exact leave-one-out predictive log densities;
* ``condition(process, y)``: a posterior object with ``at(X_new, kernel=, include_noise=, noise_new=)``;
* ``sample(process, key, sample_shape)``.

``choose(process, method)`` resolves ``"auto"``: the Kalman filter for 1-D
inputs and kernels with an exact state-space form once ``n`` is large
enough to pay for the scan, else dense Cholesky.
"""

from __future__ import annotations

import warnings

from bayeskern.gp.backends import dense, kalman

BACKENDS = {"dense": dense, "kalman": kalman}

#: Below this many points a dense Cholesky is as fast as a sequential scan.
KALMAN_MIN_POINTS = 1000


class BackendNote(UserWarning):
    """An automatic back-end choice the user may want to know about."""


def choose(process, method: str) -> str:
    """The back end to use for ``process`` given the requested ``method``."""
    if method not in ("auto", *BACKENDS):
        raise ValueError(f"method must be 'auto' or one of {sorted(BACKENDS)}, got {method!r}")
    if method != "auto":
        reason = BACKENDS[method].applicable(process)
        if reason is not None:
            raise ValueError(f"method={method!r} cannot be used: {reason}")
        return method
    n = process.X.shape[0]
    if process.X.shape[1] == 1 and n >= KALMAN_MIN_POINTS:
        reason = kalman.applicable(process)
        if reason is None:
            return "kalman"
        if n >= 4 * KALMAN_MIN_POINTS:
            warnings.warn(f"dense GP with n={n}: the Kalman back end does not apply ({reason})", BackendNote,
                          stacklevel=4)
    return "dense"
