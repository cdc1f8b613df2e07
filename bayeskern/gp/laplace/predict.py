"""Prediction at new inputs from a fit that used the embedded Laplace marginal.

For one hyperparameter value ``θ`` the Laplace approximation replaces
``p(f | y, θ)`` by ``q(f) = N(f̂, (K⁻¹ + W)⁻¹)``; the latent function at new
inputs ``X*`` is then Gaussian with (Rasmussen & Williams 2006, eqs. 3.21,
3.24; Alg. 3.2)

    E[f*]   = m(X*) + k*ᵀ ∇log p(y | f̂)                (= m* + k*ᵀ K⁻¹ (f̂ - m) at the mode)
    Var[f*] = k** - k*ᵀ (K + W⁻¹)⁻¹ k*
            = k** - |L⁻¹k*|² + |C⁻¹ L⁻¹ k*|²          (whitened form used here)

with ``K = L Lᵀ`` and ``A = I + Lᵀ W L = C Cᵀ``, the two factors the Newton
mode search already holds (:class:`~bayeskern.gp.laplace.newton.LaplaceMode`).
Low-rank (HSGP) and Kronecker sites use the same formulas in their own
factorisations (:mod:`bayeskern.gp.laplace.predict_structured`).
The whitened form never forms ``W⁻¹`` or ``W½``, so it is valid for ``W`` with
zeros (masked or uninformative observations) and with negative entries
(Student-t), whenever the posterior precision is positive definite.

:func:`predict_latent` does this for every posterior draw of a
:class:`bayeskern.infer.Fit`: it re-runs the model with the draw substituted
(as :func:`~bayeskern.gp.laplace.marginal.sample_latent` does) to get the
site's prior covariance, mean and likelihood, finds the mode, and evaluates
the kernel between the training and new inputs. A dense site stores only the
``(n, n)`` covariance and a Kronecker site only its per-axis factors, not the
kernel, so for those the caller passes the kernel (fixed, or a function of the
draw's site values) and the training inputs; both are checked against the
site on the first draw. An HSGP site stores its basis and spectral weights,
so it needs neither.

:func:`~bayeskern.gp.predictive_density.bernoulli_probability` and
:func:`~bayeskern.gp.predictive_density.predictive_log_density` turn the Gaussian ``N(f*; μ, s²)`` into predictive probabilities and
densities.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from bayeskern._checks import as_inputs
from bayeskern.errors import ConvergenceError
from bayeskern.gp.laplace.distributions import KroneckerLaplaceMarginal, LaplaceMarginal, LowRankLaplaceMarginal
from bayeskern.gp.laplace.newton import LaplaceMode
from bayeskern.gp.laplace.predict_structured import (
    KERNEL_CHECK_RTOL,
    check_hsgp_site,
    check_kron_site,
    hsgp_basis_at,
    kron_predictive,
    lowrank_predictive,
)
from bayeskern.kernels import Kernel
from bayeskern.priors import kernel_spec_kind

__all__ = ["LaplacePrediction", "latent_predictive", "predict_latent"]


class LaplacePrediction(NamedTuple):
    """Laplace predictive of ``f(X_new)`` for each hyperparameter draw.

    Attributes:
        mean: ``(S, m)`` predictive means (``S`` draws, ``m`` new inputs).
        var: ``(S, m)`` predictive variances of the latent ``f`` (no observation noise).
    """

    mean: np.ndarray
    var: np.ndarray

    def marginal(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance ``(m,)`` of the mixture over draws (law of total variance)."""
        mu = self.mean.mean(axis=0)
        return mu, self.var.mean(axis=0) + self.mean.var(axis=0)


def latent_predictive(mode: LaplaceMode, k_cross, k_diag, mean_new=0.0):
    """Laplace predictive mean and variance ``(m,)`` of ``f`` at new inputs, for one ``θ``.

    Args:
        mode: the Laplace mode at ``θ`` (:meth:`LaplaceMarginal.mode`), with square ``L``.
        k_cross: ``(n, m)`` kernel between the training and new inputs.
        k_diag: ``(m,)`` prior variances ``k(x*, x*)`` at the new inputs.
        mean_new: prior mean at the new inputs, scalar or ``(m,)``.

    Returns:
        ``(mean (m,), var (m,))``; ``var`` is clipped at 0 (round-off only).
    """
    # R&W Alg. 3.2 uses k*ᵀ∇log p(y|f̂); at the mode K⁻¹(f̂ - m) equals it (to the Newton tolerance).
    mean = mean_new + k_cross.T @ mode.grad
    V = solve_triangular(mode.L, k_cross, lower=True)  # L⁻¹ k*
    Z = solve_triangular(mode.C, V, lower=True)  # C⁻¹ L⁻¹ k*
    # k** - k*ᵀK⁻¹k* is the prior conditional variance, k*ᵀK⁻¹ΣK⁻¹k* = |C⁻¹L⁻¹k*|² the part Σ adds back.
    var = k_diag - jnp.sum(V * V, axis=0) + jnp.sum(Z * Z, axis=0)
    return mean, jnp.maximum(var, 0.0)


def _split_args(args, kwargs):
    leaves, treedef = jax.tree_util.tree_flatten((tuple(args), dict(kwargs)))
    is_arr = [isinstance(x, (jax.Array, np.ndarray)) for x in leaves]

    def rebuild(arrs):
        it = iter(arrs)
        return jax.tree_util.tree_unflatten(treedef, [next(it) if a else x for x, a in zip(leaves, is_arr, strict=True)])

    return [x for x, a in zip(leaves, is_arr, strict=True) if a], rebuild


def replay_arguments(fit, site_fn):
    """``(arrays, rebuild)``: the array arguments of ``fit.model`` to pass into ``jit`` and a function
    ``arrays -> (args, kwargs)`` that rebuilds the call; for a Kronecker site none are passed (it finds its
    grid from concrete inputs, so the model's arguments are closed over instead of traced)."""
    if isinstance(site_fn, KroneckerLaplaceMarginal):
        return [], lambda _: (tuple(fit.model_args), dict(fit.model_kwargs))
    return _split_args(fit.model_args, fit.model_kwargs)


# fit -> {key: jitted replay}. Weak keys: the entries go with the fit. The replays must not reference the
# fit itself (only its model and arguments), or the entry would keep its own key alive.
_REPLAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_replay(fit, key: tuple, build: Callable[[], Callable]) -> Callable:
    """The jitted replay ``build()`` for ``fit`` under ``key``, built once per fit.

    A ``jax.jit`` of a closure made afresh at each call recompiles every time
    (~10 s for a 500-point field); kept per fit, a second call with the same
    shapes reuses the compilation.
    """
    per_fit = _REPLAYS.setdefault(fit, {})
    if key not in per_fit:
        per_fit[key] = build()
    return per_fit[key]


def _trace_site(model, draw, args, kwargs, site):
    """``(site message, {site: value})`` of the model re-run with ``draw`` substituted."""
    from numpyro import handlers

    tr = handlers.trace(handlers.substitute(handlers.seed(model, 0), data=draw)).get_trace(*args, **kwargs)
    values = {k: v["value"] for k, v in tr.items() if v["type"] in ("sample", "deterministic")}
    return tr.get(site), values


def predict_latent(fit, name: str, X_new, *, X=None, kernel=None, mean=None, obs_name: str | None = None,
                   batch_size: int = 32) -> LaplacePrediction:
    """Laplace predictive of the latent ``f`` at ``X_new`` for every hyperparameter draw of ``fit``.

    For each draw ``θ_s`` the model is re-run with ``θ_s`` substituted; the
    site ``obs_name`` (default ``f"{name}_y"``) gives the prior, the likelihood
    and data, the Newton mode ``f̂_θ`` is found, and ``N(f*; μ_s, s²_s)`` is
    computed as in the module docstring, or for HSGP and Kronecker sites as in
    :mod:`bayeskern.gp.laplace.predict_structured` (Kronecker variances to the site's
    CG tolerance ``cg_tol``). Draws are processed ``batch_size`` at a time.

    Args:
        fit: a :class:`bayeskern.infer.Fit` of a model calling
            :func:`~bayeskern.gp.laplace.marginal.laplace_marginal` with this ``name``
            and ``structure="dense"``, ``"hsgp"`` or ``"kronecker"`` (or ``"auto"``).
        name: the name given to ``laplace_marginal``.
        X_new: new inputs ``(m,)`` or ``(m, d)``.
        X: the training inputs ``(n,)`` or ``(n, d)`` the model passed to ``laplace_marginal``
            (same row order). Required for dense and Kronecker sites; optional (only checked) for HSGP.
        kernel: the model's kernel: a :class:`~bayeskern.kernels.Kernel` (fixed
            hyperparameters), the kernel class the model gave ``laplace_marginal`` (its
            hyperparameters are read from the sites ``f"{name}_<hyperparameter>"``, as
            :func:`~bayeskern.priors.resolve_kernel` named them) or a callable ``values -> Kernel``,
            where ``values`` maps every sample and deterministic site of the re-run model to its
            value for the draw (e.g. ``lambda v: Matern32(lengthscale=v["ls"], variance=v["var"])``).
            Checked on the first draw: ``kernel(X)`` must reproduce the site's covariance up
            to its jitter (Kronecker: see :func:`~bayeskern.gp.laplace.predict_structured.check_kron_site`).
            Required for dense and Kronecker sites; optional (only checked) for HSGP.
        mean: prior mean at ``X_new``: ``None`` (the site's prior mean, which
            must then be constant over ``X``, e.g. ``mean=b`` with a sampled
            scalar ``b``), or a callable ``(values, X_new) -> (m,)``.
        obs_name: the observed site's name if it was overridden.
        batch_size: draws per vectorised batch (memory per draw: dense a few ``(n, n)`` and
            ``(n, m)`` matrices; HSGP ``(M, M)`` and ``(m, M)``; Kronecker a few ``(m, n)``).

    Returns:
        :class:`LaplacePrediction` with ``mean`` and ``var`` ``(chain * draw, m)``
        (chain-major, as ``fit.samples``); offsets are not included. Warns for HSGP inputs outside
        the basis's box (``HSGPBoundaryWarning``).

    Raises:
        ConvergenceError: for some draw the Newton mode (or, Kronecker, a predictive CG solve) did not
            converge; no prediction from an unconverged mode is returned.
        ValueError: a bad ``fit``, ``name``/``obs_name``, ``X_new``, ``X``, ``kernel``, ``mean`` or
            ``batch_size``; ``X``/``kernel`` missing for a dense or Kronecker site; a low-rank site
            without a stored HSGP basis.
    """
    if getattr(fit, "model", None) is None:
        raise ValueError("fit must be a Fit with its model (a Fit loaded from disk has none); predictions re-run it")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if kernel is not None and not (isinstance(kernel, Kernel) or callable(kernel)):
        raise ValueError(f"kernel must be a Kernel or a callable values -> Kernel, got {type(kernel).__name__}")
    if mean is not None and not callable(mean):
        raise ValueError(f"mean must be None or a callable (values, X_new) -> (m,), got {type(mean).__name__}")
    Xn = as_inputs(X_new, "X_new")
    Xt = None if X is None else as_inputs(X, "X")
    if Xt is not None and Xn.shape[1] != Xt.shape[1]:
        raise ValueError(f"X_new must have {Xt.shape[1]} input dimension(s) like X, got shape {Xn.shape}")
    site = obs_name or f"{name}_y"
    samples = {k: jnp.asarray(v) for k, v in fit.samples.items() if k != name}
    if not samples:
        raise ValueError("fit has no posterior draws to predict from")
    total = next(iter(samples.values())).shape[0]

    def kernel_of(values):
        if isinstance(kernel, type) and kernel_spec_kind(kernel, "kernel") == "class":
            missing = [f"{name}_{p}" for p in kernel._params if f"{name}_{p}" not in values]
            if missing:
                raise ValueError(f"kernel: the class {kernel.__name__} reads its hyperparameters from the sites "
                                 f"{name}_<hyperparameter>; the model has no {missing} (pass a callable "
                                 "values -> Kernel instead)")
            return kernel(**{p: values[f"{name}_{p}"] for p in kernel._params})
        k = kernel if isinstance(kernel, Kernel) else kernel(values)
        if not isinstance(k, Kernel):
            raise ValueError(f"kernel(values) must return a Kernel, got {type(k).__name__}")
        return k

    # First draw, concretely: errors here name the argument instead of failing inside jit.
    first = {k: v[0] for k, v in samples.items()}
    msg, values = _trace_site(fit.model, first, fit.model_args, fit.model_kwargs, site)
    d = None if msg is None else msg["fn"]
    kind = ("dense" if type(d) is LaplaceMarginal else "hsgp" if isinstance(d, LowRankLaplaceMarginal)
            else "kronecker" if isinstance(d, KroneckerLaplaceMarginal) else None)
    if kind is None:
        what = "has no site" if msg is None else f"site is a {type(d).__name__}, not a laplace_marginal site:"
        raise ValueError(f"name: the model {what} {site!r}; predict_latent needs laplace_marginal(name, ...) with "
                         "structure='dense', 'hsgp' or 'kronecker' (pass the same name, or obs_name if it was "
                         "overridden)")
    if kind != "hsgp" and (X is None or kernel is None):
        raise ValueError(f"kernel and X are required for a {kind} laplace_marginal site (it stores the prior "
                         f"covariance, not the kernel); got kernel={kernel!r:.40}, X={'None' if X is None else '...'}")
    n = d.loc.shape[-1]
    if kind == "hsgp":
        check_hsgp_site(d, Xn, Xt, None if kernel is None else kernel_of(values), site)
    elif Xt.shape[0] != n:
        raise ValueError(f"X must be the {n} training inputs given to laplace_marginal, got shape {Xt.shape}")
    elif kind == "kronecker":
        check_kron_site(d, Xt, kernel_of(values), site)
    else:
        _check_dense_kernel(d, Xt, kernel_of(values), site)
    loc0 = np.asarray(d.loc)
    if mean is None and np.ptp(loc0) > 1e-12 * (1.0 + np.max(np.abs(loc0))):
        raise ValueError("mean: the site's prior mean varies over X; pass mean=(values, X_new) -> (m,)")
    if mean is not None:
        m0 = jnp.asarray(mean(values, Xn))
        if m0.shape not in ((), (Xn.shape[0],)):
            raise ValueError(f"mean(values, X_new) must give a scalar or shape ({Xn.shape[0]},), got {m0.shape}")
    arrs, rebuild = replay_arguments(fit, d)
    model = fit.model

    def build():
        return jax.jit(partial(_predict_draws, model, rebuild, site, kind, mean, kernel_of, int(batch_size)))

    # keyed on the callables' identities: the same kernel/mean functions reuse the compiled replay
    run = cached_replay(fit, ("predict_latent", site, kind, id(kernel), id(mean), int(batch_size)), build)
    mu, var, ok = run(samples, arrs, Xn, Xt)
    bad = int(np.sum(~np.asarray(ok)))
    if bad:
        what = ("Newton mode search" if kind != "kronecker"
                else "Newton mode search or the predictive CG solves (raise the cg_maxiter option)")
        raise ConvergenceError(
            f"predict_latent: laplace_marginal {name!r} (site {site!r}): for {bad} of {total} draws the {what} did "
            f"not converge, so their predictions would be wrong. Raise max_iter, give a prior mean near the "
            f"data's scale, or check the scale of the data and of the likelihood's parameters.")
    return LaplacePrediction(np.asarray(mu).reshape(total, -1), np.asarray(var).reshape(total, -1))


def _predict_draws(model, rebuild, site, kind, mean, kernel_of, batch_size, draws, arrs, Xn, Xt):
    """``(mu, var, converged)`` per draw (a ``lax.map`` over ``draws``), for :func:`predict_latent`."""
    a, kw = rebuild(arrs)

    def one(draw):
        s, vals = _trace_site(model, draw, a, kw, site)
        dd = s["fn"]
        m_new = dd.loc[0] if mean is None else mean(vals, Xn)
        mode = dd.mode(s["value"])
        if kind == "hsgp":
            return (*lowrank_predictive(mode, hsgp_basis_at(dd, Xn), m_new), mode.info.converged)
        k = kernel_of(vals)
        if kind == "kronecker":
            return kron_predictive(mode, dd.cells, k(Xt, Xn), k.diag(Xn), m_new, dd.options)
        return (*latent_predictive(mode, k(Xt, Xn), k.diag(Xn), m_new), mode.info.converged)

    return jax.lax.map(one, draws, batch_size=batch_size)


def _check_dense_kernel(d, Xt, k, site):
    """``kernel(X)`` must reproduce the dense site's covariance off the diagonal (the diagonal has jitter)."""
    n = Xt.shape[0]
    K_site = np.asarray(d.covariance)
    K_fn = np.asarray(k(Xt))
    scale = float(np.mean(np.diag(K_site)))
    off = ~np.eye(n, dtype=bool)  # off-diagonal only: the diagonal carries the site's jitter (unknown here)
    err = float(np.max(np.abs(K_site - K_fn)[off])) if n > 1 else 0.0
    if not err <= KERNEL_CHECK_RTOL * scale:
        raise ValueError(f"kernel: kernel(X) differs from the prior covariance of site {site!r} by {err:.3g} "
                         f"(relative {err / scale:.3g}); pass the kernel (and X) the model gave laplace_marginal")
