"""`laplace`: a Gaussian at the posterior mode, in unconstrained space."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.util import constrain_fn

from bayeskern.errors import ConvergenceError
from bayeskern.infer._util import (
    Mode,
    check_model_arguments,
    find_mode,
    jit_vmap_over_draws,
    validate_observations,
)
from bayeskern.infer.fit import Fit
from bayeskern.infer.map import fit_from_draws
from bayeskern.optim import GRAD_RTOL, STALL_FACTOR


def _value_grad_hess(mode: Mode):
    def vgh(m, z, args, kwargs):
        value, grad = jax.value_and_grad(m.potential)(z, args, kwargs)
        return value, grad, jax.hessian(m.potential)(z, args, kwargs)

    return mode.jitted(vgh)


def _positive_definite(hess: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
    """(is PD, eigenvalues, eigenvectors); near-zero eigenvalues (relative to the largest) count as not PD."""
    if not np.all(np.isfinite(hess)):
        return False, np.full(hess.shape[0], np.nan), np.eye(hess.shape[0])
    sym = 0.5 * (hess + hess.T)
    evals, evecs = np.linalg.eigh(sym)
    return bool(np.min(evals) > _tolerance(evals)), evals, evecs


def _tolerance(evals) -> float:
    """Eigenvalues at or below this count as non-positive (relative round-off tolerance)."""
    return 10 * len(evals) * np.finfo(np.float64).eps * max(float(np.max(np.abs(evals))), 1.0)


def _not_pd_message(evals, evecs, labels) -> str:
    if not np.all(np.isfinite(evals)):
        return (
            "Laplace approximation failed: the Hessian of the negative log density at the mode has non-finite "
            "entries; the log density is not twice differentiable there (check the model for NaNs)"
        )
    bad = [i for i in np.argsort(evals) if evals[i] <= _tolerance(evals)]
    parts = []
    for i in bad[:5]:
        weights = np.abs(evecs[:, i])
        top = [labels[j] for j in np.argsort(-weights)[:3] if weights[j] > 0.2]
        parts.append(f"{evals[i]:.4g} (direction mostly along {', '.join(repr(t) for t in top)})")
    sites = sorted({labels[j].split("[")[0] for i in bad for j in np.nonzero(np.abs(evecs[:, i]) > 0.2)[0]})
    return (
        "Laplace approximation failed: the Hessian of the negative log density (unconstrained space) at the "
        f"mode found is not positive definite. Non-positive eigenvalue(s) (tolerance {_tolerance(evals):.2g}): {'; '.join(parts)}. "
        f"Sites involved: {sites}. The optimiser stopped at a saddle point, or the posterior is flat "
        "(non-identifiable or improper) in these directions: try another `init`, more `steps`, or "
        "stronger priors on these sites."
    )


def laplace(
    model,
    *args,
    steps: int = 2000,
    optimizer=None,
    num_samples: int = 1000,
    seed: int = 0,
    init="median",
    newton_steps: int = 20,
    **model_kwargs,
) -> Fit:
    """Laplace approximation: a Gaussian at the mode with the inverse Hessian as covariance.

    Works in unconstrained space (the space NUTS samples; the log Jacobian
    of the constraining transforms is included). The mode is found with
    ``steps`` optax steps, then polished with up to ``newton_steps``
    damped Newton steps (each accepted only if it lowers the negative log
    density). Draws ``z ~ N(mode, H^{-1})`` are mapped to constrained space,
    and deterministic sites computed.

    Args:
        model: a NumPyro model.
        *args: positional model arguments.
        steps: most L-BFGS iterations (or, with ``optimizer``, the exact number of steps).
        optimizer: ``None`` (L-BFGS with a convergence test) or an
            ``optax.GradientTransformation`` run for exactly ``steps`` steps.
        num_samples: draws from the Gaussian.
        seed: PRNG seed (initialisation and draws).
        init: start of the mode search: ``"median"``, a dict of constrained
            site values, or a NumPyro init strategy.
        newton_steps: maximum Newton polishing steps (0 to skip).
        **model_kwargs: keyword model arguments.

    Returns:
        A :class:`Fit` with ``method="laplace"``, one chain of ``num_samples``
        draws; ``fit.losses`` the mode search trace; ``fit.extras`` holds
        ``mode`` (constrained site values), ``unconstrained_mode`` ``(D,)``,
        ``hessian`` ``(D, D)``, ``labels`` (coordinate names) and
        ``log_evidence``, the Laplace estimate of ``log p(data)``:
        ``-U(mode) + D/2 log(2 pi) - 1/2 log det H``.

    Raises:
        ValueError: the Hessian at the mode is not positive definite (the
            message names the eigenvalues and sites); no NaN posterior is
            ever returned.
        FloatingPointError: the mode search ended at a non-finite density.
        ConvergenceError: the mode search (with Newton polishing) did not
            reach a point where the gradient vanishes.
    """
    check_model_arguments(model, args, model_kwargs, laplace)
    validate_observations(model, args, model_kwargs)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    mode = find_mode(model, args, model_kwargs, init=init, steps=steps, optimizer=optimizer, seed=seed)
    vgh = _value_grad_hess(mode)
    z = mode.z
    value, grad, hess = vgh(z)
    for _ in range(newton_steps):
        ok, _, _ = _positive_definite(np.asarray(hess))
        if not ok or float(jnp.max(jnp.abs(grad))) < 1e-12:
            break
        delta = jnp.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6:
            cand = z - t * delta
            v2, g2, h2 = vgh(cand)
            if np.isfinite(float(v2)) and float(v2) <= float(value):
                break
            t *= 0.5
        else:
            break
        z, value, grad, hess = cand, v2, g2, h2
    gmax = float(jnp.max(jnp.abs(grad)))
    tol = GRAD_RTOL * STALL_FACTOR * max(1.0, abs(float(value)))
    if not (np.isfinite(gmax) and gmax <= tol):
        # A Gaussian placed away from the mode is not the Laplace approximation: refuse it.
        raise ConvergenceError(
            f"laplace: the mode search did not converge (max |gradient| {gmax:.3g} > {tol:.3g} after {len(mode.losses)} "
            f"L-BFGS iterations and Newton polishing); raise `steps`, start elsewhere with `init`, or reparametrise"
        )
    hess_np = np.asarray(hess)
    ok, evals, evecs = _positive_definite(hess_np)
    if not ok:
        raise ValueError(_not_pd_message(evals, evecs, mode.labels))

    chol = np.linalg.cholesky(0.5 * (hess_np + hess_np.T))
    eps = np.asarray(jax.random.normal(jax.random.PRNGKey(seed + 1), (num_samples, z.shape[0]), dtype=z.dtype))
    # H = L L^T, so z = mode + L^{-T} eps has covariance (L L^T)^{-1} = H^{-1}
    draws = np.asarray(z)[None, :] + np.linalg.solve(chol.T, eps.T).T
    def constrain(flat, *a, **k):
        return constrain_fn(model, a, k, mode.unravel(flat), return_deterministic=True)

    constrained = jit_vmap_over_draws(constrain, args, model_kwargs)(jnp.asarray(draws))
    samples = {k: np.asarray(v)[None] for k, v in constrained.items()}
    dim = z.shape[0]
    log_evidence = float(-value + 0.5 * dim * np.log(2 * np.pi) - np.sum(np.log(np.diag(chol))))
    extras = {
        "mode": {k: np.asarray(v) for k, v in mode.constrained(z).items()},
        "unconstrained_mode": np.asarray(z),
        "hessian": hess_np,
        "labels": mode.labels,
        "log_evidence": log_evidence,
        "max_abs_grad": float(jnp.max(jnp.abs(grad))),
    }
    return fit_from_draws(samples, method="laplace", model=model, args=args, kwargs=model_kwargs,
                          losses=mode.losses, extras=extras)
