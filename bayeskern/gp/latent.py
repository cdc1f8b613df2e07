"""Latent GP functions inside a NumPyro model (for non-Gaussian likelihoods)."""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayeskern._checks import as_inputs
from bayeskern.linalg import cholesky, default_jitter
from bayeskern.priors import KernelSpec, resolve_kernel


def latent(name: str, kernel: KernelSpec, X, *, mean=None, whitened: bool = True, jitter: float | None = None):
    """Sample a latent function ``f ~ GP(mean, kernel)`` at ``X`` and return ``f`` ``(n,)``.

    Whitened (non-centred, the default): a site ``f"{name}_z"`` with
    ``z ~ N(0, I)`` and ``f = m + L z`` recorded as the deterministic site
    ``name``; this decouples ``f`` from the kernel hyperparameters, which is
    what NUTS needs when the data are weak. Centred (``whitened=False``):
    ``f`` itself is the sample site ``name`` with a multivariate-normal prior.

    Args:
        name: site name (the user's, never hard-coded).
        kernel: a :data:`~bayeskern.priors.KernelSpec`: a Kernel (fixed, or built from
            hyperparameters sampled earlier), a kernel class (its hyperparameters become the sites
            ``f"{name}_<hyperparameter>"`` with data-scaled lengthscale priors from ``X`` and
            ``LogNormal(0, 1)`` variance, see :func:`~bayeskern.priors.resolve_kernel`) or a
            callable ``(name, X) -> Kernel``.
        X: inputs ``(n,)`` or ``(n, d)``.
        mean: ``None``, a scalar, an ``(n,)`` array or a callable ``mean(X)``.
        whitened: non-centred parametrisation.
        jitter: relative jitter on the diagonal (default: the Cholesky policy's
            dtype default). Outside a trace, a kernel matrix that is not
            positive definite raises ``CholeskyError``; under ``jit`` (NUTS) it
            gives a non-finite factor, which the sampler rejects.
    """
    Xa = as_inputs(X, "X")
    n = Xa.shape[0]
    loc = resolve_mean(mean, X, n)
    K = resolve_kernel(kernel, name, X)(Xa)
    rel = default_jitter(K.dtype) if jitter is None else float(jitter)
    # Concrete matrices escalate or raise (never NaN); under NUTS a non-PD draw is rejected.
    L = cholesky(K, jitter=rel, name=f"{name} kernel matrix")
    if whitened:
        z = numpyro.sample(f"{name}_z", dist.Normal(jnp.zeros((n,), K.dtype), 1.0).to_event(1))
        return numpyro.deterministic(name, loc + L @ z)
    return numpyro.sample(name, dist.MultivariateNormal(loc, scale_tril=L))


def resolve_mean(mean, X, n: int):
    """The prior mean at ``X`` as an ``(n,)`` array from None (zero), a scalar, an ``(n,)`` array or a callable."""
    if mean is None:
        loc = jnp.zeros((n,))
    elif callable(mean):
        loc = jnp.asarray(mean(X))
    else:
        loc = jnp.asarray(mean)
        loc = jnp.full((n,), loc) if loc.ndim == 0 else loc
    if loc.shape != (n,):
        raise ValueError(f"mean must be a scalar, an ({n},) array or a callable giving ({n},), got shape {loc.shape}")
    return loc
