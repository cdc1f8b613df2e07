"""Short forms of :func:`~bayeskern.priors.sample_kernel`, one per kernel family.

``sample_matern52("f", X, y)`` is ``sample_kernel("f", Matern52, X, y)``;
every keyword of :func:`~bayeskern.priors.sample_kernel` (``ard``,
``pc_prior``, hyperparameter values or priors, ``active_dims``, ``degree``,
``order``, ``num_mixtures``) passes through.
"""

from __future__ import annotations

from bayeskern.kernels import (
    RBF,
    ArcCosine,
    Constant,
    Cosine,
    Linear,
    Matern12,
    Matern32,
    Matern52,
    Periodic,
    Polynomial,
    RationalQuadratic,
    SpectralMixture,
    White,
)
from bayeskern.priors.sample import sample_kernel


def _shortcut(kernel_cls, fname: str):
    def sample(prefix: str, X=None, y=None, **kwargs):
        return sample_kernel(prefix, kernel_cls, X, y, **kwargs)

    sample.__name__ = sample.__qualname__ = fname
    sample.__module__ = __name__
    sample.__doc__ = (
        f"Sample a ``{kernel_cls.__name__}`` kernel's hyperparameters as sites ``{{prefix}}_<name>``.\n\n"
        f"Shorthand for ``sample_kernel(prefix, {kernel_cls.__name__}, X, y, **kwargs)``; "
        f"hyperparameters: {', '.join(kernel_cls._params)}.\n\n"
        "Args:\n"
        "    prefix: site-name prefix.\n"
        "    X: inputs ``(n,)`` or ``(n, d)`` scaling the default priors, or None.\n"
        "    y: observations scaling the variance-type defaults, or None.\n"
        "    **kwargs: as for :func:`bayeskern.priors.sample_kernel`.\n\n"
        "Returns:\n"
        f"    The ``{kernel_cls.__name__}`` built from the sampled and fixed values.\n"
    )
    return sample


sample_rbf = _shortcut(RBF, "sample_rbf")
sample_matern12 = _shortcut(Matern12, "sample_matern12")
sample_matern32 = _shortcut(Matern32, "sample_matern32")
sample_matern52 = _shortcut(Matern52, "sample_matern52")
sample_rational_quadratic = _shortcut(RationalQuadratic, "sample_rational_quadratic")
sample_periodic = _shortcut(Periodic, "sample_periodic")
sample_cosine = _shortcut(Cosine, "sample_cosine")
sample_spectral_mixture = _shortcut(SpectralMixture, "sample_spectral_mixture")
sample_linear = _shortcut(Linear, "sample_linear")
sample_polynomial = _shortcut(Polynomial, "sample_polynomial")
sample_arc_cosine = _shortcut(ArcCosine, "sample_arc_cosine")
sample_constant = _shortcut(Constant, "sample_constant")
sample_white = _shortcut(White, "sample_white")

__all__ = [
    "sample_rbf", "sample_matern12", "sample_matern32", "sample_matern52", "sample_rational_quadratic",
    "sample_periodic", "sample_cosine", "sample_spectral_mixture", "sample_linear", "sample_polynomial",
    "sample_arc_cosine", "sample_constant", "sample_white",
]
