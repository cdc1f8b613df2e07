"""Interchangeable linear-algebra back ends behind ``GaussianProcess``.

Each back end is a module with

* ``applicable(process) -> str | None``: None when it can be used, else why not;
* ``log_prob(process, value)``: ``(..., n) -> (...)``;
* ``pointwise_log_prob(process, value)``: exact leave-one-out predictive log densities;
* ``condition(process, y)``: a posterior object with ``at(X_new, kernel=, include_noise=, noise_new=)``;
* ``sample(process, key, sample_shape)``;
* ``OPTIONS``: the names of the settings it reads (anything else is refused).

Back-end settings arrive as ``GaussianProcess(..., **structure_options)``:
hashable values (numbers, strings, tuples) in ``process.options``, arrays
(e.g. inducing inputs) in ``process.option_arrays``.

``choose(process, structure)`` resolves ``"auto"`` to an EXACT back end only,
by the library's one rule :func:`bayeskern.gp.structure.choose_structure`
(context ``"gp"``): the Kalman filter for 1-D inputs and kernels with an
exact state-space form once ``n`` is large enough to pay for the scan;
Kronecker algebra for inputs on a full (or nearly full) Cartesian grid of two
or more dimensions with a kernel that factors over the axes; else dense
Cholesky. The approximate
back ends (``"hsgp"``, ``"rff"``, ``"sgpr"``, and ``"svgp"`` in
``bayeskern.gp.svgp``) change the model and are only used when asked for;
a ``BackendNote`` suggests them when a dense solve gets large.
"""

from __future__ import annotations

import importlib
import warnings

from bayeskern.gp import structure

#: Structure name -> module implementing it (imported on first use).
BACKEND_MODULES = {
    "dense": "bayeskern.gp.backends.dense",
    "kalman": "bayeskern.gp.backends.kalman",
    "kronecker": "bayeskern.gp.backends.kronecker",
    "hsgp": "bayeskern.gp.backends.hsgp",
    "rff": "bayeskern.gp.backends.rff",
    "sgpr": "bayeskern.gp.backends.sgpr",
    # Reserved: explains that SVGP is the separate model piece bayeskern.gp.svgp.SVGP.
    "svgp": "bayeskern.gp.backends.svgp",
}


def check_options(requested: str, chosen: str, names) -> None:
    """Refuse settings that back end ``chosen`` does not read (a typo, or an option of another back end).

    Raises:
        ValueError: naming the unknown settings, the valid ones, a close match
            for each, and the back end they belong to when it is another one.
    """
    import difflib

    valid = get_backend(chosen).OPTIONS  # each back end module declares the settings it reads
    unknown = sorted(set(names) - set(valid))
    if not unknown:
        return
    options = {m: get_backend(m).OPTIONS for m in BACKEND_MODULES}
    hints = []
    for name in unknown:
        owners = [m for m, opts in options.items() if name in opts]
        if owners:
            hints.append(f"{name!r} is a setting of structure={owners[0]!r}")
            continue
        close = difflib.get_close_matches(name, [o for opts in options.values() for o in opts], n=1)
        hints.append(f"{name!r} is not a setting of any back end" + (f" (did you mean {close[0]!r}?)" if close else ""))
    picked = f"structure={requested!r} chose {chosen!r}" if requested == "auto" else f"structure={chosen!r}"
    raise ValueError(
        f"GaussianProcess got settings {unknown} that {picked} does not use: {'; '.join(hints)}. "
        f"Settings of {chosen!r}: {list(valid) or 'none'}" + (
            "; with structure='auto', name the back end the settings are for" if requested == "auto" else "")
    )


def get_backend(name: str):
    """The module implementing back end ``name``."""
    if name not in BACKEND_MODULES:
        raise ValueError(f"structure must be 'auto' or one of {sorted(BACKEND_MODULES)}, got {name!r}")
    try:
        return importlib.import_module(BACKEND_MODULES[name])
    except ModuleNotFoundError as err:
        raise ValueError(f"structure={name!r} is not available in this version of bayeskern") from err


class _Registry(dict):
    def __missing__(self, name):
        return get_backend(name)


BACKENDS = _Registry()

#: Above this many points a dense solve is slow enough to mention the approximate back ends.
DENSE_NOTE_POINTS = structure.DENSE_NOTE_POINTS


class BackendNote(UserWarning):
    """An automatic back-end choice the user may want to know about."""


def choose(process, requested: str) -> str:
    """The back end to use for ``process`` given the requested ``structure``.

    ``"auto"`` is resolved by :func:`bayeskern.gp.structure.choose_structure` (context ``"gp"``).
    """
    if requested != "auto":
        reason = get_backend(requested).applicable(process)
        if reason is not None:
            raise ValueError(f"structure={requested!r} cannot be used: {reason}")
        return requested
    n, D = process.X.shape
    reasons = []

    def kalman():
        reasons.append(get_backend("kalman").applicable(process))
        return reasons[-1]

    def kronecker():
        if process.X_host is None:
            return "the inputs are traced"
        kron = get_backend("kronecker")
        reasons.append(kron.applicable(process))
        if reasons[-1] is None and not kron.is_exact(process):
            return "the grid is not exact"
        return reasons[-1]

    chosen = structure.choose_structure("gp", n, D, kalman=kalman, kronecker=kronecker)
    if chosen == "dense" and n >= DENSE_NOTE_POINTS:
        reason = reasons[-1] if reasons else None
        why = f" (the structured exact back end does not apply: {reason})" if reason else ""
        warnings.warn(f"dense GP with n={n}{why}; for speed consider the approximate back ends "
                      f"structure='hsgp', 'rff' or 'sgpr'", BackendNote, stacklevel=4)
    return chosen
