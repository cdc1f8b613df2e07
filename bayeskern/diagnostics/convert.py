"""Convert a :class:`~bayeskern.infer.Fit` into an ArviZ 1.x ``DataTree``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np


def _by_chain(name: str, value, chains: int, draws: int) -> np.ndarray:
    """``value`` as ``(chain, draw, ...)``, accepting ``(chain, draw, ...)`` or ``(chain * draw, ...)``."""
    arr = np.asarray(value)
    if arr.shape[:2] == (chains, draws):
        return arr
    if arr.ndim >= 1 and arr.shape[0] == chains * draws:
        return arr.reshape((chains, draws) + arr.shape[1:])
    raise ValueError(
        f"posterior_predictive[{name!r}] has shape {arr.shape}; expected ({chains}, {draws}, ...) or "
        f"({chains * draws}, ...), one value per posterior draw (use fit.predict without num_draws)"
    )


def to_arviz(fit, log_likelihood: bool = True, posterior_predictive: Mapping | None = None, observed_data: Mapping | None = None):
    """Build an ArviZ ``DataTree`` from a fit.

    Groups (each only when there is something to put in it):

    - ``posterior``: every latent and deterministic site, dims
      ``(chain, draw, ...)``; SVI and Laplace fits appear as one chain.
    - ``sample_stats``: NUTS statistics under ArviZ names (``diverging``,
      ``energy``, ``lp``, ``n_steps``, ``tree_depth``,
      ``reached_max_tree_depth``, ``acceptance_rate``, ``step_size``), the
      same set ``az.from_numpyro`` builds; absent for SVI and Laplace.
    - ``log_likelihood``: ``fit.log_likelihood``, i.e.
      :func:`bayeskern.infer.pointwise_log_likelihood` (a distribution's
      ``pointwise_log_prob`` where it has one, so ``az.loo`` sees one term per
      observation even for a GP's single multivariate site), replacing
      NumPyro's own ``log_prob``-per-site values.
    - ``observed_data``: the model's observed values, updated by ``observed_data``.
    - ``posterior_predictive``: when a dict is given, site ->
      ``(chain, draw, ...)`` or ``(chain * draw, ...)`` arrays (e.g.
      ``fit.predict(model, X)``).

    Dims named by plates are used where they cover a site exactly; otherwise
    ArviZ's ``<site>_dim_<i>`` defaults.

    Args:
        fit: a :class:`bayeskern.infer.Fit`.
        log_likelihood: include the ``log_likelihood`` group (computed on first
            use and cached on the fit).
        posterior_predictive: optional site -> draws mapping.
        observed_data: optional extra/overriding observed values.

    Returns:
        ``xarray.DataTree`` following ArviZ conventions.
    """
    import arviz as az

    chains, draws = fit.num_chains, fit.num_draws
    groups = {"posterior": dict(fit.samples_by_chain)}
    if fit.sample_stats:
        groups["sample_stats"] = dict(fit.sample_stats)
    if log_likelihood:
        ll = fit.log_likelihood
        if ll:
            groups["log_likelihood"] = dict(ll)
        else:
            warnings.warn(
                "no pointwise log likelihood: the fit has no observed sites, or it was loaded from a file "
                "saved without one and has no model; LOO and Pareto-k checks are unavailable",
                stacklevel=2,
            )
    obs = dict(fit.observed_data)
    obs.update({k: np.asarray(v) for k, v in (observed_data or {}).items()})
    if obs:
        groups["observed_data"] = obs
    if posterior_predictive:
        groups["posterior_predictive"] = {k: _by_chain(k, v, chains, draws) for k, v in posterior_predictive.items()}
    dims = {k: v for k, v in fit.dims.items()}
    try:
        dt = az.from_dict(groups, dims=dims or None)
    except (ValueError, KeyError):
        # plate names clash with a site's shape somewhere (e.g. predictive draws at new inputs)
        dt = az.from_dict(groups)
    dt.attrs["inference_method"] = fit.method
    return dt
