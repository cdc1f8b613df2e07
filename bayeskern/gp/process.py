"""``GaussianProcess``: a NumPyro distribution over observations at fixed inputs."""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints

from bayeskern._checks import as_inputs, as_observations, as_real, check_nonnegative, is_concrete
from bayeskern._display import call_repr, html_table, shape_str, short
from bayeskern.gp import backends
from bayeskern.gp.backends import BACKENDS
from bayeskern.kernels import Kernel
from bayeskern.priors import KernelSpecError


class GaussianProcess(Distribution):
    """Gaussian process observed at inputs ``X`` with additive Gaussian noise.

    ``y ~ N(m(X), K(X, X) + diag(noise))``, usable directly as
    ``numpyro.sample("y", GaussianProcess(k, X, noise=s2), obs=y)``.

    Args:
        kernel: a ``bayeskern.kernels.Kernel`` instance. A distribution's parameters are
            values, so unlike the model pieces (``latent``, ``laplace_marginal``, ``cox.fit``,
            which take any :data:`~bayeskern.priors.KernelSpec`) it takes no kernel class or
            callable: sample the kernel first, ``k = bk.priors.resolve_kernel(Matern52, "f", X, y)``
            (sites ``f_lengthscale``, ``f_variance``), then ``GaussianProcess(k, X, ...)``.
        X: inputs ``(n,)`` or ``(n, d)``.
        noise: observation-noise variance, scalar or ``(n,)`` (heteroscedastic);
            ``None`` for noise-free observations.
        mean: ``None`` (zero), a scalar, an ``(n,)`` array, or a callable
            ``mean(X) -> (n,)`` (needed to predict at new inputs with a non-zero mean).
        structure: the linear-algebra back end: ``"dense"`` (Cholesky), ``"kalman"``
            (state space, 1-D inputs, ``O(n)``), ``"kronecker"`` (grids), the approximations
            ``"hsgp"``, ``"rff"``, ``"sgpr"``, or ``"auto"``, resolved by
            :func:`bayeskern.gp.structure.choose_structure` (context ``"gp"``: Kalman for 1-D
            inputs from 128 points, Kronecker for exact grids from 64 points, else dense);
            see ``bayeskern.gp.backends``.
        **structure_options: settings of the chosen back end, e.g. ``num_harmonics``
            (Kalman with ``Periodic``); see each module of ``bayeskern.gp.backends``.

    Shapes: ``event_shape = (n,)``, ``batch_shape = ()``; under ``plate`` the
    distribution is expanded the usual NumPyro way (one kernel for every series).

    Batches of GPs (per-series hyperparameters): give the kernel's
    hyperparameters and, optionally, ``noise`` leading batch axes in front
    of their own trailing axis (see ``bayeskern.kernels.base``): a kernel
    with ``batch_shape (S,)`` and ``noise`` ``(S, 1)`` or ``(S, n)`` make a
    process with ``batch_shape (S,)``, ``S`` independent GPs at the same
    inputs, whose ``log_prob`` of ``Y`` ``(S, n)`` is ``(S,)``. Only the dense
    back end takes batches (``structure="auto"`` picks it); ``condition``
    takes one series at a time; ``mean`` is shared by the series. Example::

        with numpyro.plate("series", S):
            ell = numpyro.sample("ell", dist.LogNormal(0.0, 1.0))      # (S,)
            var = numpyro.sample("var", dist.LogNormal(0.0, 1.0))
            noise = numpyro.sample("noise", dist.LogNormal(-3.0, 1.0))
            kernel = Matern52(lengthscale=ell[..., None], variance=var[..., None])
            numpyro.sample("y", GaussianProcess(kernel, X, noise=noise[..., None]), obs=Y)   # Y (S, n)
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("kernel", "X", "noise", "loc", "mean_constant", "option_arrays")
    pytree_aux_fields = ("mean_fn", "mean_kind", "structure", "options")

    def __init__(
        self,
        kernel: Kernel,
        X,
        noise=None,
        mean=None,
        *,
        structure: str = "auto",
        validate_args=None,
        **structure_options,
    ):
        if not isinstance(kernel, Kernel):
            raise KernelSpecError(
                f"GaussianProcess: kernel must be a bayeskern Kernel instance (a distribution takes values), got "
                f"{getattr(kernel, '__name__', type(kernel).__name__)}; for a kernel class or a callable "
                "(prefix, X) -> Kernel, sample it first with bk.priors.resolve_kernel(kernel, prefix, X, y) "
                "inside the model, or use a model piece that takes any kernel spec (bk.gp.latent, "
                "bk.gp.laplace_marginal)")
        self.kernel = kernel
        self.X = as_inputs(X, "X", nonempty=True)
        # Host copy of concrete inputs: inside jit even constants become tracers, and
        # structured back ends (sorting, grid detection) want the values at trace time.
        self.X_host = None if not is_concrete(X) else np.asarray(X, dtype=float).reshape(self.X.shape)
        n, d = self.X.shape
        _check_kernel_dim(kernel, d)
        kernel_batch = kernel.batch_shape
        self.noise = _as_noise(noise, n, batched=bool(kernel_batch))
        batch = tuple(jnp.broadcast_shapes(kernel_batch, jnp.shape(self.noise)[:-1]))
        self.mean_kind, self.mean_fn, self.mean_constant, self.loc = _as_mean(mean, X, n)
        self.options, self.option_arrays = _split_options(structure_options)
        if batch:
            if structure not in ("auto", "dense"):
                raise ValueError(
                    f"structure={structure!r} cannot be used: the kernel's hyperparameters have batch shape {batch} "
                    "(one GP per series) and only structure='dense' takes batches; for a structured back end "
                    "build one GaussianProcess per series (a Python loop, or one site per series)"
                )
            structure = "dense"
        self.structure = backends.choose(self, structure)
        backends.check_options(structure, self.structure, structure_options)
        super().__init__(batch_shape=batch, event_shape=(n,), validate_args=validate_args)

    # -- display ---------------------------------------------------------
    def _display_facts(self) -> dict[str, str]:
        n, d = self.X.shape
        mean = {
            "zero": "zero",
            "constant": short(self.mean_constant),
            "callable": getattr(self.mean_fn, "__name__", "callable"),
            "array": f"array {short(self.loc)}",
        }[self.mean_kind]
        facts = {"kernel": repr(self.kernel), "n": str(n), "d": str(d), "noise": short(self.noise),
                 "mean": mean, "structure": repr(self.structure)}
        if self.batch_shape:
            facts["batch_shape"] = shape_str(self.batch_shape)
        return facts

    def __repr__(self) -> str:
        """``GaussianProcess(kernel=..., n=50, d=1, noise=0.01, mean=zero, structure='dense')``."""
        return call_repr("GaussianProcess", self._display_facts())

    def _repr_html_(self) -> str:
        """A small HTML table: kernel, n, d, noise, mean, back end (Jupyter)."""
        return html_table("GaussianProcess", self._display_facts())

    # -- moments ---------------------------------------------------------
    @property
    def mean(self):
        """Prior mean ``(n,)``."""
        return self.loc

    @property
    def covariance_matrix(self):
        """``K(X, X) + diag(noise)``, ``batch_shape + (n, n)``."""
        K = self.kernel(self.X)
        noise = jnp.broadcast_to(self.noise, K.shape[:-1]).astype(K.dtype)
        return K + noise[..., None] * jnp.eye(K.shape[-1], dtype=K.dtype)

    @property
    def variance(self):
        """Marginal variances ``batch_shape + (n,)``."""
        return jnp.broadcast_to(self.kernel.diag(self.X) + self.noise, self.batch_shape + self.event_shape)

    # -- distribution protocol ---------------------------------------------
    def _check_value(self, value):
        value = as_observations(value, "y")
        n = self.event_shape[0]
        if value.ndim == 0 or value.shape[-1] != n:
            raise ValueError(
                f"y must have shape (..., {n}) to match the {n} inputs in X, got shape {jnp.shape(value)}"
            )
        return value

    def log_prob(self, value):
        """Log marginal likelihood of ``value`` ``(..., n)`` -> ``(...)`` (batched: ``(..., *batch_shape)``)."""
        value = self._check_value(value)
        if self.batch_shape:
            return self._per_series(lambda p, v: p._backend.log_prob(p, v), value, 0)
        return self._backend.log_prob(self, value)

    def sample(self, key, sample_shape=()):
        """Draws ``sample_shape + batch_shape + (n,)`` from the process (with noise)."""
        if not self.batch_shape:
            return self._backend.sample(self, key, sample_shape)
        keys = jax.random.split(key, math.prod(self.batch_shape))
        out = self._map_series(lambda p, k: p._backend.sample(p, k, sample_shape), keys)
        out = out.reshape(self.batch_shape + out.shape[1:])  # (*batch, *sample_shape, n)
        nb = len(self.batch_shape)
        return jnp.moveaxis(out, tuple(range(nb)), tuple(range(len(sample_shape), len(sample_shape) + nb)))

    def pointwise_log_prob(self, value):
        """Exact leave-one-out predictive log densities ``log p(y_i | y_{-i})``, ``(..., n)``.

        Rasmussen & Williams (2006) eqs. 5.10-5.12. These are the pointwise
        terms PSIS-LOO needs for a non-factorised Gaussian model (Bürkner,
        Gabry & Vehtari 2021); their sum is not ``log_prob``.
        """
        value = self._check_value(value)
        if self.batch_shape:
            return self._per_series(lambda p, v: p._backend.pointwise_log_prob(p, v), value, 1)
        return self._backend.pointwise_log_prob(self, value)

    # -- batches -----------------------------------------------------------
    def _map_series(self, fn, *arrays):
        """``fn(process_i, *arrays_i)`` for each unbatched process of the batch, under one ``jax.vmap``.

        ``arrays`` carry a leading axis of size ``prod(batch_shape)``; so does the result.
        """
        batch = self.batch_shape
        size = math.prod(batch)
        kernels = self.kernel._stacked(batch) if self.kernel.batch_shape else None
        noise = jnp.broadcast_to(self.noise, batch + jnp.shape(self.noise)[-1:]).reshape(size, -1)
        # A (B, 1) noise becomes one scalar per series; (B, n) stays heteroscedastic.
        noise = noise[:, 0] if noise.shape[-1] == 1 else noise
        mean = {"zero": None, "constant": self.mean_constant, "callable": self.mean_fn, "array": self.loc}[self.mean_kind]

        def one(kernel, noise_i, *arrays_i):
            kernel = self.kernel if kernel is None else kernel
            return fn(GaussianProcess(kernel, self.X, noise_i, mean, structure=self.structure), *arrays_i)

        if kernels is None:
            return jax.vmap(lambda nz, *a: one(None, nz, *a))(noise, *arrays)
        return jax.vmap(one)(kernels, noise, *arrays)

    def _per_series(self, fn, value, event_ndim: int):
        """``fn(process, value)`` series by series; ``value`` ``(..., *batch, n)`` -> ``(..., *batch[, n])``."""
        batch, n = self.batch_shape, self.event_shape[0]
        nb = len(batch)
        lead = tuple(jnp.broadcast_shapes(value.shape[:-1], batch)[:-nb])
        value = jnp.broadcast_to(value, lead + batch + (n,)).reshape(lead + (math.prod(batch), n))
        value = jnp.moveaxis(value, -2, 0)  # (B, *lead, n)
        out = self._map_series(fn, value)  # (B, *lead[, n])
        out = jnp.moveaxis(out, 0, len(lead)) if event_ndim == 0 else jnp.moveaxis(out, 0, -2)
        return out.reshape(lead + batch + out.shape[len(lead) + 1:])

    @property
    def _backend(self):
        return BACKENDS[self.structure]

    # -- conditioning ------------------------------------------------------
    def condition(self, y, X_new=None, *, kernel: Kernel | None = None, include_noise: bool = False):
        """Condition on observations ``y`` ``(n,)``.

        Returns the back end's posterior (dense: a ``GPPosterior``, factorised
        once and reusable for many predictions) when ``X_new`` is None, else
        the conditioned distribution over ``f(X_new)`` (see ``GPPosterior.at``).
        """
        y = self._check_value(y)
        if self.batch_shape:
            raise ValueError(
                f"condition takes one GP at a time, but this process is a batch of shape {self.batch_shape}; "
                "build GaussianProcess(kernel_i, X, noise_i) for series i from its own hyperparameter values"
            )
        if y.ndim != 1:
            raise ValueError(f"condition expects a single vector y of shape (n,), got {y.shape}")
        posterior = self._backend.condition(self, y)
        if X_new is None:
            return posterior
        return posterior.at(X_new, kernel=kernel, include_noise=include_noise)


class _Options(dict):
    """Back-end options; hashable so that they can be static pytree metadata."""

    def __hash__(self):
        return hash(tuple(sorted(self.items())))


def _split_options(options: dict):
    """Hashable settings (static) and array-valued ones (pytree data)."""
    static, arrays = _Options(), {}
    for key, value in options.items():
        leaves = jax.tree_util.tree_leaves(value)
        # A tuple of arrays (e.g. Kronecker grid axes) is data too, not a static setting.
        if any(isinstance(leaf, (jax.Array, np.ndarray)) or not is_concrete(leaf) for leaf in leaves):
            arrays[key] = value
            continue
        try:
            hash(value)
        except TypeError as err:
            raise ValueError(
                f"structure option {key}={value!r} must be hashable (a number, string or tuple) or an array"
            ) from err
        static[key] = value
    return static, arrays


def _check_kernel_dim(kernel: Kernel, d: int) -> None:
    """Refuse, before any tracing, a kernel whose ARD hyperparameters disagree with X's dimension."""
    expected = kernel.input_dim
    have = len(kernel.active_dims) if kernel.active_dims else d
    if expected is not None and expected != have:
        raise ValueError(
            f"{type(kernel).__name__} has hyperparameters for {expected} input dimension(s) but X has {have}; "
            "if these are per-series values sampled under a numpyro.plate, give them a trailing axis "
            "(lengthscale=ell[..., None], variance=var[..., None]) to make a batch of GPs"
        )


def _as_noise(noise, n, batched: bool = False):
    if noise is None:
        return jnp.zeros(())
    arr = jnp.asarray(as_real(noise, "noise", allow_bool=False, accepted=f"a non-negative float or an array of shape ({n},)"))
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    batch_ok = batched and arr.ndim >= 2 and arr.shape[-1] in (1, n)
    if not batch_ok and (arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n)):
        hint = (
            f"; a batch of GPs takes noise of shape (*batch, 1) or (*batch, {n})" if batched
            else "; noise with batch axes (*batch, 1) needs a batched kernel (hyperparameters of shape (*batch, 1))"
            if arr.ndim > 1 else ""
        )
        raise ValueError(f"noise must be a scalar or have shape ({n},), got shape {arr.shape}{hint}")
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"noise must be finite, got {np.asarray(arr)!r}")
    check_nonnegative(arr, "noise", "GaussianProcess")
    return arr


def _as_mean(mean, X_raw, n) -> tuple[str, Callable | None, jnp.ndarray, jnp.ndarray]:
    """``(kind, mean_fn, constant, loc)`` with kind in zero/constant/callable/array."""
    zero = jnp.zeros(())
    if mean is None:
        return "zero", None, zero, jnp.zeros((n,))
    accepted = f"None, a float, an array of shape ({n},) or a callable mean(X) -> ({n},)"
    if callable(mean):
        loc = jnp.asarray(as_real(mean(X_raw), "mean(X)", accepted=f"real numbers of shape ({n},)"))
        if loc.shape != (n,):
            raise ValueError(f"mean(X) must return shape ({n},), got {loc.shape}")
        _check_finite_mean(loc, "mean(X)")
        return "callable", mean, zero, loc
    loc = jnp.asarray(as_real(mean, "mean", allow_bool=False, accepted=accepted))
    _check_finite_mean(loc, "mean")
    if loc.ndim == 0:
        return "constant", None, loc, jnp.full((n,), loc)
    if loc.shape != (n,):
        raise ValueError(f"mean must be a scalar, a callable or have shape ({n},), got shape {loc.shape}")
    return "array", None, zero, loc


def _check_finite_mean(loc, name: str) -> None:
    if is_concrete(loc) and not np.all(np.isfinite(np.asarray(loc))):
        raise ValueError(f"{name} must be finite, got {np.asarray(loc)!r}; a NaN/inf prior mean makes every log density NaN/-inf")
