"""The embedded Laplace approximation of a latent Gaussian field.

The public entry points are reached from :mod:`bayeskern.gp`
(``bk.gp.laplace_marginal``, ``bk.gp.LaplaceMarginal``, ``bk.gp.sample_latent``,
``bk.gp.predict_latent``, ``bk.gp.latent_predictive``, ``bk.gp.LaplacePrediction``).
The modules, from the bottom up:

- :mod:`~bayeskern.gp.laplace.newton_ascent`: the damped Newton loop every mode search shares.
- :mod:`~bayeskern.gp.laplace.implicit`: implicit-function-theorem gradients of a log marginal.
- :mod:`~bayeskern.gp.laplace.newton`: dense Newton mode and log marginal.
- :mod:`~bayeskern.gp.laplace.lowrank`: the same for a low-rank (HSGP) field ``f = m + B β``.
- :mod:`~bayeskern.gp.laplace.kron_logdet`, :mod:`~bayeskern.gp.laplace.kronecker`: the same on a
  full Cartesian grid with a Kronecker prior (CG Newton, stochastic-Lanczos or Fiedler log det).
- :mod:`~bayeskern.gp.laplace.correction`: NUTS correction of Laplace latent draws.
- :mod:`~bayeskern.gp.laplace.distributions`: the site's distributions, :class:`LaplaceMarginal` (dense)
  and its Kronecker and low-rank subclasses.
- :mod:`~bayeskern.gp.laplace.marginal`: :func:`laplace_marginal`, the NumPyro site (picks the structure).
- :mod:`~bayeskern.gp.laplace.predict_structured`, :mod:`~bayeskern.gp.laplace.predict`: prediction
  at new inputs.
- :mod:`~bayeskern.gp.laplace.draws`: :func:`sample_latent`, latent draws after a fit.
"""
