"""Random-Fourier-feature back end (Rahimi & Recht 2007), ``O(n M²)`` with the Woodbury identity.

``GaussianProcess(kernel, X, noise=s2, method="rff", num_features=..., rff_kind=..., seed=...)``

Options (``method_options``):

* ``num_features``: frequencies ``M`` per stationary summand (default
  512); each gives a cosine and a sine column, so the feature matrix has
  ``2M`` columns per summand.
* ``rff_kind``: ``"auto"`` (default: orthogonal for RBF/Matérn/RQ, else
  i.i.d.), ``"iid"``, ``"orthogonal"`` (Yu et al. 2016) or ``"simplex"``
  (Reid et al. 2023).
* ``seed``: integer seed of the frequencies (default 0). The frequencies
  are a fixed function of the seed and the hyperparameters (unit-lengthscale
  draws divided by the lengthscale), so the same seed gives the same basis
  at every evaluation — inside NUTS, in an optimiser, and when predicting.

Applies to any input dimension and any stationary kernel with a frequency
sampler (RBF, Matérn, rational quadratic, spectral mixture, cosine) and
sums / positive multiples of them (``active_dims`` allowed). The model
computed exactly is the finite-feature one (see ``_lowrank``); component
prediction (``kernel=`` a summand) is exact within it.

Cost: ``O(n M²)`` per log density; the features depend on the lengthscales,
so gradients flow through the ``n × 2M`` feature matrix.
"""

from __future__ import annotations

import numbers

import jax

from bayeskern.features.random_fourier import RFFBasis, rff_reason
from bayeskern.gp.backends import _lowrank

DEFAULT_NUM_FEATURES = 512


def _settings(process):
    opts = process.options
    return (opts.get("num_features", DEFAULT_NUM_FEATURES), opts.get("rff_kind", "auto"), opts.get("seed", 0))


def applicable(process):
    """None when random Fourier features apply to ``process``, else the reason."""
    num, kind, seed = _settings(process)
    if not isinstance(num, numbers.Integral) or isinstance(num, bool) or num < 1:
        return f"num_features must be a positive integer, got {num!r}"
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        return f"seed must be an integer, got {seed!r}"
    return rff_reason(process.kernel, process.X.shape[1], kind)


class RFFRepresentation:
    """The process's random features: ``[cos, sin]/√M`` columns weighted by the summands' variances."""

    def __init__(self, process):
        num, kind, seed = _settings(process)
        self.kernel = process.kernel
        self.basis = RFFBasis.from_kernel(process.kernel, jax.random.PRNGKey(int(seed)), int(num),
                                          process.X.shape[1], kind)
        self.weights = self.basis.weights()

    def features(self, X):
        return self.basis.unit_features(X)

    def component_weights(self, target):
        return self.basis.component_weights(self.kernel, target)

    def check_inputs(self, X_new):
        return None


def log_prob(process, value):
    """Woodbury log density of the RFF model, ``(..., n) -> (...)``."""
    return _lowrank.log_prob(process, RFFRepresentation(process), value)


def pointwise_log_prob(process, value):
    """Exact LOO terms of the RFF model, ``(..., n)``."""
    return _lowrank.pointwise_log_prob(process, RFFRepresentation(process), value)


def sample(process, key, sample_shape):
    """Prior draws (with noise), ``sample_shape + (n,)``."""
    return _lowrank.sample(process, RFFRepresentation(process), key, sample_shape)


def condition(process, y):
    """A ``LowRankPosterior`` (weight space) with ``at(X_new, ...)`` and ``sample_functions``."""
    return _lowrank.LowRankPosterior(process, RFFRepresentation(process), y)
