"""Fast MAP of BQ kernel hyperparameters: the log density of :func:`~bayeskern.quadrature.model.bq_model`.

Point designs refit hyperparameters many times, so this jits the
unconstrained log posterior once per problem shape (data and priors are jit
arguments, not constants) and runs SciPy's L-BFGS-B from several starts.
Same density as ``bayeskern.infer.svi(bq_model, guide="map")`` given the same
priors (``integrate`` passes ``bq_priors``, :func:`bq_model`'s defaults), up to
the log Jacobian of the log transform (this is the mode in unconstrained space,
as ``bayeskern.infer``'s ``init="map"`` uses).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import biject_to
from scipy.optimize import minimize

from bayeskern._counts import as_count
from bayeskern.errors import ConvergenceWarning
from bayeskern.kernels import RBF, Constant, Kernel
from bayeskern.optim import converged_by_decrement, converged_test
from bayeskern.priors import KernelSpec, KernelSpecError, default_priors, kernel_spec_kind
from bayeskern.quadrature.model import BQMarginal, offset_variance, tensor_form


def _neg_log_post(u, X, y, mask, priors, offset, noise, kernel_cls, tensor):
    values, lp = {}, 0.0
    for key, prior in priors.items():
        t = biject_to(prior.support)
        val = t(u[key])
        lp = lp + jnp.sum(prior.log_prob(val)) + jnp.sum(t.log_abs_det_jacobian(u[key], val))
        values[key] = val
    k = kernel_cls(**values)
    k = (tensor_form(k, X.shape[1]) if tensor else k) + Constant(variance=offset)
    marginal = BQMarginal(k, X, noise, mask)
    ll = marginal.log_prob(jnp.where(mask, y, 0.0)) - marginal.padding_log_prob()
    out = -(ll + lp)
    return jnp.where(jnp.isfinite(out), out, jnp.inf)


# Module-level so that jit's cache serves every fit of one shape (data and priors are arguments).
_value_and_grad = jax.jit(jax.value_and_grad(_neg_log_post), static_argnames=("kernel_cls", "tensor"))


def fit_kernel(X, y, kernel: KernelSpec = RBF, *, ard: bool = True, offset=None, noise=None, restarts: int = 3,
               seed: int = 0, priors: dict | None = None, tensor: bool = True,
               max_iter: int = 200) -> tuple[Kernel, dict]:
    """MAP kernel (including the constant-offset term) for evaluations ``y`` ``(n,)`` at ``X`` ``(n, d)``.

    ``kernel`` is a :data:`~bayeskern.priors.KernelSpec` as every model piece takes it: a kernel
    class (hyperparameters learned, the MAP below) or a Kernel instance (hyperparameters fixed:
    returned as is, with no offset term and no values, ``(kernel, {})``). A callable
    ``(prefix, X) -> Kernel`` is refused (``KernelSpecError``): this MAP is a jitted log
    posterior over a family's hyperparameters, with the priors known up front and each mapped to
    unconstrained space by its support, run by SciPy outside any NumPyro model, so there is
    nowhere for a callable to sample its own sites; put it in a NumPyro model and use
    ``bayeskern.infer.map_estimate`` instead.

    ``priors`` default to the generic ``bayeskern.priors`` defaults (what WSABI-L
    and ``evidence`` fit their square-root GP with); ``integrate`` passes
    :func:`~bayeskern.quadrature.model.bq_priors` (the lengthscale prior scaled to
    the smallest distance between the points), the defaults of :func:`bq_model`,
    so its MAP is that model's. With ``tensor`` a Matérn family in ``d > 1`` is
    fitted (and returned) as the product of 1-D Matérns, as :func:`bq_model` uses it.

    Each start runs SciPy's L-BFGS-B (at most ``max_iter`` iterations); the best start that meets the
    library's convergence rule (:mod:`bayeskern.optim`) is kept, and a
    :class:`~bayeskern.errors.ConvergenceWarning` says when none did.

    Args:
        X, y: points ``(n, d)`` (or ``(n,)``) and evaluations ``(n,)``.
        kernel: a kernel class (learned) or instance (fixed); default ``RBF``.
        ard, offset, noise, restarts, seed, priors, tensor, max_iter: as above; ``priors`` maps each
            hyperparameter name to a ``Distribution``.

    Returns:
        ``(kernel, values)``: the fitted ``kernel(...) + Constant(offset)`` (just
        ``kernel(...)`` when ``offset == 0``; in tensor form where that applies)
        and the MAP hyperparameter values ``{name: array}``.

    Raises:
        KernelSpecError: ``kernel`` is a callable or not a kernel spec.
    """
    kind = kernel_spec_kind(kernel, "kernel")
    if kind == "instance":
        return kernel, {}
    if kind == "callable":
        raise KernelSpecError("fit_kernel: kernel must be a kernel class (learned) or a Kernel instance (fixed); "
                              "a callable (prefix, X) -> Kernel samples its own sites inside a NumPyro model, "
                              "which this MAP over a family's hyperparameters does not run: put it in a model "
                              "and use bayeskern.infer.map_estimate")
    kernel_cls = kernel
    restarts, max_iter = as_count(restarts, "restarts"), as_count(max_iter, "max_iter")
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    y = np.asarray(y, dtype=float)
    ard = ard and "lengthscale" in kernel_cls._params and X.shape[1] > 1
    priors = dict(default_priors(kernel_cls, X, y, ard=ard)) if priors is None else dict(priors)
    c = offset_variance(y) if offset is None else float(offset)
    n = X.shape[0]
    # Pad to the next power of two (>= 8): refits of a growing design share one compilation.
    size = max(8, 1 << max(n - 1, 0).bit_length())
    nz = np.zeros(size)
    nz[:n] = 0.0 if noise is None else np.broadcast_to(np.asarray(noise, dtype=float), (n,))
    Xj = jnp.asarray(np.concatenate([X, np.broadcast_to(X.mean(0), (size - n, X.shape[1]))]))
    yj = jnp.asarray(np.concatenate([y, np.zeros(size - n)]))
    mask = jnp.arange(size) < n
    keys = list(priors)
    shapes = {key: priors[key].event_shape for key in keys}
    sizes = [int(np.prod(shapes[key])) for key in keys]

    def unflat(v):
        out, i = {}, 0
        for key, s in zip(keys, sizes, strict=True):
            out[key] = jnp.reshape(v[i : i + s], shapes[key])
            i += s
        return out

    def fun(v):
        val, grad = _value_and_grad(unflat(v), Xj, yj, mask, priors, c, jnp.asarray(nz), kernel_cls=kernel_cls,
                                     tensor=bool(tensor))
        return val, jnp.concatenate([jnp.ravel(grad[key]) for key in keys])

    rng = jax.random.PRNGKey(seed)
    best, best_ok = None, False
    for r in range(max(1, restarts)):
        rng, sub = jax.random.split(rng)
        subs = jax.random.split(sub, len(keys))
        if r == 0:  # start at the prior median (of 64 draws), then at prior draws
            draws = [jnp.median(priors[key].sample(s_, (64,)), axis=0) for key, s_ in zip(keys, subs, strict=True)]
        else:
            draws = [priors[key].sample(s_) for key, s_ in zip(keys, subs, strict=True)]
        parts = [biject_to(priors[key].support).inv(v) for key, v in zip(keys, draws, strict=True)]
        start = np.concatenate([np.ravel(np.asarray(p)) for p in parts])
        f0 = float(fun(jnp.asarray(start))[0])
        if not np.isfinite(f0):
            continue
        res = minimize(lambda v: tuple(np.asarray(a, dtype=float) for a in fun(jnp.asarray(v))), start, jac=True,
                       method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-9})
        if not np.isfinite(res.fun):
            continue
        # The library's convergence rule (bayeskern.optim); SciPy stops (ftol/pgtol, or no decrease) count as stalls.
        # A line-search failure ("ABNORMAL") at a near-interpolating design is round-off in f, not a bad point:
        # it counts as a stall when the predicted decrease ½ gᵀH⁻¹g (L-BFGS's H) is below round-off scale.
        g = np.asarray(res.jac, dtype=float)
        decrement = 0.5 * float(g @ res.hess_inv.matvec(g))
        stalled = res.status != 1  # 1: the iteration cap; 0 and 2 (no decrease possible) are stops
        ok = bool(converged_test(float(res.fun), float(np.max(np.abs(g))), stalled)) or bool(
            stalled and converged_by_decrement(float(res.fun), decrement))
        if best is None or (ok, -res.fun) > (best_ok, -best.fun):
            best, best_ok = res, ok
    if best is None:
        raise FloatingPointError("the BQ hyperparameter posterior is not finite at any start; check X and y")
    if not best_ok:
        warnings.warn(
            f"fit_kernel: no L-BFGS-B start met the gradient test within max_iter={max_iter} (best: negative log "
            f"posterior {best.fun:.6g}, max |gradient| {np.max(np.abs(best.jac)):.3g}; SciPy: {best.message}); "
            "the best hyperparameters found are used. Raise max_iter or restarts, or check X and y.",
            ConvergenceWarning,
            stacklevel=2,
        )
    values = {key: biject_to(priors[key].support)(val) for key, val in unflat(jnp.asarray(best.x)).items()}
    k = kernel_cls(**values)
    k = tensor_form(k, X.shape[1]) if tensor else k
    return (k + Constant(variance=c) if c else k), values
