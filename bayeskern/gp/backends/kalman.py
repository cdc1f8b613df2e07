"""Kalman back end: 1-D inputs and kernels with a state-space form, ``O(n)`` time and memory.

Inputs are sorted internally (stable, so ties keep their order; a zero
step is an identity transition). The same relative jitter as the dense
back end is added to the noise, so both compute the same model.

Options (``GaussianProcess(..., structure="kalman", **options)``):
    num_harmonics: harmonics per ``Periodic`` component (approximate form).
    parallel_scan: use the associative-scan filter for ``log_prob``
        (``O(log n)`` depth; default: on when JAX's default backend is not the CPU).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.gp.posterior import GaussianPrediction, mean_at, prediction_noise
from bayeskern.kernels import Kernel, Sum, discrete_transitions, state_space
from bayeskern.linalg import default_jitter
from bayeskern.linalg.kalman import kalman_log_likelihood, kalman_sample, kalman_smoother
from bayeskern.linalg.kalman_parallel import parallel_log_likelihood

#: Settings this back end reads from ``GaussianProcess(..., **structure_options)``.
OPTIONS = ("num_harmonics", "parallel_scan")


def applicable(process):
    """None when the Kalman filter applies to ``process``, else the reason."""
    if process.X.shape[1] != 1:
        return f"the Kalman filter needs 1-D inputs, X has {process.X.shape[1]} dimensions"
    try:
        state_space(process.kernel, num_harmonics=process.options.get("num_harmonics"))
    except ValueError as err:
        return str(err)
    return None


class _Chain:
    """Sorted inputs, transitions and noise of one process (built once per call)."""

    def __init__(self, process, t_extra=None, t_extra_host=None):
        J = process.options.get("num_harmonics")
        self.model = state_space(process.kernel, num_harmonics=J)
        t = process.X[:, 0]
        n = t.shape[0]
        jitter = default_jitter(t.dtype) * jnp.mean(process.kernel.diag(process.X))
        r = jnp.broadcast_to(process.noise, (n,)).astype(t.dtype) + jitter
        observed = jnp.ones((n,), bool)
        if t_extra is not None:
            t = jnp.concatenate([t, t_extra])
            r = jnp.concatenate([r, jnp.ones_like(t_extra)])
            observed = jnp.concatenate([observed, jnp.zeros(t_extra.shape, bool)])
        self.n = n
        X_host = getattr(process, "X_host", None)
        host = None if X_host is None else X_host[:, 0]
        if host is not None and t_extra is not None:
            host = None if t_extra_host is None else np.concatenate([host, t_extra_host])
        if host is not None:
            # Sort data on the host: XLA would otherwise constant-fold a sort of a
            # closed-over array at every compilation, which takes seconds for large n.
            t_host = host
            self.order = np.argsort(t_host, kind="stable")
            ts = t_host[self.order]
            dt = np.diff(ts, prepend=ts[:1])
        else:
            self.order = jnp.argsort(t, stable=True)
            ts = t[self.order]
            dt = jnp.diff(ts, prepend=ts[:1])
        self.A, self.Q = discrete_transitions(process.kernel, dt, num_harmonics=J, model=self.model)
        self.r = r[self.order]
        self.observed = observed[self.order]

    def sort(self, values):
        return jnp.take(values, self.order, axis=-1)

    def unsort(self, values):
        return jnp.take(values, jnp.argsort(self.order), axis=-1)


def log_prob(process, value):
    """Kalman-filter log marginal likelihood, ``(..., n) -> (...)``."""
    chain = _Chain(process)
    m = chain.model
    parallel = process.options.get("parallel_scan", jax.default_backend() != "cpu")
    filt = parallel_log_likelihood if parallel else kalman_log_likelihood

    def one(resid):
        return filt(chain.A, chain.Q, m.H, m.Pinf, chain.sort(resid), chain.r)

    return jnp.vectorize(one, signature="(n)->()")(value - process.loc)


def pointwise_log_prob(process, value):
    """Exact LOO terms from the smoothed marginals (Gaussian cavity), ``(..., n)``.

    With smoothed ``f_i | y ~ N(μ_i, s_i²)`` and noise ``r_i``:
    ``y_i | y_{-i} ~ N(y_i - r_i (y_i - μ_i)/(r_i - s_i²), r_i²/(r_i - s_i²))``.
    """
    chain = _Chain(process)
    m = chain.model

    def one(resid):
        ys = chain.sort(resid)
        _, mu, s2, _, _ = kalman_smoother(chain.A, chain.Q, m.H, m.Pinf, ys, chain.r)
        gap = chain.r - s2
        out = -0.5 * (jnp.log(2 * math.pi * chain.r**2 / gap) + (ys - mu) ** 2 / gap)
        return chain.unsort(out)

    return jnp.vectorize(one, signature="(n)->(n)")(value - process.loc)


def sample(process, key, sample_shape):
    """Prior draws (with noise) by backward sampling with nothing observed."""
    chain = _Chain(process)
    m = chain.model
    num = int(math.prod(sample_shape)) if sample_shape else 1
    none = jnp.zeros((chain.n,), bool)
    k_f, k_e = jax.random.split(key)
    f = kalman_sample(k_f, chain.A, chain.Q, m.H, m.Pinf, jnp.zeros(chain.n), chain.r, none, num)
    noise = jnp.sqrt(jnp.broadcast_to(process.noise, (chain.n,)))
    draws = process.loc + chain.unsort(f) + noise * jax.random.normal(k_e, f.shape, f.dtype)
    return draws.reshape(tuple(sample_shape) + (chain.n,))


def condition(process, y):
    """A ``KalmanPosterior``; each ``at`` call runs one smoother pass over data and new inputs."""
    return KalmanPosterior(process, y)


class KalmanPosterior:
    """GP posterior computed by the RTS smoother on the merged, sorted inputs."""

    def __init__(self, process, y):
        self.process = process
        self.resid = y - process.loc

    def at(self, X_new, *, kernel: Kernel | None = None, include_noise: bool = False, noise_new=None):
        """Distribution over ``f(X_new)`` (or one additive ``kernel`` component of it); see ``GPPosterior.at``."""
        proc = self.process
        Xn = as_inputs(X_new, "X_new")
        if Xn.shape[1] != 1:
            raise ValueError(f"X_new must be 1-D for the Kalman back end, got {Xn.shape[1]} dimensions")
        host_new = np.asarray(X_new, dtype=float).reshape(-1) if is_concrete(X_new) else None
        chain = _Chain(proc, Xn[:, 0], host_new)
        m = chain.model
        readout = None if kernel is None else _component_H(proc.kernel, kernel, proc.options.get("num_harmonics"))
        y_all = chain.sort(jnp.concatenate([self.resid, jnp.zeros(Xn.shape[0], self.resid.dtype)]))
        _, mu, var, _, _ = kalman_smoother(chain.A, chain.Q, m.H, m.Pinf, y_all, chain.r, chain.observed, readout)
        test = jnp.argsort(chain.order)[chain.n:]  # positions of X_new in the sorted chain
        prior_mean = jnp.zeros(Xn.shape[0]) if kernel is not None else mean_at(proc, X_new)
        extra = prediction_noise(proc, Xn.shape[0], include_noise, noise_new)
        sampler = (chain.A, chain.Q, m.H, m.Pinf, y_all, chain.r, chain.observed, test, prior_mean,
                   m.H if readout is None else readout)
        return KalmanConditioned(prior_mean + mu[test], var[test], sampler, extra)


class KalmanConditioned(GaussianPrediction):
    """``f(X_new) | y`` from the smoother: exact mean and variance, joint draws by backward sampling.

    The full ``(m, m)`` covariance is not formed by this back end; use
    ``structure="dense"`` when it is needed.
    """

    pytree_data_fields = ("marginal_variance", "sampler")

    def __init__(self, loc, marginal_variance, sampler, extra_noise=None, validate_args=None):
        self.marginal_variance = marginal_variance
        self.sampler = sampler
        super().__init__(loc, extra_noise, validate_args)

    def _posterior_variance(self):
        return self.marginal_variance

    def _posterior_covariance(self):
        raise ValueError(
            "the Kalman back end gives posterior means, variances and joint samples but not the full "
            "covariance matrix; build the GaussianProcess with structure='dense' for it"
        )

    def sample(self, key, sample_shape=()):
        """Joint draws ``sample_shape + (m,)``."""
        A, Q, H, Pinf, y, r, observed, test, prior_mean, readout = self.sampler
        num = int(math.prod(sample_shape)) if sample_shape else 1
        k_f, k_e = jax.random.split(key)
        # Backward sampling draws from the posterior itself (smoothed mean included).
        draws = prior_mean + kalman_sample(k_f, A, Q, H, Pinf, y, r, observed, num, readout)[:, test]
        if self.extra_noise is not None:
            draws = draws + jnp.sqrt(self.extra_noise) * jax.random.normal(k_e, draws.shape, draws.dtype)
        return draws.reshape(tuple(sample_shape) + self.event_shape)

    def log_prob(self, value):
        raise ValueError(
            "the Kalman back end does not evaluate the joint posterior density of f(X_new); "
            "use structure='dense' for it"
        )


def _component_H(kernel: Kernel, target: Kernel, J):
    """Measurement row ``(1, s)`` reading out the summand ``target`` of a sum kernel."""

    def walk(k):
        if k is target:
            return state_space(k, num_harmonics=J).H, True
        if isinstance(k, Sum):
            h1, f1 = walk(k.k1)
            h2, f2 = walk(k.k2)
            return jnp.concatenate([h1, h2], axis=1), f1 or f2
        s = state_space(k, num_harmonics=J).state_dim
        return jnp.zeros((1, s)), False

    H, found = walk(kernel)
    if not found:
        raise ValueError("kernel= must be one of the summands of the process's (sum) kernel, as the same object")
    return H
