"""Gaussian Cox processes: event times and spatial point patterns as NumPyro model pieces.

* Windows (:mod:`~bayeskern.cox.windows`): :class:`Interval`, :class:`Rectangle`,
  :class:`Polygon`, :class:`SpaceTime`; exact cell-window intersection measures.
* Grids (:mod:`~bayeskern.cox.grid`): :func:`make_grid`, :func:`bin_events` (counts,
  exposures, masks).
* Likelihoods (:mod:`~bayeskern.cox.likelihood`): binned counts (:func:`cox_counts`) and exact
  locations with quadrature (:func:`cox_points`, :func:`quadrature_nodes`).
* Links (:mod:`~bayeskern.cox.links`): log, softplus, square (permanental), sigmoid x max rate.
* Fields and models: :func:`latent_field` (dense / Kronecker / HSGP, whitened),
  :func:`intensity_field`, :func:`cox_grid_model`, :func:`lgcp_1d`, :func:`lgcp_2d`,
  :func:`laplace_grid_model` (embedded Laplace marginal).
* One call: :func:`fit` -> :class:`CoxFit` with ``intensity(points)``, ``intensity_summary``,
  ``expected_count(region)``, ``pair_correlation(r)``, ``simulate(num)``, ``plot()``.
"""

from bayeskern.cox.field import STRUCTURES, field_structure, latent_field
from bayeskern.cox.fit import METHODS, CoxFit, fit, laplace_grid_model
from bayeskern.cox.grid import Grid, bin_events, check_events, make_grid
from bayeskern.cox.likelihood import (
    binned_log_likelihood,
    binning_constant,
    cox_counts,
    cox_points,
    point_process_log_likelihood,
    quadrature_nodes,
)
from bayeskern.cox.links import LINKS, Link, get_link
from bayeskern.cox.models import cox_grid_model, intensity_field, lgcp_1d, lgcp_2d
from bayeskern.cox.summaries import pair_correlation, simulate_patterns, thin
from bayeskern.cox.windows import Interval, Polygon, Rectangle, SpaceTime, as_window

__all__ = [
    "LINKS",
    "METHODS",
    "STRUCTURES",
    "CoxFit",
    "Grid",
    "Interval",
    "Link",
    "Polygon",
    "Rectangle",
    "SpaceTime",
    "as_window",
    "bin_events",
    "binned_log_likelihood",
    "binning_constant",
    "check_events",
    "cox_counts",
    "cox_grid_model",
    "cox_points",
    "fit",
    "get_link",
    "intensity_field",
    "laplace_grid_model",
    "latent_field",
    "field_structure",
    "lgcp_1d",
    "lgcp_2d",
    "make_grid",
    "pair_correlation",
    "point_process_log_likelihood",
    "quadrature_nodes",
    "simulate_patterns",
    "thin",
]
