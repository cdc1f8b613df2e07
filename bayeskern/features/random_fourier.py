"""Random Fourier features (Rahimi & Recht 2007) with i.i.d., orthogonal and simplex-coupled frequencies.

For a stationary kernel ``k(τ) = variance · E[cos(ωᵀτ)]`` with ``ω`` drawn
from its normalised spectral density (``Kernel.sample_frequencies``),

    φ(x) = √(variance / M) · [cos(ω_1ᵀx), …, cos(ω_Mᵀx), sin(ω_1ᵀx), …, sin(ω_Mᵀx)]

gives ``K ≈ Φ Φᵀ`` with ``Φ`` ``(n, 2M)`` (``M`` frequencies, ``2M`` columns),
an unbiased estimate with ``O(1/√M)`` error. Frequency couplings that keep
each ``ω`` marginally exact but reduce the variance:

* ``"iid"``: independent draws (any kernel with a frequency sampler);
* ``"orthogonal"`` (Yu et al. 2016): blocks of ``d`` frequencies whose
  directions are the rows of a Haar-random orthogonal matrix, with
  independent norms from the radial law of the spectral density;
* ``"simplex"`` (Reid et al. 2023): blocks of ``d`` directions pointing to the
  vertices of a regular simplex (pairwise cosine ``−1/(d−1)``), randomly
  rotated, with independent norms.

Frequencies come from the kernel capabilities (``bayeskern.kernels.capabilities``):
``sample_frequencies`` for i.i.d. draws and ``isotropic_unit_frequencies`` for
scale families. The coupled kinds need an isotropic spectral density at unit
lengthscale (RBF, Matérn, rational quadratic); per-dimension lengthscales are fine since
the coupling is done in unit-lengthscale space and then divided by ``ℓ``.
``"auto"`` picks ``"orthogonal"`` for those and ``"iid"`` otherwise. In one
dimension all three coincide in distribution.

**Fixed frequencies inside a model.** The frequencies are a deterministic
function of a PRNG key and the kernel's hyperparameters: for RBF, Matérn and
rational quadratic (fixed ``alpha``) the samplers are scale families,
``ω = ω_unit / ℓ``, with ``ω_unit`` drawn from the key alone. So inside a
NumPyro model pass a *fixed* key built outside the model
(``key = jax.random.PRNGKey(0)``) and the kernel built from the sampled
lengthscale: every evaluation uses the same unit frequencies rescaled by the
current lengthscale, the features are smooth in ``ℓ`` and gradients flow
through the rescaling. Never draw the key from ``numpyro.prng_key()``
inside the model: the basis would change at every step. (For a spectral
mixture the draw also depends on the weights, means and scales; with a fixed
key it is still deterministic, but not smooth in the weights.)
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.kernels import Kernel, summands
from bayeskern.kernels.capabilities import (
    isotropic_unit_frequencies,
    sample_frequencies,
    supported_kernels,
    supports,
    unsupported,
)

__all__ = [
    "RFF_KINDS",
    "RFFBasis",
    "orthogonal_directions",
    "rff_component_weights",
    "rff_draws",
    "rff_features",
    "rff_frequencies",
    "rff_reason",
    "simplex_directions",
    "unit_frequencies",
]

RFF_KINDS = ("auto", "iid", "orthogonal", "simplex")


def is_isotropic(kernel: Kernel) -> bool:
    """Whether the unit-lengthscale spectral density of ``kernel`` is radially symmetric
    (its family registers ``isotropic_unit_frequencies``)."""
    return supports(isotropic_unit_frequencies, kernel)


def _haar_orthogonal(key, num_blocks, d, dtype):
    """``(num_blocks, d, d)`` Haar-distributed orthogonal matrices (QR with the sign fix)."""
    G = jax.random.normal(key, (num_blocks, d, d), dtype)
    Q, R = jnp.linalg.qr(G)
    signs = jnp.sign(jnp.diagonal(R, axis1=-2, axis2=-1))
    signs = jnp.where(signs == 0, 1.0, signs)
    return Q * signs[:, None, :]


def orthogonal_directions(key, num, d, dtype=None):
    """``(num, d)`` unit vectors, each block of ``d`` the rows of a random orthogonal matrix."""
    dtype = dtype or jnp.result_type(float)
    blocks = -(-num // d)
    Q = _haar_orthogonal(key, blocks, d, dtype)
    return Q.reshape(blocks * d, d)[:num]


def _simplex_vertices(d, dtype):
    """``(d, d)``: rows are unit vectors with pairwise inner products ``−1/(d−1)`` (``d ≥ 2``)."""
    P = np.eye(d) - 1.0 / d
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    return jnp.asarray(P, dtype)


def simplex_directions(key, num, d, dtype=None):
    """``(num, d)`` unit vectors, each block of ``d`` a randomly rotated regular simplex (Reid et al. 2023).

    In one dimension the "simplex" is a random sign.
    """
    dtype = dtype or jnp.result_type(float)
    if d == 1:
        return jnp.where(jax.random.bernoulli(key, 0.5, (num, 1)), 1.0, -1.0).astype(dtype)
    blocks = -(-num // d)
    Q = _haar_orthogonal(key, blocks, d, dtype)
    dirs = jnp.einsum("ij,bjk->bik", _simplex_vertices(d, dtype), Q)
    return dirs.reshape(blocks * d, d)[:num]


def rff_frequencies(kernel: Kernel, key, num: int, dim: int, kind: str = "auto"):
    """Angular frequencies ``(num, dim)`` of a single stationary ``kernel`` for its current hyperparameters.

    For scale families (RBF, Matérn, rational quadratic) the draw is
    ``unit_frequencies(...) / lengthscale``; other kernels use their own
    ``sample_frequencies`` (i.i.d. only).

    Args:
        kernel: a kernel with the ``sample_frequencies`` capability (no sums here; see ``RFFBasis``).
        key: PRNG key; fix it to keep the frequencies fixed (see the module docstring).
        num: number of frequencies ``M``.
        dim: input dimension ``d`` the kernel sees.
        kind: ``"auto"``, ``"iid"``, ``"orthogonal"`` or ``"simplex"``.
    """
    kind = _resolve_kind(kernel, kind)
    if not is_scale_family(kernel):
        return sample_frequencies(kernel, key, num, dim)
    return unit_frequencies(kernel, key, num, dim, kind) / jnp.broadcast_to(kernel.lengthscale, (dim,))


def is_scale_family(kernel: Kernel) -> bool:
    """Whether ``kernel``'s frequencies are unit-lengthscale draws divided by its lengthscale
    (its family registers ``isotropic_unit_frequencies``)."""
    return supports(isotropic_unit_frequencies, kernel)


def unit_frequencies(kernel: Kernel, key, num: int, dim: int, kind: str = "auto"):
    """Unit-lengthscale frequencies ``(num, dim)`` of a scale-family kernel; divide by ``ℓ`` for the kernel's own.

    They depend only on the key, the kernel family and its shape parameters
    (e.g. a rational quadratic's ``alpha``), not on the lengthscale or the
    variance. When those are concrete the draw is evaluated eagerly even
    inside a trace, so a jitted log density (or its gradient) carries the
    draws as constants instead of compiling the sampler into every program.
    """
    kind = _resolve_kind(kernel, kind)
    unit = kernel.replace(lengthscale=1.0, variance=1.0)
    leaves = jax.tree_util.tree_leaves((unit, key))
    if all(is_concrete(v) for v in leaves):
        with jax.ensure_compile_time_eval():
            return _unit_draws(unit, key, int(num), int(dim), kind)
    return _unit_draws(unit, key, int(num), int(dim), kind)


def _iid_unit(unit, key, num, dim):
    """I.i.d. unit-lengthscale draws ``(num, dim)`` (the family's ``isotropic_unit_frequencies``)."""
    return isotropic_unit_frequencies(unit, key, num, dim)


@functools.partial(jax.jit, static_argnames=("num", "dim", "kind"))
def _unit_draws(unit, key, num, dim, kind):
    if kind == "iid":
        return _iid_unit(unit, key, num, dim)
    k_norm, k_dir = jax.random.split(key)
    # Radial law: the norms of i.i.d. unit-lengthscale draws (isotropic density).
    draws = _iid_unit(unit, k_norm, num, dim)
    norms = jnp.sqrt(jnp.sum(draws * draws, axis=1, keepdims=True))
    dirs = (orthogonal_directions if kind == "orthogonal" else simplex_directions)(k_dir, num, dim, draws.dtype)
    return norms * dirs


def _resolve_kind(kernel, kind):
    if kind not in RFF_KINDS:
        raise ValueError(f"rff_kind must be one of {RFF_KINDS}, got {kind!r}")
    if kind == "auto":
        return "orthogonal" if is_isotropic(kernel) else "iid"
    if kind != "iid" and not is_isotropic(kernel):
        raise ValueError(
            f"rff_kind={kind!r} needs an isotropic spectral density "
            f"({', '.join(supported_kernels(isotropic_unit_frequencies))}); "
            f"{type(kernel).__name__} supports rff_kind='iid' only"
        )
    return kind


def rff_reason(kernel: Kernel, dim: int, kind: str = "auto") -> str | None:
    """None when ``kernel`` (a sum/scaled tree of kernels with a frequency sampler) has random Fourier
    features, else why not."""
    problem = _rff_problem(kernel, dim, kind)
    return None if problem is None else str(problem)


def _rff_problem(kernel: Kernel, dim: int, kind: str) -> ValueError | None:
    """The error ``rff_reason`` describes (``UnsupportedKernelError`` for a kernel without a sampler), or None."""
    if kind not in RFF_KINDS:
        return ValueError(f"rff_kind must be one of {RFF_KINDS}, got {kind!r}")
    for term in summands(kernel):
        k = term.kernel
        name = type(k).__name__
        if not supports(sample_frequencies, k):
            return unsupported(sample_frequencies, k, default=(
                f"{name} is not a stationary kernel with a frequency sampler (random Fourier features need "
                f"one; sums and positive multiples of stationary kernels are fine, products and warps are not)"))
        d = dim if k.active_dims is None else len(k.active_dims)
        if k.active_dims is not None and max(k.active_dims) >= dim:
            return ValueError(f"{name}: active_dims {k.active_dims} out of range for inputs with {dim} dimension(s)")
        try:
            _resolve_kind(k, kind)
            jax.eval_shape(lambda k, d=d: sample_frequencies(k, jax.random.PRNGKey(0), 2, d), k)
        except (TypeError, ValueError) as err:
            return ValueError(f"{name}: {err}")
    return None


@jax.tree_util.register_pytree_node_class
class RFFBasis:
    """Random Fourier features of a kernel (a stationary kernel, or sums/positive multiples of them).

    Each stationary leaf of the kernel gets its own ``num_features``
    frequencies (key folded with the leaf's position) and a block of ``2M``
    columns; the blocks are concatenated.

    Attributes:
        frequencies: list of ``(M, d_leaf)`` arrays, one per leaf.
        variances: list of scalars: each leaf's variance times any ``Scaled`` factors above it.
        active_dims: per leaf, the input columns it sees (None: all), static.
    """

    def __init__(self, frequencies, variances, active_dims):
        self.frequencies = list(frequencies)
        self.variances = list(variances)
        self.active_dims = tuple(active_dims)

    def tree_flatten(self):
        return (self.frequencies, self.variances), self.active_dims

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        return cls(leaves[0], leaves[1], aux)

    @classmethod
    def from_kernel(cls, kernel: Kernel, key, num_features: int, dim: int, kind: str = "auto") -> RFFBasis:
        """Draw ``num_features`` frequencies per stationary leaf of ``kernel`` from ``key``."""
        return cls.from_draws(kernel, rff_draws(kernel, key, num_features, dim, kind), dim, int(num_features))

    @classmethod
    def from_draws(cls, kernel: Kernel, draws, dim: int, num_features: int) -> RFFBasis:
        """The basis for ``kernel``'s current hyperparameters from ``rff_draws`` (unit frequencies or keys)."""
        freqs, variances, dims = [], [], []
        for (leaf, scale, _), draw in zip(summands(kernel), draws, strict=True):
            d = dim if leaf.active_dims is None else len(leaf.active_dims)
            if is_scale_family(leaf):
                freqs.append(draw / jnp.broadcast_to(leaf.lengthscale, (d,)))
            else:
                freqs.append(sample_frequencies(leaf, draw, num_features, d))
            variances.append(scale * leaf.variance)
            dims.append(leaf.active_dims)
        return cls(freqs, variances, dims)

    @property
    def num_columns(self) -> int:
        return sum(2 * f.shape[0] for f in self.frequencies)

    def unit_features(self, X):
        """``[cos, sin] / √M`` per leaf, ``(n, 2 Σ M)`` (without the variances)."""
        X = as_inputs(X, "X")
        blocks = []
        for W, dims in zip(self.frequencies, self.active_dims, strict=True):
            Xl = X if dims is None else X[:, np.asarray(dims)]
            Z = Xl @ W.T
            scale = 1.0 / math.sqrt(W.shape[0])
            blocks += [jnp.cos(Z) * scale, jnp.sin(Z) * scale]
        return jnp.concatenate(blocks, axis=1)

    def weights(self):
        """Per-column variances ``(2 Σ M,)``, so ``K ≈ Φ_unit diag(weights) Φ_unitᵀ``."""
        return jnp.concatenate([jnp.full((2 * W.shape[0],), v, dtype=W.dtype)
                                for W, v in zip(self.frequencies, self.variances, strict=True)])

    def features(self, X):
        """``Φ`` ``(n, 2 Σ M)`` with ``K ≈ Φ Φᵀ``."""
        return self.unit_features(X) * jnp.sqrt(self.weights())

    def component_weights(self, kernel: Kernel, target: Kernel):
        """Column weights ``(2 Σ M,)`` of the summand ``target`` of ``kernel`` (zero on the other leaves)."""
        return rff_component_weights(kernel, target, [W.shape[0] for W in self.frequencies])


def rff_component_weights(kernel: Kernel, target: Kernel, num_features):
    """Column weights ``(2 Σ M,)`` of the summand ``target`` (same object) of ``kernel``, zero elsewhere.

    ``num_features``: frequencies per leaf (an int for all, or a list). The
    column order is that of ``RFFBasis.from_kernel``.
    """
    terms = summands(kernel, target)
    nums = [num_features] * len(terms) if isinstance(num_features, int) else list(num_features)
    return jnp.concatenate([jnp.full((2 * M,), jnp.where(on, scale * leaf.variance, 0.0))
                            for (leaf, scale, on), M in zip(terms, nums, strict=True)])


def rff_draws(kernel: Kernel, key, num_features: int, dim: int, kind: str = "auto"):
    """The random part of an ``RFFBasis``, one entry per stationary leaf (key folded with the leaf's position).

    Scale-family leaves (RBF, Matérn, RQ) get their unit-lengthscale
    frequencies ``(M, d)`` (see ``unit_frequencies``: evaluated eagerly when
    concrete); other leaves get their key and draw at ``from_draws`` time.
    """
    if int(num_features) != num_features or num_features < 1:
        raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
    problem = _rff_problem(kernel, dim, kind)
    if problem is not None:
        raise problem
    out = []
    for i, (leaf, _, _) in enumerate(summands(kernel)):
        d = dim if leaf.active_dims is None else len(leaf.active_dims)
        k_i = jax.random.fold_in(key, i)
        if is_scale_family(leaf):
            out.append(unit_frequencies(leaf, k_i, int(num_features), d, kind))
        else:
            _resolve_kind(leaf, kind)
            out.append(k_i)
    return out


def rff_features(kernel: Kernel, X, *, key, num_features: int, kind: str = "auto"):
    """Random Fourier features ``Φ`` ``(n, 2M)`` (per stationary summand) with ``K(X, X) ≈ Φ Φᵀ``.

    To evaluate at new inputs with the same frequencies call it again with
    the same ``key`` (and kernel), or build an ``RFFBasis`` once.
    """
    X = as_inputs(X, "X")
    return RFFBasis.from_kernel(kernel, key, num_features, X.shape[1], kind).features(X)
