"""`inla`: deterministic integration over hyperparameters on a small design (INLA-style).

Rue, Martino & Chopin (2009), sec. 6.5: find the mode ``z*`` of the
log posterior in unconstrained space and its Hessian ``H``, whiten
``z = z* + V Λ^{-1/2} t`` (``H = V Λ Vᵀ``), evaluate the log posterior at a
central-composite design (CCD) of points ``t_k`` and integrate with weights.

Our weights (derived here, not copied): the design is the centre plus points
on the sphere ``|t| = ρ = f0 √d`` (the ``2d`` axial points ``±ρ e_j`` and the
two-level factorial points ``ρ/√d (±1, ..., ±1)``). Base weights ``w_0``
(centre) and ``w`` (each other point) make ``Σ_k w_k g(t_k)`` exact for
``E[g(t)]``, ``t ~ N(0, I)``, for every polynomial of degree ≤ 2 when
``w (2ρ² + n_f ρ²/d) = 1`` and ``w_0 = 1 - (n_p - 1) w`` (first moments and
mixed second moments vanish because axial points come in ± pairs and the
factorial signs are balanced and pairwise orthogonal). The posterior enters through the ratio of the true density to the
Gaussian at each point:

    ω_k ∝ w_k · exp(-U(z_k) + U(z*) + |t_k|²/2),

so for a Gaussian posterior the ω_k are the base weights and the posterior
mean and covariance are reproduced exactly; for a skewed posterior the
ratios correct the mass on each side. ``design="mode"`` uses the mode alone
(empirical Bayes / plug-in).

Output: a :class:`Fit` (``method="inla"``) whose draws are ``num_samples``
hyperparameter values resampled (systematic resampling) from the design
points with probabilities ``ω_k``; the points, their constrained values and
the normalised weights are in ``fit.extras`` (``design_points``,
``design_weights``), so weighted estimates can be taken without resampling
noise. Only ``f0`` and the design change the answer; there is no randomness
apart from the resampling.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import constrain_fn, unconstrain_fn

from bayeskern.infer._util import jit_vmap_over_draws, latent_site_names, trace_model
from bayeskern.infer.fit import Fit
from bayeskern.infer.laplace import laplace

__all__ = ["ccd_design", "inla"]

#: Largest hyperparameter dimension for the CCD (the two-level part has 2^(d-1) points beyond d = 2).
MAX_CCD_DIM = 12


def ccd_design(dim: int, f0: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    """Central-composite design points ``(n_p, dim)`` in whitened space and base weights ``(n_p,)``.

    The two-level part is the full factorial for ``dim <= 2`` and otherwise
    the half fraction ``2^(dim-1)`` with the last sign the product of the
    others (defining relation of length ``dim``: resolution ``dim`` ≥ 3, so main
    effects and pairwise products stay orthogonal). ``dim = 1`` has only the
    centre and the two axial points.

    Returns:
        ``(points, weights)``; ``weights`` sum to one and integrate polynomials
        of degree ≤ 2 against ``N(0, I)`` exactly (see the module docstring).
    """
    if not 1 <= dim <= MAX_CCD_DIM:
        raise ValueError(f"ccd_design needs 1 <= dim <= {MAX_CCD_DIM}, got {dim}")
    if not f0 > 0:
        raise ValueError(f"f0 must be positive, got {f0}")
    rho = f0 * np.sqrt(dim)
    axial = np.concatenate([rho * np.eye(dim), -rho * np.eye(dim)])
    if dim == 1:
        fact = np.zeros((0, 1))
    else:
        free = dim if dim <= 2 else dim - 1
        signs = np.array(list(itertools.product([-1.0, 1.0], repeat=free)))
        if free < dim:
            signs = np.concatenate([signs, np.prod(signs, axis=1, keepdims=True)], axis=1)
        fact = rho / np.sqrt(dim) * signs
    pts = np.concatenate([np.zeros((1, dim)), axial, fact])
    n_f = fact.shape[0]
    w = 1.0 / (2 * rho**2 + n_f * rho**2 / dim)
    w0 = 1.0 - (pts.shape[0] - 1) * w
    weights = np.concatenate([[w0], np.full(pts.shape[0] - 1, w)])
    return pts, weights


def inla(model, *args, design: str = "ccd", f0: float = 1.1, num_samples: int = 1000, seed: int = 0,
         steps: int = 2000, init="median", **model_kwargs) -> Fit:
    """Integrate the hyperparameters on a deterministic design around the posterior mode.

    Meant for models whose latent field is integrated out (e.g. by
    :func:`bayeskern.gp.laplace_marginal`), where only a handful of
    hyperparameters remain; then draws of the field come from
    :func:`bayeskern.gp.sample_latent` on the returned fit.

    Args:
        model: a NumPyro model.
        *args: positional model arguments.
        design: ``"ccd"`` (central composite) or ``"mode"`` (plug-in mode).
        f0: CCD radius factor (points at ``|t| = f0 √d``; INLA's default 1.1).
        num_samples: resampled draws stored in the fit.
        seed: PRNG seed (mode search start and resampling).
        steps: optimiser steps of the mode search (then Newton polishing, as in
            :func:`bayeskern.infer.laplace`).
        init: start of the mode search (as in ``laplace``).
        **model_kwargs: keyword model arguments.

    Returns:
        A :class:`Fit` with ``method="inla"``, one chain of ``num_samples``
        draws; ``extras``: ``design`` (name), ``design_points``
        (site -> ``(n_p, ...)`` constrained), ``design_weights`` ``(n_p,)``,
        ``log_density`` ``(n_p,)``, ``unconstrained_mode``, ``hessian``,
        ``labels``, ``log_evidence`` (the weighted design estimate of
        ``log p(data)``), ``laplace_log_evidence`` (the Gaussian one at the mode), ``max_weight`` and ``ess`` (Kish effective size of
        the weights).

    Raises:
        ValueError: unknown design, or too many hyperparameters for the CCD.
    """
    if design not in ("ccd", "mode"):
        raise ValueError(f"design must be 'ccd' or 'mode', got {design!r}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    base = laplace(model, *args, steps=steps, num_samples=1, seed=seed, init=init, **model_kwargs)
    z_star = np.asarray(base.extras["unconstrained_mode"])
    H = np.asarray(base.extras["hessian"])
    dim = z_star.shape[0]
    if design == "ccd" and dim > MAX_CCD_DIM:
        raise ValueError(f"design='ccd' supports at most {MAX_CCD_DIM} hyperparameters, the model has {dim}")
    names = latent_site_names(trace_model(model, args, model_kwargs))
    mode_latent = {k: jnp.asarray(base.extras["mode"][k]) for k in names}
    _, unravel = ravel_pytree(unconstrain_fn(model, args, model_kwargs, mode_latent))

    if design == "ccd":
        t, w = ccd_design(dim, f0)
    else:
        t, w = np.zeros((1, dim)), np.ones(1)
    lam, V = np.linalg.eigh(0.5 * (H + H.T))
    Z = z_star[None, :] + (t / np.sqrt(lam)[None, :]) @ V.T

    from numpyro.infer.util import potential_energy

    def pot_and_values(flat, *a, **k):
        params = unravel(flat)
        u = potential_energy(model, a, k, params)
        return u, constrain_fn(model, a, k, params, return_deterministic=True)

    U, values = jit_vmap_over_draws(pot_and_values, args, model_kwargs)(jnp.asarray(Z))
    U = np.asarray(U)
    if not np.all(np.isfinite(U)):
        bad = np.flatnonzero(~np.isfinite(U))
        raise FloatingPointError(
            f"the log density is not finite at design points {bad.tolist()}; lower f0 or check the model"
        )
    # density ratio exp(-U) / (Gaussian at the mode), relative to the centre
    logr = -U + U[0] + 0.5 * np.sum(t**2, axis=1)
    raw = w * np.exp(logr - np.max(logr))
    # A negative centre weight (d >= 5 with f0 = 1.1) is kept in the evidence sum but clipped at zero
    # for resampling, with the rest renormalised.
    probs = np.clip(raw, 0.0, None)
    probs = probs / probs.sum()
    # log p(data) = log ∫ exp(-U) dz ≈ [-U(z*) + d/2 log 2π - ½ log|H|] + log Σ_k w_k r_k
    log_ev = float(base.extras["log_evidence"] + np.max(logr) + np.log(np.sum(raw)))

    rng = np.random.default_rng(seed)
    cum = np.cumsum(probs)
    idx = np.searchsorted(cum, (rng.uniform() + np.arange(num_samples)) / num_samples)
    idx = np.minimum(idx, len(probs) - 1)
    rng.shuffle(idx)
    samples = {k: np.asarray(v)[idx][None] for k, v in values.items()}
    extras = {
        "design": design,
        "f0": float(f0),
        "design_points": {k: np.asarray(v) for k, v in values.items()},
        "design_weights": probs,
        "log_density": -U,
        "unconstrained_mode": z_star,
        "hessian": H,
        "labels": base.extras["labels"],
        "log_evidence": log_ev,
        "laplace_log_evidence": float(base.extras["log_evidence"]),
        "max_weight": float(probs.max()),
        "ess": float(1.0 / np.sum(probs**2)),
    }
    return Fit(
        samples,
        method="inla",
        model=model,
        model_args=args,
        model_kwargs=model_kwargs,
        losses=base.losses,
        observed_data=base.observed_data,
        dims=base.dims,
        extras=extras,
    )
