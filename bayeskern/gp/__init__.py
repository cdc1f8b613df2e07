"""Gaussian-process model pieces for NumPyro."""

from bayeskern.gp.laplace.distributions import LaplaceMarginal
from bayeskern.gp.laplace.draws import sample_latent
from bayeskern.gp.laplace.marginal import laplace_marginal
from bayeskern.gp.laplace.predict import LaplacePrediction, latent_predictive, predict_latent
from bayeskern.gp.latent import latent
from bayeskern.gp.posterior import ConditionedGP, GPPosterior
from bayeskern.gp.predictive_density import bernoulli_probability, predictive_log_density
from bayeskern.gp.process import GaussianProcess
from bayeskern.gp.structure import choose_structure
from bayeskern.gp.svgp import SVGP, SVGPFit, SVGPPrediction, fit_svgp, optimal_gaussian_q, select_inducing, svgp_elbo

__all__ = ["GaussianProcess", "GPPosterior", "ConditionedGP", "latent", "LaplaceMarginal", "laplace_marginal", "sample_latent",
           "LaplacePrediction", "bernoulli_probability", "latent_predictive", "predict_latent", "predictive_log_density",
           "SVGP", "SVGPFit", "SVGPPrediction", "fit_svgp", "optimal_gaussian_q", "select_inducing", "svgp_elbo",
           "choose_structure"]
