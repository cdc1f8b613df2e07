"""Draws of a Laplace-marginalised latent field after fitting the hyperparameters.

:func:`sample_latent` re-runs the model at each posterior hyperparameter draw,
takes the :class:`~bayeskern.gp.laplace.distributions.LaplaceMarginal` site and
draws ``f`` from its Laplace Gaussian (optionally corrected by a short NUTS
run on ``f | θ, y``), storing the draws in the Fit under the field's name.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from bayeskern.errors import ConvergenceError
from bayeskern.gp.laplace.distributions import LaplaceMarginal
from bayeskern.gp.laplace.predict import cached_replay, replay_arguments


def sample_latent(fit, name: str, *, seed: int = 0, obs_name: str | None = None, batch_size: int = 64,
                  correction: int = 0):
    """Draw ``f`` at each hyperparameter draw from the Laplace Gaussian and store them in ``fit`` under ``name``.

    For each posterior draw ``θ_s`` the model is re-run with ``θ_s`` substituted,
    the site ``obs_name`` (default ``f"{name}_y"``) gives ``K_θ``, ``m_θ`` and the
    likelihood, and one ``f_s ~ N(f̂_θ, (K_θ⁻¹ + W_θ)⁻¹)`` is drawn. Together the
    draws are from ``∫ q(f | θ, y) p(θ | y) dθ``: exact in ``θ`` up to the
    sampler, Laplace in ``f | θ`` (for log-concave likelihoods very close;
    for Student-t the Gaussian misses heavy-tailed and bimodal ``f_i``).

    Args:
        fit: a :class:`bayeskern.infer.Fit` of a model that calls
            :func:`laplace_marginal` with this ``name``.
        name: the name given to :func:`laplace_marginal`.
        seed: PRNG seed.
        obs_name: the observed site's name if it was overridden.
        batch_size: draws processed together (memory: ``batch_size`` ``(n, n)`` matrices). With
            ``correction`` the draws run one at a time whatever this says: vectorised NUTS
            chains advance in lockstep with the longest tree (3.7x slower measured at n = 500).
        correction: if ``> 0``, each draw is moved by that many NUTS transitions on the exact
            ``p(f | θ_s, y)`` (after as many step-size adaptation transitions), started from the
            Laplace draw and preconditioned by the Laplace covariance
            (:mod:`bayeskern.gp.laplace.correction`): removes the mode-vs-mean bias of
            ``q`` for skewed likelihoods. Dense and low-rank (HSGP) fields. At n = 500 (Poisson)
            15 left 4.4% of f means > 3 MCSE from latent-field NUTS (300 draws); 40 brought all within
            Monte-Carlo error (300 draws in 54 s).
            The mean acceptance rate is stored in ``fit.extras[f"{name}_correction_accept"]``.

    Raises:
        ConvergenceError: the Newton mode search did not converge for some draw.

    Returns:
        ``(chain * draw, n)`` draws; ``fit.samples_by_chain[name]`` is set to the
        ``(chain, draw, n)`` array, so ``fit.samples``, ``to_arviz`` and ``summary``
        include ``f``.
    """

    if fit.model is None:
        raise ValueError("this Fit has no model (it was loaded from disk); latent draws need the model")
    site = obs_name or f"{name}_y"
    samples = {k: jnp.asarray(v) for k, v in fit.samples.items() if k != name}
    total = next(iter(samples.values())).shape[0]
    args, kwargs = fit.model_args, fit.model_kwargs
    if isinstance(correction, bool) or not isinstance(correction, (int, np.integer)) or correction < 0:
        raise ValueError(f"correction must be a non-negative int (NUTS transitions per draw), got {correction!r}")
    tr0 = handlers.trace(handlers.seed(fit.model, 0)).get_trace(*args, **kwargs)
    if site not in tr0 or not isinstance(tr0[site]["fn"], LaplaceMarginal):
        raise ValueError(f"the model has no laplace_marginal site {site!r}; pass the same name (or obs_name)")
    if correction and not tr0[site]["fn"].supports_correction:
        raise ValueError(f"correction= is available for structure='dense' and 'hsgp' latent fields, not "
                         f"{type(tr0[site]['fn']).__name__}")
    arrs, rebuild = replay_arguments(fit, tr0[site]["fn"])
    model = fit.model
    lanes = None if correction else int(batch_size)

    def build():
        return jax.jit(partial(_latent_draws, model, rebuild, site, int(correction), lanes))

    run = cached_replay(fit, ("sample_latent", site, int(correction), lanes), build)
    keys = jax.random.split(jax.random.PRNGKey(seed), total)
    f, accept, ok = run(samples, keys, arrs)
    bad = int(np.sum(~np.asarray(ok)))
    if bad:
        raise ConvergenceError(
            f"sample_latent: laplace_marginal {name!r} (site {site!r}): for {bad} of {total} draws the Newton mode "
            "search did not converge, so their latent draws would be wrong. Raise max_iter, give a prior mean "
            "near the data's scale, or check the scale of the data and of the likelihood's parameters.")
    f = np.asarray(f)
    unsolved = int(np.sum(~np.all(np.isfinite(f.reshape(total, -1)), axis=1)))
    if unsolved:
        raise ConvergenceError(
            f"sample_latent: laplace_marginal {name!r} (site {site!r}): for {unsolved} of {total} draws the "
            "conjugate-gradient solves of the Laplace posterior draws did not converge (structure='kronecker'), so "
            "those draws would be wrong. Raise the cg_maxiter option or loosen probe_tol.")
    if correction:
        fit.extras[f"{name}_correction_accept"] = float(np.mean(accept))
    fit.samples_by_chain[name] = f.reshape((fit.num_chains, fit.num_draws) + f.shape[1:])
    return f


def _latent_draws(model, rebuild, site, correction, batch_size, draws, keys, arrs):
    """``(f, acceptance, converged)`` per hyperparameter draw (a ``lax.map``), for :func:`sample_latent`."""
    a, k = rebuild(arrs)

    def one(item):
        draw, key = item
        tr = handlers.trace(handlers.substitute(handlers.seed(model, 0), data=draw)).get_trace(*a, **k)
        s = tr[site]
        converged = s["fn"].mode(s["value"]).info.converged
        if correction:
            return (*s["fn"].corrected_latent(key, s["value"], correction), converged)
        return s["fn"].sample_latent(key, s["value"]), jnp.ones((), s["value"].dtype), converged

    return jax.lax.map(one, (draws, keys), batch_size=batch_size)
