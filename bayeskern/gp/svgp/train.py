"""``fit_svgp``: the dedicated SVGP trainer (optax, minibatches, optional natural gradients) and its result."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
from numpyro import handlers
from numpyro.distributions import biject_to, constraints

from bayeskern._checks import as_inputs, as_observations, is_concrete
from bayeskern.features.nystrom import as_landmarks, landmark_cholesky
from bayeskern.gp.svgp.elbo import (
    _check_q,
    _kl_unwhitened,
    _mean_values,
    kl_whitened,
    natural_gradient_step,
    q_marginals,
    svgp_elbo,
)
from bayeskern.gp.svgp.quadrature import (
    NUM_QUADRATURE,
    _gaussian_noise_scale,
    expected_log_likelihood,
    log_predictive_density,
    predictive_moments,
)
from bayeskern.kernels import Kernel
from bayeskern.results import Result


class SVGPPrediction(NamedTuple):
    """Predictive moments at new inputs, each ``(m,)``.

    ``f_mean``, ``f_var``: ``q(f(X_new))``. ``y_mean``, ``y_var``: the
    likelihood's mean and variance integrated over ``q(f)`` (by quadrature;
    for a Gaussian likelihood ``y_var = f_var + noise``; for Bernoulli
    ``y_mean`` is the predictive probability); ``None`` when the likelihood
    has no mean/variance.
    """

    f_mean: jax.Array
    f_var: jax.Array
    y_mean: jax.Array | None
    y_var: jax.Array | None


class SVGPFit(Result):
    """Result of :func:`fit_svgp`.

    A :class:`~bayeskern.results.Result`: ``summary()`` (the fitted
    hyperparameters), ``plot()`` (the ELBO trace), ``save``/``load``. The
    likelihood and mean functions are code and are not saved: pass them to
    ``SVGPFit.load(path, likelihood=..., mean=...)`` to predict again (the
    fitted kernel is saved).

    Attributes:
        params: every fitted parameter by site name (constrained values):
            the user's hyperparameters plus ``{name}_inducing``,
            ``{name}_q_loc``, ``{name}_q_scale_tril``.
        hyperparameters: the user's parameters only (kernel, likelihood, mean).
        kernel: the kernel built with the fitted hyperparameters.
        inducing: fitted ``Z`` ``(M, d)``.
        q_loc, q_scale_tril: fitted ``q(v)`` (or ``q(u)`` when not whitened).
        elbo: ``(steps,)`` ELBO estimate at each step, at the parameters before that step's update.
        whiten, num_data: settings of the fit.
    """

    def __init__(self, *, params, user_names, name, kernel_fn, likelihood, mean, whiten, jitter,
                 num_quadrature, elbo, num_data):
        self.params = params
        self.hyperparameters = {k: params[k] for k in user_names}
        self._name = name
        self._kernel_fn = kernel_fn
        self._likelihood = likelihood
        self._mean = mean
        self.whiten = whiten
        self._jitter = jitter
        self._Q = num_quadrature
        self.elbo = elbo
        self.num_data = num_data
        self.inducing = params[f"{name}_inducing"]
        self.q_loc = params[f"{name}_q_loc"]
        self.q_scale_tril = params[f"{name}_q_scale_tril"]
        self.kernel = self._with_params(kernel_fn)
        self._attach()

    _not_saved = ("_kernel_fn", "_likelihood", "_mean", "_gaussian", "_jitted")

    def _attach(self) -> None:
        """Derived state that needs the likelihood (recomputed after :meth:`load`)."""
        self._gaussian = self._likelihood is not None and self._with_params(
            lambda: _gaussian_noise_scale(self._likelihood, jnp.zeros((2,), self.q_loc.dtype))) is not None
        self._jitted = jax.jit(self._evaluate, static_argnums=0)

    @classmethod
    def load(cls, path, *, likelihood: Callable | None = None, mean=None) -> SVGPFit:
        """Read a fit written by :meth:`save`; ``likelihood`` (and ``mean``, if the fit had one) are the
        functions the fit was made with, needed by :meth:`predict` and :meth:`log_predictive_density`.

        Example::

            fit.save("svgp.npz")
            again = SVGPFit.load("svgp.npz", likelihood=lambda f: dist.Bernoulli(logits=f))
        """
        obj = super().load(path)
        if not isinstance(obj, SVGPFit):
            raise ValueError(f"SVGPFit.load: {path!r} holds a {type(obj).__name__}")
        fitted = obj.kernel
        obj._kernel_fn = lambda: fitted
        obj._likelihood, obj._mean = likelihood, mean
        obj._attach()
        return obj

    def _after_load(self) -> None:
        # Result.load (or bayeskern.load) without a likelihood: the kernel is known, predictions are not
        fitted = self.kernel
        self._kernel_fn = lambda: fitted
        self._attach()

    def summary(self):
        """Fitted hyperparameters (one row each, ``value``; vectors by index) and the final ``elbo``."""
        import pandas as pd

        rows = {}
        for k, v in self.hyperparameters.items():
            a = np.asarray(v, dtype=float)
            if a.ndim == 0:
                rows[k] = float(a)
            else:
                rows.update({f"{k}[{','.join(map(str, i))}]": float(x) for i, x in np.ndenumerate(a)})
        rows["elbo"] = float(np.asarray(self.elbo)[-1])
        return pd.DataFrame({"value": list(rows.values())}, index=list(rows))

    def plot(self, ax=None, **kwargs):
        """The ELBO estimate per optimisation step; returns the ``Axes`` (``kwargs`` go to ``Axes.plot``)."""
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(5, 3))[1] if ax is None else ax
        elbo = np.asarray(self.elbo, dtype=float)
        ax.plot(np.arange(elbo.size), elbo, **{"lw": 0.8, **kwargs})
        ax.set_xlabel("step")
        ax.set_ylabel("ELBO (minibatch estimate)")
        return ax

    def _with_params(self, fn, *args):
        return handlers.substitute(fn, data=self.params)(*args)

    def _evaluate(self, what, params, Xc, yc):
        """``what`` in marginals / moments / lpd / ell on one chunk (jitted once per shape)."""

        def run():
            kernel = self._kernel_fn()
            Z = params[f"{self._name}_inducing"]
            mu, var = q_marginals(kernel, Xc, Z, params[f"{self._name}_q_loc"],
                                  params[f"{self._name}_q_scale_tril"], whiten=self.whiten, jitter=self._jitter)
            mu = mu + _mean_values(self._mean, Xc)
            if what == "moments":
                return (mu, var) + predictive_moments(self._likelihood, mu, var, self._Q)
            if what == "lpd":
                if self._gaussian:
                    scale = self._likelihood(mu).scale
                    return dist.Normal(mu, jnp.sqrt(var + scale**2)).log_prob(yc)
                return log_predictive_density(self._likelihood, yc, mu, var, self._Q)
            return jnp.sum(expected_log_likelihood(self._likelihood, yc, mu, var, self._Q))

        return handlers.substitute(run, data=params)()

    def _chunks(self, what, X, y, chunk_size):
        Xa = as_inputs(X, "X_new")
        if Xa.shape[1] != self.inducing.shape[1]:
            raise ValueError(f"inputs must have {self.inducing.shape[1]} dimension(s) like the training X, "
                             f"got {Xa.shape[1]}")
        ya = None if y is None else as_observations(y, "y")
        if ya is not None and ya.shape != Xa.shape[:1]:
            raise ValueError(f"y must have shape ({Xa.shape[0]},) to match the inputs, got {ya.shape}")
        out = []
        for s in range(0, Xa.shape[0], chunk_size):
            yc = None if ya is None else ya[s:s + chunk_size]
            out.append(self._jitted(what, self.params, Xa[s:s + chunk_size], yc))
        return out

    def _need_likelihood(self, what: str) -> None:
        if self._likelihood is None:
            raise ValueError(f"SVGPFit.{what}: this fit was loaded without its likelihood (code is not saved); "
                             "load it with SVGPFit.load(path, likelihood=..., mean=...)")

    def predict(self, X_new, *, chunk_size: int = 4096) -> SVGPPrediction:
        """Moments of ``q(f(X_new))`` and of the predictive ``y`` (see :class:`SVGPPrediction`)."""
        self._need_likelihood("predict")
        parts = self._chunks("moments", X_new, None, chunk_size)
        cols = [None if parts[0][i] is None else jnp.concatenate([p[i] for p in parts]) for i in range(4)]
        return SVGPPrediction(*cols)

    def log_predictive_density(self, X_new, y_new, *, chunk_size: int = 4096):
        """``log ∫ p(y_i | f) q(f_i) df`` per point ``(m,)``; ``-mean`` of it is the NLPD.

        Closed form for a Gaussian likelihood, Gauss–Hermite quadrature otherwise
        (see :func:`log_predictive_density`).
        """
        self._need_likelihood("log_predictive_density")
        return jnp.concatenate(self._chunks("lpd", X_new, y_new, chunk_size))

    def full_elbo(self, X, y, *, chunk_size: int = 4096) -> float:
        """The ELBO on the whole data set ``(X, y)`` at the fitted parameters (no minibatch noise)."""
        self._need_likelihood("full_elbo")
        ell = sum(float(v) for v in self._chunks("ell", X, y, chunk_size))
        if self.whiten:
            kl = kl_whitened(self.q_loc, self.q_scale_tril)
        else:
            L = landmark_cholesky(self.kernel, self.inducing, jitter=self._jitter)
            kl = _kl_unwhitened(self.q_loc, self.q_scale_tril, L)
        return ell - float(kl)


def _as_kernel_fn(kernel):
    if isinstance(kernel, Kernel):
        return lambda: kernel
    if callable(kernel):
        return kernel
    raise ValueError(f"kernel must be a bayeskern Kernel or a callable returning one, got {type(kernel).__name__}")


def _tril_from_raw(raw):
    """Unconstrained ``(M, M)`` -> lower triangular with positive diagonal."""
    return jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diagonal(raw)))


def _raw_from_tril(tril):
    return jnp.tril(tril, -1) + jnp.diag(jnp.log(jnp.abs(jnp.diagonal(tril))))


def _discover_sites(fn, *args):
    """The NumPyro trace of ``fn(*args)``, found abstractly (``jax.eval_shape``) when the param inits are constants.

    Running the objective eagerly once would compile every primitive in it
    separately; tracing it abstractly costs nothing. A param whose initial
    value depends on the (abstract) arguments forces the eager run.
    """
    found = {}

    def record(*a):
        found.update(handlers.trace(handlers.seed(fn, 0)).get_trace(*a))
        return jnp.zeros(())

    jax.eval_shape(record, *args)
    if all(is_concrete(s["value"]) for s in found.values() if s["type"] == "param"):
        return found
    return handlers.trace(handlers.seed(fn, 0)).get_trace(*args)


def fit_svgp(kernel, X, y, likelihood: Callable, inducing, *, steps: int = 1000, batch_size: int | None = None,
             optimizer=None, natgrad_step: float | None = None, seed: int = 0, whiten: bool = True,
             learn_inducing: bool = True, mean=None, jitter=None, num_quadrature: int = NUM_QUADRATURE,
             q_init=None, name: str = "svgp") -> SVGPFit:
    """Fit a sparse variational GP by stochastic optimisation of its ELBO.

    Hyperparameters are declared the NumPyro way, with ``numpyro.param``
    inside the callables you pass, e.g.::

        from numpyro.distributions import constraints
        pos = constraints.positive
        kernel = lambda: RBF(lengthscale=numpyro.param("ls", 1.0, constraint=pos),
                             variance=numpyro.param("var", 1.0, constraint=pos))
        lik = lambda f: dist.Normal(f, numpyro.param("noise_scale", 0.3, constraint=pos))
        fit = fit_svgp(kernel, X, y, lik, select_inducing(X, 100), steps=2000, batch_size=256)
        pred = fit.predict(X_new)      # f_mean, f_var, y_mean, y_var

    Each step draws a minibatch, applies one ``optimizer`` update to the
    hyperparameters and inducing inputs (and to ``q(v)`` too when
    ``natgrad_step`` is None), then, with ``natgrad_step``, moves ``q(v)`` by a
    natural-gradient step at the updated hyperparameters.

    Args:
        kernel: a ``Kernel`` (fixed hyperparameters) or a zero-argument
            callable returning one (hyperparameters from ``numpyro.param``).
        X: inputs ``(n,)`` or ``(n, d)``; y: observations ``(n,)``.
        likelihood: ``f -> Distribution`` acting elementwise (Gaussian
            ``dist.Normal(f, s)``, ``dist.Bernoulli(logits=f)``,
            ``dist.Poisson(jnp.exp(f))``, ...); may declare ``numpyro.param`` sites.
        inducing: initial inducing inputs ``(M, d)`` (see :func:`select_inducing`).
        steps: optimisation steps.
        batch_size: minibatch size (``None``: full batch). Batches are drawn
            without replacement within each pass over a fresh permutation.
        optimizer: an ``optax.GradientTransformation``; default ``optax.adam(1e-2)``.
        natgrad_step: ``None`` (default: ``q(v)`` is optimised by ``optimizer``
            like everything else) or a natural-gradient step size ``γ`` for
            ``q(v)`` (:func:`natural_gradient_step`): ``1.0`` is exact for a
            Gaussian likelihood with full batches; ``0.05``–``0.5`` with
            minibatches or non-Gaussian likelihoods. Much faster convergence of
            ``q`` than Adam on its Cholesky factor.
        seed: seed for the minibatch order.
        whiten: optimise ``q(v)`` of the whitened values (default; better conditioned).
        learn_inducing: optimise ``Z`` as well.
        mean: prior mean: ``None``, a scalar or a callable ``mean(X (b, d)) -> (b,)``
            (which may declare ``numpyro.param`` sites, e.g. a learnable constant).
        jitter: relative jitter on ``K_mm`` (default ``1e-6``).
        num_quadrature: Gauss–Hermite nodes.
        q_init: ``(q_loc, q_scale_tril)`` to start from (default ``0`` and ``I``,
            the prior in whitened coordinates; :func:`optimal_gaussian_q` for a
            Gaussian likelihood).
        name: prefix of the variational parameters' names in ``SVGPFit.params``.

    Returns:
        :class:`SVGPFit`.

    Raises:
        ValueError: bad shapes or settings, or the builders declare ``numpyro.sample`` sites.
        FloatingPointError: the ELBO is not finite at the end.
    """
    Xa = as_inputs(X, "X")
    n, d = Xa.shape
    ya = as_observations(y, "y")
    if ya.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {ya.shape}")
    Z0 = as_landmarks(inducing, d, "inducing")
    M = Z0.shape[0]
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    b = n if batch_size is None else int(batch_size)
    if not 1 <= b <= n:
        raise ValueError(f"batch_size must be in [1, n={n}] or None, got {batch_size!r}")
    if natgrad_step is not None and not 0 < float(natgrad_step) <= 1:
        raise ValueError(f"natgrad_step must be None or in (0, 1], got {natgrad_step!r}")
    kernel_fn = _as_kernel_fn(kernel)
    dt = Xa.dtype
    if q_init is None:
        q_init = (jnp.zeros((M,), dt), jnp.eye(M, dtype=dt))
    _check_q(*q_init, M)
    q_loc0, q_tril0 = jnp.asarray(q_init[0], dt), jnp.asarray(q_init[1], dt)

    def objective(Xb, yb, q_loc, q_tril):
        k = kernel_fn()
        Z = numpyro.param(f"{name}_inducing", Z0) if learn_inducing else Z0
        return svgp_elbo(k, Xb, yb, likelihood, Z, q_loc, q_tril, num_data=n, whiten=whiten,
                         jitter=jitter, mean=mean, num_quadrature=num_quadrature)

    trace = _discover_sites(objective, Xa[:b], ya[:b], q_loc0, q_tril0)
    samples = [k for k, s in trace.items() if s["type"] == "sample"]
    if samples:
        raise ValueError(f"fit_svgp optimises point values: declare hyperparameters with numpyro.param, "
                         f"not numpyro.sample (found sample sites {samples})")
    sites = {k: s for k, s in trace.items() if s["type"] == "param"}
    transforms = {k: biject_to(s["kwargs"].get("constraint", constraints.real)) for k, s in sites.items()}
    p0 = {k: transforms[k].inv(jnp.asarray(s["value"])) for k, s in sites.items()}

    def constrain(p):
        return {k: transforms[k](v) for k, v in p.items()}

    def elbo(p, q_loc, q_tril, Xb, yb):
        return handlers.substitute(objective, data=constrain(p))(Xb, yb, q_loc, q_tril)

    opt = optax.adam(1e-2) if optimizer is None else optimizer
    if natgrad_step is None:
        # q is optimised with everything else, its Cholesky factor through an exp-diagonal map.
        params0 = (p0, q_loc0, _raw_from_tril(q_tril0))

        def step(carry, idx):
            params, state = carry
            Xb, yb = (Xa, ya) if idx is None else (Xa[idx], ya[idx])
            value, grads = jax.value_and_grad(
                lambda par: -elbo(par[0], par[1], _tril_from_raw(par[2]), Xb, yb))(params)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), -value

        carry0 = (params0, opt.init(params0))
    else:
        gamma = float(natgrad_step)

        def step(carry, idx):
            (p, q_loc, q_tril), state = carry
            Xb, yb = (Xa, ya) if idx is None else (Xa[idx], ya[idx])
            value, grads = jax.value_and_grad(lambda p_: -elbo(p_, q_loc, q_tril, Xb, yb))(p)
            updates, state = opt.update(grads, state, p)
            p = optax.apply_updates(p, updates)
            # q moves last, so the q returned is fitted to the hyperparameters returned
            q_loc, q_tril = natural_gradient_step(lambda m, L: elbo(p, m, L, Xb, yb), q_loc, q_tril, gamma)
            return ((p, q_loc, q_tril), state), -value

        carry0 = ((p0, q_loc0, q_tril0), opt.init(p0))

    if b == n:
        run = jax.jit(lambda c: jax.lax.scan(lambda c, _: step(c, None), c, None, length=steps))
        (final, _), elbos = run(carry0)
    else:
        rng = np.random.default_rng(seed)
        per_epoch = n // b
        perms = [rng.permutation(n)[: per_epoch * b].reshape(per_epoch, b) for _ in range(-(-steps // per_epoch))]
        idx = jnp.asarray(np.concatenate(perms)[:steps])
        run = jax.jit(lambda c, i: jax.lax.scan(step, c, i))
        (final, _), elbos = run(carry0, idx)
    elbos = np.asarray(elbos)
    if not np.isfinite(elbos[-1]):
        bad = int(np.argmax(~np.isfinite(elbos)))
        raise FloatingPointError(
            f"SVGP ELBO is not finite at the end ({elbos[-1]}); it first became non-finite at step {bad}. "
            "Lower the learning rate, increase jitter, or check the initial hyperparameters")
    p, q_loc, q_last = final
    q_tril = _tril_from_raw(q_last) if natgrad_step is None else q_last
    params = constrain(p)
    if not learn_inducing:
        params[f"{name}_inducing"] = Z0
    params[f"{name}_q_loc"] = q_loc
    params[f"{name}_q_scale_tril"] = q_tril
    internal = {f"{name}_inducing"}
    return SVGPFit(params=params, user_names=[k for k in sites if k not in internal], name=name,
                   kernel_fn=kernel_fn, likelihood=likelihood, mean=mean, whiten=whiten, jitter=jitter,
                   num_quadrature=num_quadrature, elbo=elbos, num_data=n)
