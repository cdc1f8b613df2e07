"""`nuts`: NumPyro's No-U-Turn sampler with defaults suited to kernel hyperparameters."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from numpyro.infer import MCMC, NUTS, init_to_value
from numpyro.infer.util import unconstrain_fn

from bayeskern.errors import ConvergenceWarning
from bayeskern.infer._util import (
    MAX_TREE_DEPTH,
    _sample_stats,
    check_model_arguments,
    check_site_names,
    find_mode,
    latent_site_names,
    observed_values,
    plate_dims,
    resolve_init_strategy,
    trace_model,
    unconstrained_dim,
    validate_observations,
)
from bayeskern.infer.fit import Fit

#: NumPyro extra fields recorded for every run (ArviZ names them in ``bayeskern.infer._util._STAT_NAMES``).
EXTRA_FIELDS = ("diverging", "energy", "num_steps", "accept_prob", "adapt_state.step_size", "potential_energy")
#: Total unconstrained dimension up to which ``dense_mass=None`` picks a dense mass matrix.
DENSE_MASS_MAX_DIM = 20
#: With init="map", the Laplace covariance seeds a diagonal mass matrix up to this dimension (a D x D Hessian).
LAPLACE_MASS_MAX_DIM = 500


def default_chain_method(num_chains: int) -> str:
    """``"parallel"`` when there is one JAX device per chain, else ``"vectorized"``."""
    return "parallel" if jax.local_device_count() >= num_chains else "vectorized"


def _per_chain_init(model, args, kwargs, inits: Sequence[Mapping], num_chains: int) -> dict:
    """Unconstrained ``init_params`` with a leading chain axis from one constrained dict per chain."""
    if len(inits) != num_chains:
        raise ValueError(f"init is a list of {len(inits)} dicts but num_chains={num_chains}; give one per chain")
    latent = set(latent_site_names(trace_model(model, args, kwargs)))
    zs = []
    for i, d in enumerate(inits):
        if set(d) != latent:
            raise ValueError(f"init[{i}] must give a value for exactly the latent sites {sorted(latent)}, got {sorted(d)}")
        zs.append(unconstrain_fn(model, args, kwargs, {k: jnp.asarray(v) for k, v in d.items()}))
    return jax.tree_util.tree_map(lambda *v: jnp.stack(v), *zs)


def nuts(
    model,
    *args,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 2,
    seed: int = 0,
    init="median",
    dense_mass: bool | None = None,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = MAX_TREE_DEPTH,
    chain_method: str | None = None,
    progress_bar: bool = True,
    map_steps: int = 1000,
    **model_kwargs,
) -> Fit:
    """Sample the posterior of ``model`` with NUTS.

    Chains run in parallel when JAX sees at least ``num_chains`` devices,
    otherwise vectorised on one device. On CPU, get one device per chain by
    setting, before JAX is first imported,
    ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (or
    ``numpyro.set_host_device_count(4)`` at the top of the script).

    Args:
        model: a NumPyro model.
        *args: positional model arguments (e.g. ``X, y``).
        num_warmup: adaptation steps per chain (discarded).
        num_samples: kept draws per chain.
        num_chains: number of chains (>= 2 for R-hat; 4 is better).
        seed: PRNG seed.
        init: where chains start:
            ``"median"`` (``init_to_median``: the median of 15 prior draws of
            each site, robust for positive hyperparameters);
            ``"map"`` (minimise the negative log density in unconstrained
            space with L-BFGS, at most ``map_steps`` iterations, seed the mass
            matrix with the Laplace covariance there (inverse Hessian, when positive
            definite: warm-up then takes short trajectories from the start), and start every chain there
            via ``init_to_value``: fast warm-up, but identical starts weaken
            R-hat's ability to detect multimodality);
            a dict site -> constrained value (all chains; other sites start
            uniformly in (-2, 2) unconstrained);
            a list of ``num_chains`` such dicts (one start per chain, e.g.
            dispersed starts); or a NumPyro init strategy.
        dense_mass: mass matrix shape; ``None`` means dense when the total
            unconstrained dimension is <= 20 (hyperparameter posteriors are
            small and correlated), diagonal otherwise.
        target_accept_prob: step-size adaptation target; raise it (0.9-0.99)
            when there are divergences.
        max_tree_depth: NUTS tree depth cap (``2**depth`` leapfrog steps).
        chain_method: ``"parallel"``, ``"vectorized"`` or ``"sequential"``;
            ``None`` picks as described above.
        progress_bar: show NumPyro's progress bar.
        map_steps: most L-BFGS iterations for ``init="map"`` (a warning says when they did not suffice).
        **model_kwargs: keyword model arguments (e.g. ``y=y``). Names used by
            this function's own options cannot be passed through.

    Returns:
        A :class:`Fit` with ``method="nuts"``, ``samples_by_chain``
        ``(num_chains, num_samples, ...)``, NUTS ``sample_stats`` and the
        ``MCMC`` object on ``fit.mcmc``.
    """
    check_model_arguments(model, args, model_kwargs, nuts)
    validate_observations(model, args, model_kwargs)
    if num_chains < 1 or num_samples < 1 or num_warmup < 0:
        raise ValueError(
            f"need num_chains >= 1, num_samples >= 1, num_warmup >= 0; got {num_chains}, {num_samples}, {num_warmup}"
        )
    losses = None
    init_params = None
    map_mode = None
    extras = {}
    if isinstance(init, str) and init == "map":
        mode = find_mode(model, args, model_kwargs, steps=map_steps, seed=seed)
        if not mode.converged:
            warnings.warn(
                f"nuts(init='map'): the MAP search stopped after {len(mode.losses)} L-BFGS iterations with max |gradient| "
                f"{mode.grad_norm:.3g}; the chains start there and warm-up continues from it (raise map_steps for a MAP)",
                ConvergenceWarning,
                stacklevel=2,
            )
        losses = mode.losses
        start = mode.latent()
        extras["map"] = start
        strategy = init_to_value(values=start)
        map_mode = mode
    elif isinstance(init, (list, tuple)):
        for i, one in enumerate(init):
            if isinstance(one, Mapping):
                check_site_names(one, model, args, model_kwargs, f"init[{i}]")
        init_params = _per_chain_init(model, args, model_kwargs, init, num_chains)
        strategy = resolve_init_strategy("median")
    else:
        if isinstance(init, Mapping):
            check_site_names(init, model, args, model_kwargs, "init")
        strategy = resolve_init_strategy(init)
    dim = unconstrained_dim(model, args, model_kwargs)
    dense = dim <= DENSE_MASS_MAX_DIM if dense_mass is None else dense_mass
    inverse_mass = None
    if map_mode is not None and (dense or dim <= LAPLACE_MASS_MAX_DIM):
        inverse_mass = map_mode.inverse_mass_matrix(dense)
        extras["laplace_mass_matrix"] = inverse_mass is not None

    kernel = NUTS(
        model,
        init_strategy=strategy,
        dense_mass=dense,
        inverse_mass_matrix=inverse_mass,
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method or default_chain_method(num_chains),
        progress_bar=progress_bar,
    )
    mcmc.run(jax.random.PRNGKey(seed), *args, extra_fields=EXTRA_FIELDS, init_params=init_params, **model_kwargs)
    samples = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    extras.update({"dense_mass": bool(dense), "unconstrained_dim": dim, "max_tree_depth": int(max_tree_depth)})
    return Fit(
        samples,
        method="nuts",
        model=model,
        model_args=args,
        model_kwargs=model_kwargs,
        sample_stats=_sample_stats(extra, max_tree_depth),
        losses=losses,
        observed_data=observed_values(model, args, model_kwargs),
        dims=plate_dims(model, args, model_kwargs),
        mcmc=mcmc,
        extras=extras,
    )
