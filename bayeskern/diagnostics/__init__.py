"""bayeskern.diagnostics: ArviZ conversion, convergence checks in words, and plots.

Works on any :class:`bayeskern.infer.Fit` (or ArviZ ``DataTree``); nothing
here knows about the model families.
"""

from bayeskern.diagnostics.check import Verdict, check, ebfmi
from bayeskern.diagnostics.convert import to_arviz
from bayeskern.diagnostics.plots import plot_predictive_band, plot_rank, plot_trace

__all__ = ["Verdict", "check", "ebfmi", "plot_predictive_band", "plot_rank", "plot_trace", "to_arviz"]
