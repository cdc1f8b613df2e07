"""Finite-basis approximations of stationary kernels: Hilbert-space (HSGP) basis, random Fourier
features (i.i.d., orthogonal, simplex), Nyström features on landmarks, and pathwise posterior sampling built on them.

Both bases give ``K ≈ Φ diag(s) Φᵀ`` with ``Φ`` ``(n, M)``; the GP back ends
``structure="hsgp"`` and ``structure="rff"`` (``bayeskern.gp.backends``) use them
with the Woodbury identity (``bayeskern.linalg.woodbury``), and latent
functions can be built from them directly inside a NumPyro model
(``hsgp_features``, ``rff_features``).
"""

from bayeskern.features.hsgp import (
    HSGPBasis,
    HSGPBoundaryWarning,
    hsgp_features,
    hsgp_spectral_weights,
)
from bayeskern.features.hsgp_settings import (
    HSGP_RULES,
    HSGPSettings,
    HSGPSettingsWarning,
    check_hsgp_settings,
    hsgp_settings,
)
from bayeskern.features.nystrom import (
    INDUCING_JITTER,
    Nystrom,
    landmark_cholesky,
    nystrom_features,
    select_landmarks,
)
from bayeskern.features.pathwise import PathwiseSamples, pathwise_posterior
from bayeskern.features.random_fourier import (
    RFF_KINDS,
    RFFBasis,
    orthogonal_directions,
    rff_features,
    rff_frequencies,
    simplex_directions,
)

__all__ = [
    "HSGP_RULES",
    "RFF_KINDS",
    "HSGPBasis",
    "HSGPBoundaryWarning",
    "HSGPSettings",
    "HSGPSettingsWarning",
    "INDUCING_JITTER",
    "Nystrom",
    "PathwiseSamples",
    "RFFBasis",
    "check_hsgp_settings",
    "hsgp_features",
    "hsgp_settings",
    "hsgp_spectral_weights",
    "landmark_cholesky",
    "nystrom_features",
    "orthogonal_directions",
    "pathwise_posterior",
    "rff_features",
    "rff_frequencies",
    "select_landmarks",
    "simplex_directions",
]
