"""The shared kernel backend: every model family in bayeskern uses these objects."""

from bayeskern.kernels.base import Kernel, Stationary
from bayeskern.kernels.composite import Product, Scaled, Sum, Warped
from bayeskern.kernels.constant import Constant, White
from bayeskern.kernels.dot_product import ArcCosine, Linear, Polynomial
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
    "Kernel", "Stationary", "Sum", "Product", "Scaled", "Warped",
    "RBF", "Matern12", "Matern32", "Matern52", "RationalQuadratic", "Periodic", "Cosine",
    "SpectralMixture", "Linear", "Polynomial", "ArcCosine", "Constant", "White",
]

from bayeskern.kernels.state_space import StateSpaceModel, state_space  # noqa: E402
from bayeskern.kernels.state_space_transitions import discrete_transitions  # noqa: E402

__all__ += ["StateSpaceModel", "state_space", "discrete_transitions"]
