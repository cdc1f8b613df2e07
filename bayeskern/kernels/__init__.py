"""The shared kernel backend: every model family in bayeskern uses these objects.

Capabilities (spectral density, frequency sampling, state-space form, ...)
are generic functions that families register into; see
``bayeskern.kernels.capabilities``.
"""

from bayeskern.kernels.base import Binary, Kernel, Product, Scaled, Stationary, Sum, Summand, Warped, summands
from bayeskern.kernels.capabilities import UnsupportedKernelError
from bayeskern.kernels.constant import Constant, White
from bayeskern.kernels.dot_product import ArcCosine, Linear, Polynomial
from bayeskern.kernels.state_space import StateSpaceModel, state_space
from bayeskern.kernels.state_space_transitions import discrete_transitions
from bayeskern.kernels.stationary import (
    RBF,
    Cosine,
    Matern12,
    Matern32,
    Matern52,
    Periodic,
    RationalQuadratic,
    SpectralMixture,
)

__all__ = [
    "Kernel", "Stationary", "Sum", "Product", "Scaled", "Warped", "Binary",
    "RBF", "Matern12", "Matern32", "Matern52", "RationalQuadratic", "Periodic", "Cosine",
    "SpectralMixture", "Linear", "Polynomial", "ArcCosine", "Constant", "White",
    "StateSpaceModel", "state_space", "discrete_transitions",
    "Summand", "summands", "UnsupportedKernelError",
]
