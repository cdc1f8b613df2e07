"""Kernel mean embeddings ``z(x) = ∫ k(x, t) dπ(t)`` and the initial error ``∫∫ k dπ dπ``.

Closed forms (Briol et al. 2019, table 1; Rasmussen & Ghahramani 2003):

* RBF (ARD) under a box: a product over dimensions of 1-D integrals
  ``∫_a^b exp(-(x-t)²/2ℓ²) dt``, written with ``erf``;
* RBF (ARD) under ``N(μ, Σ)`` (full ``Σ``):
  ``z(x) = σ² |I + Λ⁻¹Σ|^{-1/2} exp(-½ (x-μ)ᵀ(Λ+Σ)⁻¹(x-μ))``, ``Λ = diag ℓ²``,
  and ``∫∫ k = σ² |I + 2Λ⁻¹Σ|^{-1/2}``;
* Matérn 1/2, 3/2, 5/2 on one input dimension under a box, and products of
  one-dimensional factors on distinct dimensions (``active_dims``) under a box;
* sums, positive scalings and ``Constant`` / ``White`` of any of these; every
  kernel under an :class:`~bayeskern.quadrature.Empirical` measure (finite sums).

The 1-D box integrals use ``F(u) = ∫_0^u ρ(s) ds`` and ``H(v) = ∫_0^v F``
for the unit-lengthscale profile ``ρ``: ``∫_a^b ρ(|x-t|/ℓ) dt = ℓ[G((x-a)/ℓ) - G((x-b)/ℓ)]``
with ``G`` the odd extension of ``F``, and ``∫∫_{[a,b]²} ρ = 2ℓ² H((b-a)/ℓ)``.

Everything else falls back to randomised QMC (scrambled Sobol) with an error
estimate and a :class:`QuadratureFallbackWarning`.

The closed forms are the kernel capability :func:`closed_form_embedding`:
each family (and ``Sum``, ``Scaled``, ``Product``) registers its rule here;
a new family registers ``@closed_form_embedding.register(Family)`` from its
own module.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import is_concrete
from bayeskern._counts import as_count
from bayeskern.kernels import (
    RBF,
    Constant,
    Kernel,
    Matern12,
    Matern32,
    Matern52,
    Product,
    Scaled,
    Sum,
    White,
)
from bayeskern.kernels.capabilities import UnsupportedKernelError, capability
from bayeskern.quadrature.measures import Empirical, Gaussian, Measure, Uniform
from bayeskern.quadrature.qmc import rqmc_mean


class QuadratureFallbackWarning(UserWarning):
    """No closed-form kernel mean exists for this kernel and measure; randomised QMC was used."""


class Embedding(NamedTuple):
    """Kernel mean ``z`` ``(n,)``, initial error ``initial`` ``()``, and their QMC standard errors (0 if exact)."""

    z: jax.Array
    initial: jax.Array
    z_error: jax.Array
    initial_error: jax.Array
    closed_form: bool


class _NoClosedForm(Exception):
    """A registered family has no closed form under this measure (e.g. Matérn under a Gaussian)."""


_SQ3, _SQ5 = math.sqrt(3.0), math.sqrt(5.0)


def _F(kind, u):
    """``∫_0^u ρ(s) ds`` for ``u >= 0`` and the unit-lengthscale profile ``ρ``."""
    if kind == "rbf":
        return math.sqrt(math.pi / 2) * jax.scipy.special.erf(u / math.sqrt(2.0))
    if kind == "m12":
        return -jnp.expm1(-u)
    if kind == "m32":
        c = _SQ3
        return (2.0 - (2.0 + c * u) * jnp.exp(-c * u)) / c
    c = _SQ5
    return (8.0 / 3.0 - jnp.exp(-c * u) * (8.0 / 3.0 + 5.0 * c * u / 3.0 + (c * u) ** 2 / 3.0)) / c


def _H(kind, v):
    """``∫_0^v F(u) du`` for ``v >= 0``; small ``v`` by series (the closed forms cancel there)."""
    if kind == "rbf":
        closed = math.sqrt(math.pi / 2) * v * jax.scipy.special.erf(v / math.sqrt(2.0)) + jnp.expm1(-0.5 * v * v)
        series = v**2 / 2 - v**4 / 24 + v**6 / 240
    elif kind == "m12":
        closed = v + jnp.expm1(-v)
        series = v**2 / 2 - v**3 / 6 + v**4 / 24 - v**5 / 120
    elif kind == "m32":
        c = _SQ3
        closed = (2.0 * v - (3.0 - (3.0 + c * v) * jnp.exp(-c * v)) / c) / c
        series = v**2 / 2 - v**4 / 8 + c * v**5 / 20  # ρ = 1 - 3s²/2 + √3 s³ + ...
    else:
        c = _SQ5
        e = jnp.exp(-c * v)
        closed = (8.0 * v / 3.0 - (5.0 - e * (5.0 + 7.0 * c * v / 3.0 + (c * v) ** 2 / 3.0)) / c) / c
        series = v**2 / 2 - 5.0 * v**4 / 72  # ρ = 1 - 5s²/6 + ...
    return jnp.where(v < 1e-3, series, closed)


def _box_1d(kind, ell, x, a, b):
    """``(1/(b-a)) ∫_a^b ρ(|x - t|/ℓ) dt`` for each ``x`` ``(n, m)`` and per-column ``ell, a, b`` ``(m,)``."""

    def G(u):
        return jnp.sign(u) * _F(kind, jnp.abs(u))

    return ell * (G((x - a) / ell) - G((x - b) / ell)) / (b - a)


def _box_1d_double(kind, ell, a, b):
    L = b - a
    return 2.0 * ell**2 * _H(kind, L / ell) / L**2


def _dims(kernel, d):
    return tuple(range(d)) if kernel.active_dims is None else tuple(kernel.active_dims)


@capability("closed-form kernel embedding")
def closed_form_embedding(kernel: Kernel, measure: Measure, X) -> tuple[jax.Array, jax.Array]:
    """``(z, Z0)``: kernel mean ``z`` ``(n,)`` at ``X`` ``(n, d)`` and ``Z0 = ∫∫ k`` ``()`` under the
    *normalised* ``measure``.

    The capability behind :func:`embed`. An implementation raises
    ``_NoClosedForm`` for measures it has no closed form under.
    """


def _closed(kernel: Kernel, measure: Measure, X):
    """(z ``(n,)``, Z0) under the *normalised* measure, or raise ``_NoClosedForm``."""
    try:
        return closed_form_embedding(kernel, measure, X)
    except UnsupportedKernelError as err:
        raise _NoClosedForm from err


@closed_form_embedding.register(Sum)
def _sum_embedding(kernel: Sum, measure, X):
    z1, i1 = _closed(kernel.k1, measure, X)
    z2, i2 = _closed(kernel.k2, measure, X)
    return z1 + z2, i1 + i2


@closed_form_embedding.register(Scaled)
def _scaled_embedding(kernel: Scaled, measure, X):
    z, i = _closed(kernel.kernel, measure, X)
    return kernel.scale * z, kernel.scale * i


@closed_form_embedding.register(Product)
def _product_embedding(kernel: Product, measure, X):
    if not isinstance(measure, Uniform):
        raise _NoClosedForm
    d = measure.dim
    used: set[int] = set()
    z, i = jnp.ones(X.shape[:1], X.dtype), jnp.ones((), X.dtype)
    for comp in kernel.components:
        dims = _all_dims(comp, d)
        if used & dims:
            raise _NoClosedForm  # factors sharing a dimension do not factorise
        used |= dims
        zc, ic = _closed(comp, measure, X)
        z, i = z * zc, i * ic
    return z, i


@closed_form_embedding.register(Constant)
def _constant_embedding(kernel: Constant, measure, X):
    return jnp.full(X.shape[:1], kernel.variance, dtype=X.dtype), jnp.asarray(kernel.variance, X.dtype)


@closed_form_embedding.register(White)
def _white_embedding(kernel: White, measure, X):
    return jnp.zeros(X.shape[:1], X.dtype), jnp.zeros((), X.dtype)


def _stationary_embedding(kernel: Kernel, measure: Measure, X, *, kind: str):
    """RBF (box, Gaussian) and 1-D Matérn (box) closed forms; ``kind`` names the profile."""
    d = measure.dim
    dims = _dims(kernel, d)
    Xs = X[:, np.asarray(dims)]
    ell = jnp.broadcast_to(kernel.lengthscale, (len(dims),))
    var = kernel.variance
    if isinstance(measure, Uniform):
        if kind != "rbf" and len(dims) != 1:
            raise _NoClosedForm  # isotropic Matérn in d > 1 is not a product over dimensions
        a, b = measure.lower[np.asarray(dims)], measure.upper[np.asarray(dims)]
        z = var * jnp.prod(_box_1d(kind, ell, Xs, a, b), axis=1)
        return z, var * jnp.prod(_box_1d_double(kind, ell, a, b))
    if isinstance(measure, Gaussian) and kind == "rbf":
        idx = np.asarray(dims)
        mu, S = measure.mean[idx], measure.cov[np.ix_(idx, idx)]
        lam = ell**2
        C = jnp.linalg.cholesky(S + jnp.diag(lam))
        r = jax.scipy.linalg.solve_triangular(C, (Xs - mu).T, lower=True)
        # |I + Λ⁻¹Σ| = |Λ + Σ| / |Λ|
        logdet = 2 * jnp.sum(jnp.log(jnp.diag(C))) - jnp.sum(jnp.log(lam))
        z = var * jnp.exp(-0.5 * logdet - 0.5 * jnp.sum(r * r, axis=0))
        C2 = jnp.linalg.cholesky(2 * S + jnp.diag(lam))
        logdet2 = 2 * jnp.sum(jnp.log(jnp.diag(C2))) - jnp.sum(jnp.log(lam))
        return z, var * jnp.exp(-0.5 * logdet2)
    raise _NoClosedForm


for _family, _kind in ((RBF, "rbf"), (Matern12, "m12"), (Matern32, "m32"), (Matern52, "m52")):
    closed_form_embedding.register(_family, functools.partial(_stationary_embedding, kind=_kind))


def _all_dims(kernel: Kernel, d: int) -> set[int]:
    """Input dimensions a product factor integrates over; ``Constant``/``White`` integrate over none."""
    out: set[int] = set()
    for k in kernel.walk():
        if not k.parts() and not isinstance(k, (Constant, White)):
            out |= set(_dims(k, d))
    return out


def has_closed_form(kernel: Kernel, measure: Measure) -> bool:
    """Whether :func:`embed` is exact (no QMC) for this kernel and measure."""
    if isinstance(measure, Empirical):
        return True
    try:
        _closed(kernel, measure, jnp.zeros((1, measure.dim)))
    except _NoClosedForm:
        return False
    return True


def embed(kernel: Kernel, measure: Measure, X, *, qmc_points: int = 4096, qmc_replicates: int = 8, seed: int = 0,
          warn: bool = True) -> Embedding:
    """Kernel mean ``z_i = ∫ k(x_i, t) dπ(t)`` at ``X`` ``(n, d)`` and initial error ``∫∫ k dπ dπ``.

    Args:
        kernel: a ``bayeskern.kernels`` kernel (may hold traced hyperparameters).
        measure: a :class:`Uniform`, :class:`Gaussian` or :class:`Empirical` measure.
        X: points ``(n, d)`` (or ``(n,)`` for d = 1).
        qmc_points, qmc_replicates, seed: the randomised-QMC fallback's size
            (points per replicate, independent scramblings) and seed.
        warn: issue :class:`QuadratureFallbackWarning` when falling back.

    Returns:
        :class:`Embedding` with ``z`` ``(n,)``, ``initial`` ``()`` and their
        standard errors (zeros when exact), scaled by the measure's mass.
    """
    if not isinstance(kernel, Kernel):
        raise ValueError(f"kernel must be a bayeskern Kernel, got {type(kernel).__name__}")
    if not isinstance(measure, Measure):
        raise ValueError(f"measure must be a Uniform, Gaussian or Empirical measure, got {type(measure).__name__}")
    qmc_points = as_count(qmc_points, "qmc_points")
    qmc_replicates = as_count(qmc_replicates, "qmc_replicates", minimum=2)
    X = Measure.check_points(measure, X, "X")
    zero = jnp.zeros((), X.dtype)
    if isinstance(measure, Empirical):
        w = measure.weights
        z = kernel(X, measure.points) @ w
        return Embedding(z, w @ kernel(measure.points, measure.points) @ w, jnp.zeros_like(z), zero, True)
    mass = measure.mass
    try:
        z, i = _closed(kernel, measure, X)
        return Embedding(mass * z, mass**2 * i, jnp.zeros_like(z), zero, True)
    except _NoClosedForm:
        pass
    z, z_err = rqmc_mean(lambda T: kernel(T, X), measure, num=qmc_points, replicates=qmc_replicates, seed=seed)
    pair = jax.vmap(lambda s, t: kernel(s[None], t[None])[0, 0])
    i, i_err = rqmc_mean(pair, measure, num=qmc_points, replicates=qmc_replicates, seed=seed + 1, pairs=True)
    if warn:
        detail = ""
        if is_concrete(z_err) and is_concrete(i_err):
            detail = (f" (standard errors: kernel mean up to {float(jnp.max(z_err)):.2e}, "
                      f"initial error {float(i_err):.2e})")
        warnings.warn(
            f"no closed-form kernel mean for {type(kernel).__name__} under {type(measure).__name__}; using "
            f"randomised QMC with {qmc_replicates} x {qmc_points} scrambled Sobol points{detail}",
            QuadratureFallbackWarning,
            stacklevel=2,
        )
    return Embedding(mass * z, mass**2 * i, mass * z_err, mass**2 * i_err, False)


def kernel_mean(kernel: Kernel, measure: Measure, X, **kwargs):
    """``z`` ``(n,)``: ``∫ k(x_i, t) dπ(t)``; see :func:`embed`."""
    return embed(kernel, measure, X, **kwargs).z


def initial_error(kernel: Kernel, measure: Measure, **kwargs):
    """``∫∫ k(s, t) dπ(s) dπ(t)``, the prior variance of the integral; see :func:`embed`."""
    return embed(kernel, measure, jnp.zeros((1, measure.dim)), **kwargs).initial
