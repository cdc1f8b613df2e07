"""The kernel base class: pytree registration, input handling and algebra (Sum, Product, Scaled, Warped).

A kernel is an immutable JAX pytree. Its hyperparameters are array leaves
(so a kernel built from values sampled inside a NumPyro model passes through
``jit``/``grad``/``vmap``); structural settings such as ``active_dims`` or a
polynomial ``degree`` are static metadata.

Subclasses declare their hyperparameters in ``_params`` as
``name -> (default, constraint)`` with constraint ``"positive"``,
``"nonnegative"`` or ``"real"`` (``default=None`` makes the argument
required), their static settings in ``_static``, and implement
``_gram(X1, X2)`` on 2-D inputs.

Batches of kernels. Hyperparameters named in a class's ``_batchable`` may
carry leading batch axes in front of their own trailing axis: shape
``(*batch, d)`` or ``(*batch, 1)`` for an ARD ``lengthscale``, ``(*batch, 1)``
for a scalar such as ``variance``. So, under ``numpyro.plate("series", S)``,
per-series values ``ell`` ``(S,)`` go in as ``lengthscale=ell[..., None]``. A
``(d,)`` value is never a batch (it is ARD). A batched kernel has
``batch_shape`` ``(*batch,)`` and evaluates to ``(*batch, n1, n2)`` (one
``vmap`` over the batch); the state-space, spectral and feature methods
only take unbatched kernels.

The composite kernels live here with ``Kernel`` (its ``+``, ``*`` and
``warp`` build them), together with their one rule per kernel capability
(state-space form and transition, spectral density; see
``bayeskern.kernels.capabilities``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, ClassVar, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import block_diag

from bayeskern._checks import (
    as_float_array,
    as_inputs,
    as_real,
    check_nonnegative,
    check_positive,
    is_concrete,
)
from bayeskern._display import call_repr, html_table, shape_str, short
from bayeskern.kernels.capabilities import refuse, spectral_density
from bayeskern.kernels.distances import scaled_squared_distance
from bayeskern.kernels.state_space import StateSpaceModel, real_array, state_space, state_space_form
from bayeskern.kernels.state_space_transitions import transition_matrix

_CONSTRAINTS = ("positive", "nonnegative", "real")


def _over_batch(method):
    """Evaluate a kernel method on each kernel of a batch (see :meth:`Kernel.map_batch`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.batch_shape:
            return method(self, *args, **kwargs)
        return self.map_batch(lambda k: method(k, *args, **kwargs))

    return wrapper


class Kernel:
    """Base class of every covariance function.

    Call ``k(X1, X2)`` for the Gram matrix ``(n1, n2)`` and ``k.diag(X)`` for
    its diagonal ``(n,)``; inputs are ``(n,)`` or ``(n, d)``. ``k(X)`` with one
    argument is the symmetric Gram matrix of ``X`` with itself (for ``White``
    this differs from ``k(X, X)``: white noise only sits on the diagonal of
    ``k(X)``).
    """

    _params: ClassVar[dict[str, tuple[Any, str]]] = {}
    _static: ClassVar[tuple[str, ...]] = ()
    #: Hyperparameters that may carry leading batch axes (shape ``(*batch, k)``); see the module docstring.
    _batchable: ClassVar[tuple[str, ...]] = ()
    #: Kernels that depend on inputs only through X1 - X2.
    stationary: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_with_keys(
            cls, cls._tree_flatten_with_keys, cls._tree_unflatten, cls._tree_flatten
        )

    def __init__(self, *, active_dims=None, **values):
        name = type(self).__name__
        unknown = set(values) - set(self._params) - set(self._static)
        if unknown:
            raise TypeError(
                f"{name} got unexpected argument(s) {sorted(unknown)}; "
                f"hyperparameters are {sorted(self._params)}"
            )
        for pname, (default, constraint) in self._params.items():
            if pname not in values and default is None:
                raise TypeError(f"{name} requires the hyperparameter {pname!r} ({_accepted(constraint)})")
            # An explicit None (or any other non-number) is refused by _validated, naming what is accepted.
            value = values.get(pname, default)
            object.__setattr__(self, pname, _validated(value, pname, constraint, name))
        for sname in self._static:
            if sname in values:
                object.__setattr__(self, sname, values[sname])
        object.__setattr__(self, "active_dims", _validated_dims(active_dims, name))
        self._check_shapes()

    # -- pytree protocol -------------------------------------------------
    def _leaf_names(self) -> tuple[str, ...]:
        return tuple(self._params)

    def _static_names(self) -> tuple[str, ...]:
        return tuple(self._static) + ("active_dims",)

    def _tree_flatten(self):
        leaves = tuple(getattr(self, n) for n in self._leaf_names())
        aux = tuple(getattr(self, n) for n in self._static_names())
        return leaves, aux

    def _tree_flatten_with_keys(self):
        leaves = tuple(
            (jax.tree_util.GetAttrKey(n), getattr(self, n)) for n in self._leaf_names()
        )
        aux = tuple(getattr(self, n) for n in self._static_names())
        return leaves, aux

    @classmethod
    def _tree_unflatten(cls, aux, leaves):
        # Bypasses __init__: transformations put tracers or placeholders in leaves.
        obj = object.__new__(cls)
        for n, v in zip(obj._leaf_names(), leaves, strict=True):
            object.__setattr__(obj, n, v)
        for n, v in zip(obj._static_names(), aux, strict=True):
            object.__setattr__(obj, n, v)
        return obj

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({key}=...)")

    def replace(self, **changes) -> "Kernel":
        """A copy with some hyperparameters (array leaves) replaced, validated as in ``__init__``."""
        leaves, aux = self._tree_flatten()
        names = self._leaf_names()
        bad = set(changes) - set(names)
        if bad:
            raise TypeError(f"{type(self).__name__} has no hyperparameter(s) {sorted(bad)}")
        new = []
        for n, v in zip(names, leaves, strict=True):
            if n in changes:
                spec = self._params.get(n)
                v = _validated(changes[n], n, spec[1], type(self).__name__) if spec else changes[n]
            new.append(v)
        out = self._tree_unflatten(aux, tuple(new))
        out._check_shapes()
        return out

    # -- batches ---------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch shape of the hyperparameters (``()`` for an ordinary kernel)."""
        shapes = []
        for n in self._leaf_names():
            v = getattr(self, n)
            if isinstance(v, Kernel):
                shapes.append(v.batch_shape)
            elif n in self._batchable and jnp.ndim(v) >= 2:
                shapes.append(tuple(jnp.shape(v)[:-1]))
        return tuple(jnp.broadcast_shapes(*shapes)) if shapes else ()

    def _stacked(self, batch_shape: tuple[int, ...]) -> "Kernel":
        """This kernel with every leaf given one leading axis of size ``prod(batch_shape)``.

        Batched leaves ``(*batch, k)`` become ``(B, k)``, or ``(B,)`` when
        ``k == 1`` (one value per kernel); unbatched leaves are repeated. The
        result is meant for ``jax.vmap``, whose slices are ordinary kernels.
        """
        size = math.prod(batch_shape)
        leaves, aux = self._tree_flatten()
        new = []
        for n, v in zip(self._leaf_names(), leaves, strict=True):
            if isinstance(v, Kernel):
                new.append(v._stacked(batch_shape))
            elif n in self._batchable and jnp.ndim(v) >= 2:
                last = jnp.shape(v)[-1]
                v = jnp.broadcast_to(v, tuple(batch_shape) + (last,)).reshape(size, last)
                new.append(v[:, 0] if last == 1 else v)
            else:
                new.append(jnp.broadcast_to(v, (size,) + tuple(jnp.shape(v))))
        return self._tree_unflatten(aux, tuple(new))

    def map_batch(self, fn: Callable[["Kernel"], Any]):
        """``fn(k)`` for each unbatched kernel ``k`` of the batch, stacked to ``batch_shape + out.shape``.

        One ``jax.vmap``; an unbatched kernel just returns ``fn(self)``.

        Example::

            k = Matern52(lengthscale=jnp.array([[0.5], [2.0]]))   # batch_shape (2,)
            K = k.map_batch(lambda kk: kk(X))                      # (2, n, n)
        """
        batch = self.batch_shape
        if not batch:
            return fn(self)
        out = jax.vmap(fn)(self._stacked(batch))
        return jax.tree_util.tree_map(lambda a: a.reshape(tuple(batch) + a.shape[1:]), out)

    # -- evaluation ------------------------------------------------------
    @_over_batch
    def __call__(self, X1, X2=None):
        """Gram matrix ``(n1, n2)`` between ``X1`` ``(n1,)|(n1, d)`` and ``X2`` (default ``X1``)."""
        X1 = as_inputs(X1, "X1")
        if X2 is not None:
            X2 = as_inputs(X2, "X2")
            if X1.shape[1] != X2.shape[1]:
                raise ValueError(
                    f"X1 and X2 must have the same number of input dimensions, "
                    f"got {X1.shape[1]} and {X2.shape[1]}"
                )
            X2 = self._select(X2)
        X1 = self._select(X1)
        self._check_input_dim(X1.shape[1], "X1")
        return self._gram(X1, X2)

    @_over_batch
    def diag(self, X):
        """Diagonal of ``k(X)``, shape ``(n,)``, without forming the Gram matrix."""
        X = self._select(as_inputs(X, "X"))
        self._check_input_dim(X.shape[1], "X")
        return self._diag(X)

    def _select(self, X):
        if self.active_dims is None:
            return X
        if max(self.active_dims) >= X.shape[1]:
            raise ValueError(
                f"{type(self).__name__}: active_dims {self.active_dims} out of range for inputs "
                f"with {X.shape[1]} dimension(s)"
            )
        return X[:, np.asarray(self.active_dims)]

    def _gram(self, X1, X2):
        raise NotImplementedError  # pragma: no cover  (abstract)

    def _diag(self, X):
        return jax.vmap(lambda x: self._gram(x[None, :], x[None, :])[0, 0])(X)

    # -- shape bookkeeping ------------------------------------------------
    @property
    def input_dim(self) -> int | None:
        """Number of input dimensions the hyperparameters imply (None if any)."""
        return None

    def _check_input_dim(self, d: int, name: str) -> None:
        expected = self.input_dim
        if expected is not None and expected != d:
            shaped = [
                f"{n} has shape {tuple(jnp.shape(v))}"
                for n in self._leaf_names()
                if not isinstance(v := getattr(self, n), Kernel) and jnp.ndim(v) >= 1
            ]
            which = f" ({', '.join(shaped)})" if shaped else ""
            raise ValueError(
                f"{type(self).__name__} has hyperparameters for {expected} input dimension(s) "
                f"but {name} has {d}{which}; give each per-dimension (ARD) hyperparameter {d} value(s) or a scalar"
            )

    def _check_shapes(self) -> None:
        """Hook for subclasses to validate hyperparameter shapes against each other."""

    # -- algebra ---------------------------------------------------------
    def __add__(self, other):
        if not isinstance(other, Kernel):
            return NotImplemented
        return Sum(self, other)

    def __mul__(self, other):
        if isinstance(other, Kernel):
            return Product(self, other)
        if isinstance(other, (int, float, np.ndarray, jax.Array)) or hasattr(other, "shape"):
            return Scaled(self, scale=other)
        return NotImplemented

    __rmul__ = __mul__

    def state_space(self, *, num_harmonics: int | None = None):
        """The state-space (SDE) form of this 1-D kernel; see ``bayeskern.kernels.state_space``."""
        return state_space(self, num_harmonics=num_harmonics)

    def warp(self, transform: Callable):
        """This kernel on warped inputs: ``k(g(x1), g(x2))`` for a JAX function ``g: (n, d) -> (n, d')``."""
        return Warped(self, transform)

    # -- structure -----------------------------------------------------
    def parts(self) -> tuple["Kernel", ...]:
        """The kernels this one is built from (``()`` for a kernel family; two for ``Sum``/``Product``)."""
        return tuple(v for n in self._leaf_names() if isinstance(v := getattr(self, n), Kernel))

    def walk(self) -> Iterator["Kernel"]:
        """This kernel, then every kernel inside it, depth first (``k1`` before ``k2``)."""
        yield self
        for part in self.parts():
            yield from part.walk()

    def depends_on(self, dim: int) -> frozenset[int]:
        """The input dimensions (of ``dim``) the kernel's value depends on: its ``active_dims``, else all;
        a composite's is the union over its parts (a warp's is all)."""
        parts = self.parts()
        if parts:
            return frozenset().union(*(p.depends_on(dim) for p in parts))
        return frozenset(range(dim)) if self.active_dims is None else frozenset(self.active_dims)

    def _summands(self, scale, inside: bool, target) -> list["Summand"]:
        return [Summand(self, scale, inside or self is target)]

    # -- display -------------------------------------------------------
    def _display_parts(self) -> tuple[list[str], dict[str, str]]:
        """``(positional, fields)`` strings describing this kernel (composites override)."""
        fields = {n: short(getattr(self, n)) for n in self._leaf_names()}
        for n in self._static_names():
            v = getattr(self, n)
            if v is not None:
                fields[n] = short(v) if not callable(v) else getattr(v, "__name__", type(v).__name__)
        return [], fields

    def __repr__(self) -> str:
        """``Matern52(lengthscale=0.5, variance=1.2)``; arrays as short lists or shapes, tracers as ``<traced (d,)>``."""
        positional, fields = self._display_parts()
        return call_repr(type(self).__name__, fields, positional)

    def _repr_html_(self) -> str:
        """A small HTML table of the hyperparameters (Jupyter)."""
        positional, fields = self._display_parts()
        rows = {f"component {i + 1}": p for i, p in enumerate(positional)}
        rows.update(fields)
        batch = self.batch_shape
        if batch:
            rows["batch shape"] = shape_str(batch)
        return html_table(type(self).__name__, rows)


class Stationary(Kernel):
    """Kernels of ``r² = Σ_d ((x1_d - x2_d) / lengthscale_d)²`` with output ``variance``.

    ``lengthscale`` is a scalar or one value per input dimension (ARD).
    Subclasses implement ``_profile(r2)`` with ``k = variance * profile(r2)``.
    """

    stationary = True
    _params = {"lengthscale": (1.0, "positive"), "variance": (1.0, "positive")}
    _batchable = ("lengthscale", "variance")

    @property
    def input_dim(self):
        return _ard_dim(self.lengthscale)

    def _check_shapes(self):
        _check_ard("lengthscale", self.lengthscale, type(self).__name__, batch=True)
        _check_scalar("variance", self.variance, type(self).__name__, batch=True)

    def scaled_sqdist(self, X1, X2):
        """Squared distance ``(n1, n2)`` after dividing each dimension by its lengthscale."""
        return scaled_squared_distance(X1, X1 if X2 is None else X2, self.lengthscale)

    def _gram(self, X1, X2):
        return self.variance * self._profile(self.scaled_sqdist(X1, X2))

    def _diag(self, X):
        return jnp.broadcast_to(self.variance * self._profile(jnp.zeros((), X.dtype)), X.shape[:1])

    def _profile(self, r2):
        raise NotImplementedError  # pragma: no cover  (abstract)

    # Spectral representation, overridden where a closed form exists.
    def spectral_density(self, omega):
        """Spectral density ``S(ω)`` ``(m,)`` at angular frequencies ``omega`` ``(m,)|(m, d)``.

        Convention: ``k(τ) = (2π)^{-d} ∫ S(ω) exp(i ωᵀτ) dω``, so ``S`` is the
        Fourier transform ``∫ k(τ) exp(-i ωᵀτ) dτ`` and ``∫ S = (2π)^d variance``.
        """
        omega = as_inputs(omega, "omega")
        self._check_input_dim(omega.shape[1], "omega")
        d = omega.shape[1]
        ls = jnp.broadcast_to(self.lengthscale, (d,))
        # Scaling x -> x / ℓ maps the unit-lengthscale density s(|ℓω|) to ∏ℓ · s(|ℓω|).
        w2 = jnp.sum((omega * ls) ** 2, axis=1)
        return self.variance * jnp.prod(ls) * self._unit_spectral_density(w2, d)

    def _unit_spectral_density(self, w2, d):
        raise TypeError(f"{type(self).__name__} has no closed-form spectral density")

    def sample_frequencies(self, key, num: int, dim: int | None = None):
        """Angular frequencies ``(num, d)`` from the normalised spectral density.

        ``k(τ) = variance · E[cos(ωᵀτ)]`` for these ``ω``, which is what random
        Fourier features need.
        """
        d = self.input_dim or dim
        if d is None:
            raise ValueError(
                f"{type(self).__name__}.sample_frequencies needs dim= when the lengthscale is a scalar"
            )
        ls = jnp.broadcast_to(self.lengthscale, (d,))
        return self._unit_frequencies(key, num, d) / ls

    def _unit_frequencies(self, key, num, d):
        raise TypeError(f"{type(self).__name__} has no frequency sampler")


# -- algebra -------------------------------------------------------------
class Binary(Kernel):
    """Two kernels combined pointwise (``Sum``, ``Product``); subclasses say how."""

    _params = {}

    def __init__(self, k1: Kernel, k2: Kernel):
        for name, k in (("k1", k1), ("k2", k2)):
            if not isinstance(k, Kernel):
                raise ValueError(f"{type(self).__name__}: {name} must be a Kernel, got {type(k).__name__}")
        object.__setattr__(self, "k1", k1)
        object.__setattr__(self, "k2", k2)
        object.__setattr__(self, "active_dims", None)

    def _leaf_names(self):
        return ("k1", "k2")

    @property
    def stationary(self):  # type: ignore[override]
        return self.k1.stationary and self.k2.stationary


class Sum(Binary):
    """``k1 + k2``."""

    def _display_parts(self):
        return [repr(k) for k in self.components], {}

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.k1(X1, X2) + self.k2(X1, X2)

    @_over_batch
    def diag(self, X):
        return self.k1.diag(X) + self.k2.diag(X)

    def _summands(self, scale, inside, target):
        inside = inside or self is target
        return self.k1._summands(scale, inside, target) + self.k2._summands(scale, inside, target)

    @property
    def components(self) -> tuple[Kernel, ...]:
        """The summands, nested sums flattened."""
        out = []
        for k in (self.k1, self.k2):
            out.extend(k.components if isinstance(k, Sum) else (k,))
        return tuple(out)


class Product(Binary):
    """``k1 * k2`` (elementwise product of Gram matrices)."""

    def _display_parts(self):
        return [repr(k) for k in self.components], {}

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.k1(X1, X2) * self.k2(X1, X2)

    @_over_batch
    def diag(self, X):
        return self.k1.diag(X) * self.k2.diag(X)

    @property
    def components(self) -> tuple[Kernel, ...]:
        """The factors, nested products flattened."""
        out = []
        for k in (self.k1, self.k2):
            out.extend(k.components if isinstance(k, Product) else (k,))
        return tuple(out)


class Scaled(Kernel):
    """``scale * kernel`` for a positive scalar ``scale`` (or ``(*batch, 1)`` for a batch of kernels)."""

    _params = {"scale": (1.0, "positive")}
    _batchable = ("scale",)

    def __init__(self, kernel: Kernel, scale=1.0):
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "scale", _validated(scale, "scale", "positive", "Scaled"))
        object.__setattr__(self, "active_dims", None)
        _check_scalar("scale", self.scale, "Scaled", batch=True)

    def _leaf_names(self):
        return ("kernel", "scale")

    def _display_parts(self):
        return [repr(self.kernel)], {"scale": short(self.scale)}

    @property
    def stationary(self):  # type: ignore[override]
        return self.kernel.stationary

    def _summands(self, scale, inside, target):
        return self.kernel._summands(scale * self.scale, inside or self is target, target)

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.scale * self.kernel(X1, X2)

    @_over_batch
    def diag(self, X):
        return self.scale * self.kernel.diag(X)


class Warped(Kernel):
    """``kernel(g(X1), g(X2))`` for an input transform ``g: (n, d) -> (n, d')`` (a JAX function).

    ``g`` is static: build the kernel inside the model when the warp has
    parameters of its own (e.g. ``RBF().warp(lambda X: jnp.log(X + c))``).
    """

    _params = {}

    def __init__(self, kernel: Kernel, transform: Callable):
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {type(transform).__name__}")
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "transform", transform)
        object.__setattr__(self, "active_dims", None)

    def _leaf_names(self):
        return ("kernel",)

    def _static_names(self):
        return ("transform", "active_dims")

    def _display_parts(self):
        return [repr(self.kernel)], {"transform": getattr(self.transform, "__name__", type(self.transform).__name__)}

    def depends_on(self, dim: int) -> frozenset[int]:
        return frozenset(range(dim))  # the transform may mix every input dimension

    def _apply(self, X):
        return None if X is None else self.transform(as_inputs(X))

    @_over_batch
    def __call__(self, X1, X2=None):
        return self.kernel(self._apply(X1), self._apply(X2))

    @_over_batch
    def diag(self, X):
        return self.kernel.diag(self._apply(X))


class Summand(NamedTuple):
    """One term of a kernel's additive decomposition (see :func:`summands`).

    Attributes:
        kernel: a kernel that is not a ``Sum`` or ``Scaled``.
        scale: the product of the ``Scaled`` factors above it (``1.0`` if none).
        in_target: whether it lies inside the ``target`` subtree.
    """

    kernel: Kernel
    scale: Any
    in_target: bool


def summands(kernel: Kernel, target: Kernel | None = None) -> list[Summand]:
    """``kernel`` as ``Σ_i scale_i · k_i``: sums flattened and scalings multiplied out, depth first.

    The one fold of ``Sum``/``Scaled`` that feature bases use (HSGP, random
    Fourier features); products and warps are single terms.

    Args:
        kernel: the kernel.
        target: optional part of ``kernel`` (the same object) whose terms get
            ``in_target=True``.

    Raises:
        ValueError: when ``target`` is given but is not part of ``kernel`` as a summand.
    """
    out = kernel._summands(1.0, target is None, target)
    if target is not None and not any(t.in_target for t in out):
        raise ValueError("kernel= must be one of the summands of the process's (sum) kernel, as the same object")
    return out


# -- composite rules of the kernel capabilities ------------------------------------------------
@state_space_form.register(Scaled)
def _scaled_state_space(k: Scaled, J) -> StateSpaceModel:
    """``c · k``: the model of ``k`` with ``Qc`` and ``Pinf`` scaled by ``c`` (same ``s`` states)."""
    m = state_space_form(k.kernel, J)
    c = real_array(k.scale)
    return dataclasses.replace(m, Qc=c * m.Qc, Pinf=c * m.Pinf)


@state_space_form.register(Sum)
def _sum_state_space(k: Sum, J) -> StateSpaceModel:
    """``k1 + k2``: independent states side by side (``s1 + s2``, block diagonal), ``H = [H1, H2]``."""
    a, b = state_space_form(k.k1, J), state_space_form(k.k2, J)
    return StateSpaceModel(
        F=block_diag(a.F, b.F), L=block_diag(a.L, b.L), Qc=block_diag(a.Qc, b.Qc),
        H=jnp.concatenate([a.H, b.H], axis=1), Pinf=block_diag(a.Pinf, b.Pinf),
    )


@state_space_form.register(Product)
def _product_state_space(k: Product, J) -> StateSpaceModel:
    """``k1 · k2``: the Kronecker product state (``s1 · s2``); see ``state_space``."""
    a, b = state_space_form(k.k1, J), state_space_form(k.k2, J)
    F = jnp.kron(a.F, jnp.eye(b.state_dim)) + jnp.kron(jnp.eye(a.state_dim), b.F)
    P = jnp.kron(a.Pinf, b.Pinf)
    Qc = -(F @ P + P @ F.T)
    return StateSpaceModel(
        F=F, L=jnp.eye(F.shape[0], dtype=F.dtype), Qc=0.5 * (Qc + Qc.T), H=jnp.kron(a.H, b.H), Pinf=P
    )


refuse(state_space_form, Warped,
       "Warped kernels have no state-space form (the warp changes the time axis); use structure='dense'")


@transition_matrix.register(Scaled)
def _scaled_transition(k: Scaled, dt, J):
    """``A(dt)`` ``(s, s)`` of ``k``: scaling changes no dynamics."""
    return transition_matrix(k.kernel, dt, J)


@transition_matrix.register(Product)
def _product_transition(k: Product, dt, J):
    """``A1(dt) ⊗ A2(dt)`` ``(s1·s2, s1·s2)``."""
    return jnp.kron(transition_matrix(k.k1, dt, J), transition_matrix(k.k2, dt, J))


@transition_matrix.register(Sum)
def _sum_transition(k: Sum, dt, J):
    """``blockdiag(A1(dt), A2(dt))`` ``(s1+s2, s1+s2)``."""
    return block_diag(transition_matrix(k.k1, dt, J), transition_matrix(k.k2, dt, J))


@spectral_density.register(Sum)
def _sum_spectral_density(k: Sum, omega):
    """``S1(ω) + S2(ω)`` ``(m,)``."""
    return spectral_density(k.k1, omega) + spectral_density(k.k2, omega)


@spectral_density.register(Scaled)
def _scaled_spectral_density(k: Scaled, omega):
    """``c · S(ω)`` ``(m,)``."""
    return k.scale * spectral_density(k.kernel, omega)


# -- helpers -------------------------------------------------------------
def _accepted(constraint: str) -> str:
    kind = {"positive": "a positive", "nonnegative": "a non-negative", "real": "a real"}[constraint]
    return f"{kind} float or an array of them"


def _validated(value, pname: str, constraint: str, owner: str):
    """A hyperparameter value as an array leaf; the one check every kernel family goes through.

    Non-numbers (strings, None, objects, complex, booleans) are a ``TypeError``
    and empty, non-finite or out-of-constraint values a ``ValueError``, each
    naming ``owner``, ``pname`` and what is accepted. Tracers only get the
    dtype check (values sampled inside a model are checked by their prior).
    """
    if constraint not in _CONSTRAINTS:  # pragma: no cover  (programming error)
        raise ValueError(f"unknown constraint {constraint!r}")
    value = as_real(value, f"{owner}: {pname}", allow_bool=False, accepted=_accepted(constraint))
    if is_concrete(value):
        if np.size(value) == 0:
            raise ValueError(
                f"{owner}: {pname} is empty (shape {np.shape(value)}); give {_accepted(constraint)}"
            )
        arr = as_float_array(value, f"{owner}: {pname}")
        # Check the host copy: under a trace jnp.asarray(value) is already a tracer.
        check_arr = np.asarray(value, dtype=float)
    else:
        arr = check_arr = jnp.asarray(value)
    if constraint == "positive":
        check_positive(check_arr, pname, owner)
    elif constraint == "nonnegative":
        check_nonnegative(check_arr, pname, owner)
    return arr


def _validated_dims(active_dims, owner):
    if active_dims is None:
        return None
    dims = tuple(int(i) for i in np.atleast_1d(np.asarray(active_dims)))
    if not dims or min(dims) < 0 or len(set(dims)) != len(dims):
        raise ValueError(f"{owner}: active_dims must be distinct non-negative indices, got {active_dims!r}")
    return dims


def _ard_dim(value):
    """Input dimension an ARD value implies: ``(d,)`` or batched ``(*batch, d)``; None for scalars and ``(*batch, 1)``."""
    shape = jnp.shape(value)
    if not shape or (len(shape) >= 2 and shape[-1] == 1):
        return None
    return int(shape[-1])


_BATCH_HINT = "a batch of kernels puts batch axes in front: shape {form} (e.g. value[..., None] under a plate)"


def _check_ard(name, value, owner, batch: bool = False):
    """``value`` is a scalar or ``(d,)``; with ``batch=True`` also ``(*batch, d)`` or ``(*batch, 1)``."""
    if jnp.ndim(value) > 1 and not batch:
        raise ValueError(f"{owner}: {name} must be a scalar or have shape (d,), got shape {jnp.shape(value)}")


def _check_scalar(name, value, owner, batch: bool = False):
    """``value`` is a scalar; with ``batch=True`` also ``(*batch, 1)``."""
    shape = jnp.shape(value)
    if shape == () or (batch and len(shape) >= 2 and shape[-1] == 1):
        return
    hint = f"; {_BATCH_HINT.format(form='(*batch, 1)')}" if batch else ""
    raise ValueError(f"{owner}: {name} must be a scalar, got shape {shape}{hint}")
