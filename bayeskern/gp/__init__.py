"""Gaussian-process model pieces for NumPyro."""

from bayeskern.gp.latent import latent
from bayeskern.gp.posterior import ConditionedGP, GPPosterior
from bayeskern.gp.process import GaussianProcess

__all__ = ["GaussianProcess", "GPPosterior", "ConditionedGP", "latent"]
