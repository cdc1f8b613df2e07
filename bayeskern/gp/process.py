"""``GaussianProcess``: a NumPyro distribution over observations at fixed inputs."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints

from bayeskern._checks import as_inputs, as_observations, check_nonnegative, is_concrete
from bayeskern.kernels import Kernel
from bayeskern.linalg import cholesky
from bayeskern.linalg.triangular import cho_solve



class GaussianProcess(Distribution):
    """Gaussian process observed at inputs ``X`` with additive Gaussian noise.

    ``y ~ N(m(X), K(X, X) + diag(noise))``, usable directly as
    ``numpyro.sample("y", GaussianProcess(k, X, noise=s2), obs=y)``.

    Args:
        kernel: a ``bayeskern.kernels.Kernel``.
        X: inputs ``(n,)`` or ``(n, d)``.
        noise: observation-noise variance, scalar or ``(n,)`` (heteroscedastic);
            ``None`` for noise-free observations.
        mean: ``None`` (zero), a scalar, an ``(n,)`` array, or a callable
            ``mean(X) -> (n,)`` (needed to predict at new inputs with a non-zero mean).
        method: linear-algebra back end: ``"dense"`` (Cholesky), ``"kalman"``
            (state space, 1-D inputs, ``O(n)``) or ``"auto"`` (Kalman when it
            applies and ``n >= 1000``, else dense); see ``bayeskern.gp.backends``.
        **method_options: settings of the chosen back end, e.g. ``num_harmonics``
            (Kalman with ``Periodic``); see each module of ``bayeskern.gp.backends``.

    Shapes: ``event_shape = (n,)``, ``batch_shape = ()``; under ``plate`` the
    distribution is expanded the usual NumPyro way.
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("kernel", "X", "noise", "loc", "mean_constant", "option_arrays")
    pytree_aux_fields = ("mean_fn", "mean_kind", "method", "options")

    def __init__(
        self,
        kernel: Kernel,
        X,
        noise=None,
        mean=None,
        *,
        method: str = "auto",
        validate_args=None,
        **method_options,
    ):
        from bayeskern.gp import backends

        if not isinstance(kernel, Kernel):
            raise ValueError(f"kernel must be a bayeskern Kernel, got {type(kernel).__name__}")
        self.kernel = kernel
        self.X = as_inputs(X, "X")
        # Host copy of concrete inputs: inside jit even constants become tracers, and
        # structured back ends (sorting, grid detection) want the values at trace time.
        self.X_host = None if not is_concrete(X) else np.asarray(X, dtype=float).reshape(self.X.shape)
        n = self.X.shape[0]
        self.noise = _as_noise(noise, n)
        self.mean_kind, self.mean_fn, self.mean_constant, self.loc = _as_mean(mean, X, n)
        self.options, self.option_arrays = _split_options(method_options)
        self.method = backends.choose(self, method)
        super().__init__(batch_shape=(), event_shape=(n,), validate_args=validate_args)

    # -- moments ---------------------------------------------------------
    @property
    def mean(self):
        """Prior mean ``(n,)``."""
        return self.loc

    @property
    def covariance_matrix(self):
        """``K(X, X) + diag(noise)``, ``(n, n)``."""
        K = self.kernel(self.X)
        return K + jnp.diag(jnp.broadcast_to(self.noise, K.shape[:1]).astype(K.dtype))

    @property
    def variance(self):
        """Marginal variances ``(n,)``."""
        return self.kernel.diag(self.X) + self.noise

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
        """Log marginal likelihood of ``value`` ``(..., n)`` -> ``(...)``."""
        return self._backend.log_prob(self, self._check_value(value))

    def sample(self, key, sample_shape=()):
        """Draws ``sample_shape + (n,)`` from the process (with noise)."""
        return self._backend.sample(self, key, sample_shape)

    def pointwise_log_prob(self, value):
        """Exact leave-one-out predictive log densities ``log p(y_i | y_{-i})``, ``(..., n)``.

        Rasmussen & Williams (2006) eqs. 5.10-5.12. These are the pointwise
        terms PSIS-LOO needs for a non-factorised Gaussian model (Bürkner,
        Gabry & Vehtari 2021); their sum is not ``log_prob``.
        """
        return self._backend.pointwise_log_prob(self, self._check_value(value))

    @property
    def _backend(self):
        from bayeskern.gp.backends import BACKENDS

        return BACKENDS[self.method]

    # -- conditioning ------------------------------------------------------
    def condition(self, y, X_new=None, *, kernel: Kernel | None = None, include_noise: bool = False):
        """Condition on observations ``y`` ``(n,)``.

        Returns the back end's posterior (dense: a ``GPPosterior``, factorised
        once and reusable for many predictions) when ``X_new`` is None, else
        the conditioned distribution over ``f(X_new)`` (see ``GPPosterior.at``).
        """
        y = self._check_value(y)
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
                f"method option {key}={value!r} must be hashable (a number, string or tuple) or an array"
            ) from err
        static[key] = value
    return static, arrays


def _as_noise(noise, n):
    if noise is None:
        return jnp.zeros(())
    arr = jnp.asarray(noise)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
        raise ValueError(f"noise must be a scalar or have shape ({n},), got shape {arr.shape}")
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError("noise must be finite")
    check_nonnegative(arr, "noise", "GaussianProcess")
    return arr


def _as_mean(mean, X_raw, n) -> tuple[str, Callable | None, jnp.ndarray, jnp.ndarray]:
    """``(kind, mean_fn, constant, loc)`` with kind in zero/constant/callable/array."""
    zero = jnp.zeros(())
    if mean is None:
        return "zero", None, zero, jnp.zeros((n,))
    if callable(mean):
        loc = jnp.asarray(mean(X_raw))
        if loc.shape != (n,):
            raise ValueError(f"mean(X) must return shape ({n},), got {loc.shape}")
        return "callable", mean, zero, loc
    loc = jnp.asarray(mean)
    if loc.ndim == 0:
        return "constant", None, loc, jnp.full((n,), loc)
    if loc.shape != (n,):
        raise ValueError(f"mean must be a scalar, a callable or have shape ({n},), got shape {loc.shape}")
    return "array", None, zero, loc


def mean_at(process: "GaussianProcess", X_new):
    """The prior mean function evaluated at new inputs ``X_new`` -> ``(m,)``."""
    m = as_inputs(X_new, "X_new").shape[0]
    if process.mean_kind == "callable":
        return jnp.asarray(process.mean_fn(X_new))
    if process.mean_kind == "array":
        raise ValueError(
            "the GP mean was given as an array at the training inputs, so it cannot be evaluated at "
            "X_new; pass mean as a callable mean(X) -> (n,) to predict"
        )
    return jnp.full((m,), process.mean_constant)


def solve(process: GaussianProcess, y):
    """``(L, α)`` for ``K_y = L Lᵀ`` and ``α = K_y⁻¹ (y - m)`` under the jitter policy."""
    L = cholesky(process.covariance_matrix, name="GP covariance")
    return L, cho_solve(L, y - process.loc)
