"""Random-Fourier-feature back end (Rahimi & Recht 2007), ``O(n M²)`` with the Woodbury identity.

``GaussianProcess(kernel, X, noise=s2, structure="rff", num_features=..., rff_kind=..., seed=...)``

Options (``structure_options``):

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
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayeskern.features.random_fourier import (
    RFFBasis,
    rff_component_weights,
    rff_draws,
    rff_reason,
)
from bayeskern.gp.backends import _lowrank

#: Settings this back end reads from ``GaussianProcess(..., **structure_options)``.
OPTIONS = ("num_features", "rff_kind", "seed")

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


class RFFSpec(NamedTuple):
    """Resolved static settings; the random draws (unit frequencies from the seed) travel as arrays."""

    num_features: int
    kind: str

    def dynamic(self, process):
        key = jax.random.PRNGKey(int(process.options.get("seed", 0)))
        return rff_draws(process.kernel, key, self.num_features, process.X.shape[1], self.kind)

    def build(self, kernel, X, draws):
        basis = RFFBasis.from_draws(kernel, draws, X.shape[1], self.num_features)
        return _Representation(basis, basis.weights())

    def component_weights(self, kernel, X, target):
        return rff_component_weights(kernel, target, self.num_features)

    def check_inputs(self, X, X_new):
        return None


class _Representation(NamedTuple):
    basis: RFFBasis
    weights: jnp.ndarray

    def features(self, X):
        return self.basis.unit_features(X)


def spec(process) -> RFFSpec:
    num, kind, _ = _settings(process)
    return RFFSpec(int(num), kind)


log_prob, pointwise_log_prob, sample, condition = _lowrank.entry_points(spec, "RFF")
