"""bayeskern: kernel-based Bayesian modelling for NumPyro.

``import bayeskern as bk`` reaches every public package as an attribute,
imported on first use (``bk.gp``, ``bk.kernels``, ``bk.priors``,
``bk.infer``, ``bk.cox``, ``bk.quadrature``, ``bk.optimize``,
``bk.diagnostics``, ``bk.datasets``, ``bk.errors``, ``bk.features``, ``bk.linalg``,
``bk.results``), and ``bk.load(path)`` reads any saved result::

    import bayeskern as bk
    kernel = bk.kernels.Matern52(lengthscale=0.5)
    fit = bk.infer.nuts(model, X, y)

Importing bayeskern turns on JAX's float64 mode (Gaussian-process linear
algebra in float32 fails silently far too often). Set the environment
variable ``BAYESKERN_X64=0`` before importing to keep float32; a warning then
says so once.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bayeskern._config import ensure_float64 as _ensure_float64

_ensure_float64()

__version__ = "0.1.0"

#: Sub-packages reachable as attributes; imported lazily so ``import bayeskern`` stays cheap.
_SUBPACKAGES = (
    "cox",
    "datasets",
    "diagnostics",
    "errors",
    "features",
    "gp",
    "infer",
    "kernels",
    "linalg",
    "optimize",
    "priors",
    "quadrature",
    "results",
)

__all__ = ["__version__", "load", *_SUBPACKAGES]


def load(path):  # noqa: ANN201 - the class depends on the file
    """Read any saved result (fit, integral, optimiser, ...) as its own class: see :func:`bayeskern.results.load`."""
    from bayeskern.results import load as load_result

    return load_result(path)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module  # later look-ups skip this hook
        return module
    raise AttributeError(f"module 'bayeskern' has no attribute {name!r}; its packages are {', '.join(_SUBPACKAGES)}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBPACKAGES))
