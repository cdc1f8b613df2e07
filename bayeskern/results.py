"""The result protocol shared by every object a fit, an integration or an optimisation returns.

Every result — :class:`bayeskern.infer.Fit` (and :class:`bayeskern.cox.CoxFit`),
:class:`bayeskern.gp.svgp.SVGPFit`, :class:`bayeskern.quadrature.BQResult`,
:class:`bayeskern.quadrature.IntegralPosterior`,
:class:`bayeskern.quadrature.EvidenceResult` and
:class:`bayeskern.optimize.Optimizer` — is a :class:`Result`:

* ``summary()`` → a ``pandas.DataFrame``, one row per reported quantity;
* ``plot(ax=None, **kwargs)`` → what it drew: the matplotlib ``Axes`` of a
  one-panel plot (drawn onto ``ax`` when given), or the ``Figure`` of a
  fit's trace plot (which lays out its own panels and refuses ``ax``);
* ``save(path)`` / ``load(path)`` → an exact round trip (arrays bit for bit);
  :func:`load` reads any saved result and returns the right class;
* ``to_arviz()`` wherever the result holds posterior draws.

Files: a :class:`~bayeskern.infer.Fit` is an ArviZ netCDF-4 file (so ArviZ
reads it too); every other result is a NumPy ``.npz`` archive holding its
arrays plus one JSON entry describing the object (read with
``allow_pickle=False``: loading a file never runs code, it only rebuilds
bayeskern classes). Code (models, kernel-building callables, likelihood
functions) is never saved: a loaded object says which arguments give it
back where a method needs them.

Example::

    import bayeskern as bk
    res = bk.quadrature.integrate(f, bk.quadrature.Gaussian(0.0, 1.0), n=20)
    res.save("integral.npz")
    same = bk.results.load("integral.npz")   # a BQResult again
    same.summary()
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import tempfile
import zipfile
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Result", "load", "pack", "resolve_class", "saved_class_name", "unpack"]

_META = "__bayeskern__"  # the JSON entry of an .npz result archive
_FORMAT = 1
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class Result:
    """Base class of every result object (see the module docstring for the protocol).

    Subclasses implement :meth:`summary` and :meth:`plot`; ``save``/``load``
    work for any subclass whose attributes are arrays, numbers, strings,
    containers of those, bayeskern objects (kernels, measures, windows,
    grids, other results) or ``None``. Attributes listed in ``_not_saved``
    (code, live objects) are skipped and come back as ``None``; a class that
    must rebuild derived state after loading overrides :meth:`_after_load`.
    """

    #: Attributes that hold code or live objects: not written by :meth:`save`, ``None`` after :meth:`load`.
    _not_saved: ClassVar[tuple[str, ...]] = ()

    def summary(self):
        """A ``pandas.DataFrame`` with one row per reported quantity."""
        raise NotImplementedError(f"{type(self).__name__}.summary")  # pragma: no cover

    def plot(self, ax=None, **kwargs):
        """Draw the result (onto ``ax`` where the plot is a single panel); returns what was drawn."""
        raise NotImplementedError(f"{type(self).__name__}.plot")  # pragma: no cover

    # ------------------------------------------------------------ save / load
    def _state(self) -> dict[str, Any]:
        """The attributes to save (default: the instance ``__dict__`` less ``_not_saved``)."""
        return {k: v for k, v in vars(self).items() if k not in self._not_saved}

    def _after_load(self) -> None:
        """Rebuild derived state after :meth:`load` set the saved attributes (default: nothing)."""

    def save(self, path: str | os.PathLike) -> str:
        """Write this result to ``path`` (an ``.npz`` archive); returns the path.

        Raises:
            TypeError: an attribute holds something that cannot be saved
                (a function or a foreign object), naming it.
        """
        arrays: dict[str, np.ndarray] = {}
        meta = {
            "format": _FORMAT,
            "class": _class_path(type(self)),
            "state": {k: pack(v, arrays, where=f"{type(self).__name__}.{k}") for k, v in self._state().items()},
        }
        arrays[_META] = np.asarray(json.dumps(meta))
        path = os.fspath(path)
        with open(path, "wb") as fh:  # a file handle keeps NumPy from appending ".npz" to the name
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Result:
        """Read a result written by ``save``; ``Result.load`` (or :func:`load`) accepts any kind.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is not a saved bayeskern result, or holds another kind than ``cls``.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{cls.__name__}.load: no file at {path!r}")
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if magic == _HDF5_MAGIC:
            fit_cls = resolve_class("bayeskern.infer.fit:Fit")
            if not issubclass(fit_cls, cls) and not issubclass(cls, fit_cls):
                raise ValueError(f"{cls.__name__}.load: {path!r} holds a fit (netCDF-4); read it with bayeskern.load")
            return fit_cls.load_netcdf(path, expected=cls)
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{cls.__name__}.load: {path!r} is not a saved bayeskern result "
                             "(expected an .npz archive or a fit's netCDF-4 file)")
        with np.load(path, allow_pickle=False) as archive:
            if _META not in archive.files:
                raise ValueError(f"{cls.__name__}.load: {path!r} is an .npz archive but not a saved bayeskern "
                                 f"result (no {_META} entry)")
            meta = json.loads(str(archive[_META]))
            arrays = {k: archive[k] for k in archive.files if k != _META}
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{cls.__name__}.load: {path!r} has result format {meta.get('format')!r}; this "
                             f"version reads format {_FORMAT}")
        target = resolve_class(meta["class"])
        if not issubclass(target, cls):
            raise ValueError(f"{cls.__name__}.load: {path!r} holds a {target.__name__}, not a {cls.__name__}; "
                             f"use {target.__name__}.load or bayeskern.load")
        if "state" not in meta:  # a class with its own archive layout (the optimiser) reads it itself
            return target.load(path)
        obj = object.__new__(target)
        for k in target._not_saved:
            object.__setattr__(obj, k, None)
        for k, v in meta["state"].items():
            object.__setattr__(obj, k, unpack(v, arrays))
        obj._after_load()
        return obj


def load(path: str | os.PathLike) -> Result:
    """Read any saved bayeskern result (fit, integral, optimiser, ...) and return it as its own class.

    Example::

        fit.save("fit.nc"); same = bayeskern.load("fit.nc")
    """
    return Result.load(path)


def saved_class_name(path: str | os.PathLike) -> str | None:
    """The class name recorded in a saved ``.npz`` result (``None`` when ``path`` is not one); never raises."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as archive:
            return json.loads(str(archive[_META]))["class"].rpartition(":")[2]
    except Exception:  # any unreadable file simply has no recorded class
        return None


# --------------------------------------------------------------- packing
def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_class(path: str) -> type:
    """The class named ``module:qualname``; only bayeskern's own classes are rebuilt from files."""
    module, _, qualname = path.partition(":")
    if not (module == "bayeskern" or module.startswith("bayeskern.")):
        raise ValueError(f"a saved result names the class {path!r}, which is not bayeskern's; refusing to load it")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ValueError(f"a saved result names {path!r}, which is not a class")
    return obj


def pack(value: Any, arrays: dict[str, np.ndarray], where: str = "value") -> Any:
    """``value`` as JSON-able data, its arrays moved into ``arrays`` (inverse: :func:`unpack`).

    Handles ``None``, numbers, strings, lists, tuples, dicts with string
    keys, NumPy/JAX arrays (JAX PRNG keys included), bayeskern objects
    (their attributes, packed in turn) and nested :class:`Result` objects.

    Raises:
        TypeError: something else (a function, a foreign object), naming ``where``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, (np.generic,)):
        return value
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        key = f"a{len(arrays)}"
        node: dict[str, Any] = {"__array__": key, "jax": isinstance(value, jax.Array)}
        if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            node["prng_impl"] = str(jax.random.key_impl(value))
            value = jax.random.key_data(value)
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"{where}: an object array cannot be saved")
        node["scalar"] = isinstance(value, np.generic)
        arrays[key] = arr
        return node
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple
        return {"__namedtuple__": _class_path(type(value)),
                "items": [pack(v, arrays, f"{where}.{f}") for f, v in zip(value._fields, value, strict=True)]}
    if isinstance(value, (list, tuple)):
        items = [pack(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where}: only dicts with string keys can be saved (found key {bad[0]!r})")
        return {"__dict__": {k: pack(v, arrays, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, Result):
        # a nested result keeps its own file format (a Fit is netCDF): its bytes go in as one array
        with tempfile.TemporaryDirectory() as tmp:
            file = os.path.join(tmp, "nested")
            value.save(file)
            with open(file, "rb") as fh:
                data = np.frombuffer(fh.read(), dtype=np.uint8)
        key = f"a{len(arrays)}"
        arrays[key] = data
        return {"__result__": key}
    cls = type(value)
    if _is_bayeskern_object(value):
        attrs = _object_attrs(value)
        return {"__object__": _class_path(cls),
                "attrs": {k: pack(v, arrays, f"{where}.{k}") for k, v in attrs.items()}}
    raise TypeError(f"{where} holds a {cls.__module__}.{cls.__qualname__}, which cannot be saved; "
                    "results save arrays, numbers, strings, containers and bayeskern objects (code is not saved)")


def _is_bayeskern_object(value: Any) -> bool:
    # kernels are callable (k(X1, X2)) but are data: accept any bayeskern instance with attributes
    return type(value).__module__.startswith("bayeskern.") and hasattr(value, "__dict__") \
        and not isinstance(value, type) and not hasattr(value, "__code__")


def _object_attrs(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(vars(value))


def unpack(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild what :func:`pack` wrote (arrays come back with their dtype, shape and kind: NumPy or JAX)."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [unpack(v, arrays) for v in node]
    if "__array__" in node:
        arr = arrays[node["__array__"]]
        if node.get("scalar"):
            return arr[()]
        if node.get("jax"):
            out = jnp.asarray(arr)
            if "prng_impl" in node:
                out = jax.random.wrap_key_data(out, impl=node["prng_impl"])
            return out
        return arr
    if "__tuple__" in node:
        return tuple(unpack(v, arrays) for v in node["__tuple__"])
    if "__namedtuple__" in node:
        return resolve_class(node["__namedtuple__"])(*(unpack(v, arrays) for v in node["items"]))
    if "__dict__" in node:
        return {k: unpack(v, arrays) for k, v in node["__dict__"].items()}
    if "__result__" in node:
        with tempfile.TemporaryDirectory() as tmp:
            file = os.path.join(tmp, "nested")
            with open(file, "wb") as fh:
                fh.write(arrays[node["__result__"]].tobytes())
            return Result.load(file)
    if "__object__" in node:
        cls = resolve_class(node["__object__"])
        obj = object.__new__(cls)
        for k, v in node["attrs"].items():
            object.__setattr__(obj, k, unpack(v, arrays))
        return obj
    raise ValueError(f"unreadable entry in a saved result: {sorted(node)}")
