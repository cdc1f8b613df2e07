"""Sparse variational GPs for any likelihood, with minibatches (Hensman, Fusi & Lawrence 2013).

Model: ``f ~ GP(m, k)``, ``y_i | f ~ p(y_i | f(x_i))`` independently, ``M``
inducing inputs ``Z`` and *whitened* inducing values ``v``:
``u = f(Z) = L v`` with ``K_mm + εI = L Lᵀ`` and ``v ~ N(0, I)``. The
variational family is ``q(v) = N(μ_v, S)``, ``S = L_S L_Sᵀ``, with
``q(f | v) = p(f | v)``; then the marginal of ``f_i = f(x_i)`` is Gaussian,

    q(f_i) = N(a_iᵀ μ_v,  k_ii − ‖a_i‖² + ‖L_Sᵀ a_i‖²),    a_i = L⁻¹ k(Z, x_i),

and the evidence lower bound is

    ELBO = Σ_i E_{q(f_i)}[log p(y_i | f_i)] − KL(q(v) ‖ N(0, I)),

a sum over data points, so ``(n / b) Σ_{i ∈ batch}`` over a uniformly drawn
minibatch of size ``b`` is an unbiased estimate of the first part. The
one-dimensional expectations use Gauss–Hermite quadrature (20 nodes by
default; exact for a Gaussian likelihood). For a Gaussian likelihood the
optimal ``q(v)`` is available in closed form (:func:`optimal_gaussian_q`) and
the ELBO at it equals the collapsed SGPR bound of
``bayeskern.gp.backends.sgpr`` (Titsias 2009).

Two ways to use it:

* :func:`fit_svgp` — optimises the ELBO above (expectations over ``q(f_i)`` in
  closed form + quadrature, KL analytic) with optax over the kernel
  hyperparameters, likelihood and mean parameters (declared with
  ``numpyro.param`` inside the builders you pass), the inducing inputs and
  ``q(v)``; returns an :class:`SVGPFit` with ``predict``.
* :class:`SVGP` — a NumPyro model piece plus guide for ``numpyro.infer.SVI``.
  The model is an honest generative model: a site ``{name}_v ~ N(0, I)``,
  ``f | v`` Gaussian, and, when ``y`` is observed, the factor
  ``E_{p(f_i | v)}[log p(y_i | f_i)]`` inside a (subsampling) plate. With the
  guide ``q(v)`` the expected Trace_ELBO equals the ELBO above (the ``v``
  integral is done by sampling rather than in closed form, so gradients are
  noisier). Because the model never touches variational parameters it also
  works with NUTS: sampling ``v`` and hyperparameters jointly targets the
  optimal free-form ``q(v, θ)`` of Hensman, Matthews, Filippone & Ghahramani
  (2015), an approximation of the exact posterior (the factor is a lower
  bound on ``log p(y | v)``).

Why both: the dedicated trainer integrates ``q(v)`` analytically (lower-variance
gradients than sampling ``v``) and can take natural-gradient steps in ``q``,
which Adam on a Cholesky factor cannot match for speed; the model piece is
what composes with other NumPyro sites and with ``bayeskern.infer.svi``
(pass ``guide=svgp.guide``), ``Predictive`` and ArviZ.

Modules: :mod:`~bayeskern.gp.svgp.quadrature` (Gauss–Hermite expectations),
:mod:`~bayeskern.gp.svgp.elbo` (``q(f)`` marginals, KL, the ELBO, optimal
Gaussian ``q``, natural gradients), :mod:`~bayeskern.gp.svgp.train`
(``fit_svgp``), :mod:`~bayeskern.gp.svgp.model` (``SVGP``).

Jitter on ``K_mm``: relative ``1e-6`` by default
(``bayeskern.features.nystrom.INDUCING_JITTER``); the bound stays a bound.
"""


from bayeskern.gp.svgp.elbo import (
    kl_whitened,
    natural_gradient_step,
    optimal_gaussian_q,
    q_marginals,
    select_inducing,
    svgp_elbo,
)
from bayeskern.gp.svgp.model import SVGP
from bayeskern.gp.svgp.quadrature import (
    NUM_QUADRATURE,
    expected_log_likelihood,
    gauss_hermite,
    log_predictive_density,
    predictive_moments,
)
from bayeskern.gp.svgp.train import SVGPFit, SVGPPrediction, fit_svgp

__all__ = [
    "NUM_QUADRATURE",
    "SVGP",
    "SVGPFit",
    "SVGPPrediction",
    "expected_log_likelihood",
    "fit_svgp",
    "gauss_hermite",
    "kl_whitened",
    "log_predictive_density",
    "natural_gradient_step",
    "optimal_gaussian_q",
    "predictive_moments",
    "q_marginals",
    "select_inducing",
    "svgp_elbo",
]
