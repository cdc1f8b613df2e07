"""`map_estimate`: the posterior mode, found by L-BFGS with a convergence test, as a one-draw `Fit`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bayeskern.errors import ConvergenceError
from bayeskern.infer._util import check_model_arguments, find_mode, observed_values, plate_dims, validate_observations
from bayeskern.infer.fit import Fit


def map_estimate(model, *args, steps: int = 1000, init="median", seed: int = 0, **model_kwargs) -> Fit:
    """Maximum a posteriori point of ``model`` in unconstrained space (log Jacobian included).

    optax's L-BFGS with a zoom line search runs until the largest gradient
    entry of the negative log density is below ``1e-7 · max(1, |U|)``, or
    ``steps`` iterations. This is the mode NUTS and ``laplace`` start from;
    for a stochastic objective use :func:`~bayeskern.infer.svi`.

    Args:
        model: a NumPyro model.
        *args: positional model arguments (e.g. ``X, y``).
        steps: most L-BFGS iterations.
        init: start: ``"median"``, a dict of constrained site values, or a NumPyro init strategy.
        seed: PRNG seed of the initialisation.
        **model_kwargs: keyword model arguments.

    Returns:
        A :class:`Fit` with ``method="map"`` holding one chain of one draw
        (latent and deterministic sites at the mode); ``fit.losses`` the
        negative log density per iteration; ``fit.extras`` holds
        ``iterations`` and ``max_abs_grad``.

    Raises:
        ConvergenceError: the search used ``steps`` iterations without
            meeting the gradient test (the message says how far it got).

    Example::

        fit = bk.infer.map_estimate(model, X, y)
        fit.samples["f_lengthscale"]  # (1,)
    """
    check_model_arguments(model, args, model_kwargs, map_estimate)
    validate_observations(model, args, model_kwargs)
    mode = find_mode(model, args, model_kwargs, init=init, steps=steps, seed=seed)
    if not mode.converged:
        raise ConvergenceError(
            f"map_estimate: L-BFGS stopped after {len(mode.losses)} iterations with max |gradient| "
            f"{mode.grad_norm:.3g} (potential {float(mode.losses[-1]):.6g}); raise `steps`, start elsewhere with "
            "`init`, or reparametrise the model"
        )
    point = {k: np.asarray(v)[None, None] for k, v in mode.constrained().items()}
    return fit_from_draws(point, method="map", model=model, args=args, kwargs=model_kwargs, losses=mode.losses,
                          extras={"iterations": int(len(mode.losses)), "max_abs_grad": float(mode.grad_norm)})


def fit_from_draws(samples_by_chain: Mapping, *, method: str, model, args: tuple, kwargs: dict, losses=None,
                   extras: Mapping | None = None):
    """A :class:`~bayeskern.infer.fit.Fit` of ``model`` with its observed data and plate dims traced from it.

    The shared tail of the runners whose draws need no sampler statistics (MAP, Laplace).
    """
    return Fit(samples_by_chain, method=method, model=model, model_args=args, model_kwargs=kwargs, losses=losses,
               observed_data=observed_values(model, args, kwargs), dims=plate_dims(model, args, kwargs),
               extras=extras)
