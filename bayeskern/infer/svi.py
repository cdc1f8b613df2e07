"""`svi`: stochastic variational inference with NumPyro autoguides and optax optimisers."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
import optax
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import (
    AutoDelta,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

from bayeskern.infer._util import (
    check_model_arguments,
    check_site_names,
    complete_samples,
    observed_values,
    plate_dims,
    resolve_init_strategy,
    validate_observations,
)
from bayeskern.infer.fit import Fit

_GUIDES = {
    "meanfield": AutoNormal,
    "lowrank": AutoLowRankMultivariateNormal,
    "fullrank": AutoMultivariateNormal,
    "map": AutoDelta,
}


def make_guide(model, guide="meanfield", init="median"):
    """The guide for ``guide`` (a name or a ready guide, returned unchanged)."""
    if isinstance(guide, str):
        if guide not in _GUIDES:
            raise ValueError(f"guide must be one of {sorted(_GUIDES)} or a NumPyro guide, got {guide!r}")
        return _GUIDES[guide](model, init_loc_fn=resolve_init_strategy(init))
    if callable(guide):
        return guide
    raise ValueError(f"guide must be one of {sorted(_GUIDES)} or a NumPyro guide, got {guide!r}")


def svi(
    model,
    *args,
    guide="meanfield",
    optimizer=None,
    steps: int = 2000,
    num_samples: int = 1000,
    seed: int = 0,
    init="median",
    loss=None,
    progress_bar: bool = False,
    **model_kwargs,
) -> Fit:
    """Fit a variational approximation to the posterior of ``model``.

    Args:
        model: a NumPyro model.
        *args: positional model arguments.
        guide: ``"meanfield"`` (``AutoNormal``), ``"lowrank"``
            (``AutoLowRankMultivariateNormal``), ``"fullrank"``
            (``AutoMultivariateNormal``), ``"map"`` (``AutoDelta``: a point
            estimate in constrained space), or any NumPyro guide callable.
        optimizer: an ``optax.GradientTransformation`` (passed to NumPyro's
            ``SVI``, which wraps it with ``optax_to_numpyro``) or a
            ``numpyro.optim`` optimiser; default ``optax.adam(1e-2)``.
        steps: optimisation steps.
        num_samples: draws from the fitted guide. For ``guide="map"`` the
            posterior is a point: the fit holds exactly one draw (one chain,
            one draw) and ``num_samples`` is ignored.
        seed: PRNG seed (optimisation and draws).
        init: autoguide location init: ``"median"``, a dict of site values,
            or a NumPyro init strategy (ignored for a user guide).
        loss: a NumPyro ELBO (default ``Trace_ELBO()``).
        progress_bar: show NumPyro's progress bar.
        **model_kwargs: keyword model arguments (e.g. ``y=y``).

    Returns:
        A :class:`Fit` with ``method="svi"``, one chain of ``num_samples``
        draws (latent and deterministic sites), ``fit.losses`` the loss
        (negative ELBO) per step ``(steps,)``, ``fit.guide`` and ``fit.params``.

    Raises:
        FloatingPointError: the final loss is not finite (lower the learning
            rate, change ``init``, or look for NaNs in the model).
    """
    check_model_arguments(model, args, model_kwargs, svi)
    validate_observations(model, args, model_kwargs)
    if steps < 1 or num_samples < 1:
        raise ValueError(f"steps and num_samples must be >= 1, got {steps}, {num_samples}")
    if isinstance(init, Mapping):
        check_site_names(init, model, args, model_kwargs, "init")
    guide_obj = make_guide(model, guide, init)
    opt = optax.adam(1e-2) if optimizer is None else optimizer
    engine = SVI(model, guide_obj, opt, loss=Trace_ELBO() if loss is None else loss)
    key_fit, key_draw = jax.random.split(jax.random.PRNGKey(seed))
    result = engine.run(key_fit, steps, *args, progress_bar=progress_bar, **model_kwargs)
    losses = np.asarray(result.losses)
    if not np.isfinite(losses[-1]):
        bad = int(np.argmax(~np.isfinite(losses)))
        raise FloatingPointError(
            f"SVI loss is not finite at the end ({losses[-1]}); it first became non-finite at step {bad}. "
            "Lower the learning rate, change `init`, or check the model for NaNs"
        )
    params = result.params
    n = 1 if isinstance(guide, str) and guide == "map" else num_samples
    if hasattr(guide_obj, "sample_posterior"):
        latent = guide_obj.sample_posterior(key_draw, params, *args, sample_shape=(n,), **model_kwargs)
    else:
        latent = Predictive(guide_obj, params=params, num_samples=n)(key_draw, *args, **model_kwargs)
    samples = complete_samples(model, latent, args, model_kwargs)
    return Fit(
        {k: v[None] for k, v in samples.items()},
        method="svi",
        model=model,
        model_args=args,
        model_kwargs=model_kwargs,
        losses=losses,
        observed_data=observed_values(model, args, model_kwargs),
        dims=plate_dims(model, args, model_kwargs),
        guide=guide_obj,
        params=params,
        extras={"guide": guide if isinstance(guide, str) else type(guide_obj).__name__, "steps": int(steps)},
    )
