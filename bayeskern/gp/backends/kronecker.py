"""Kronecker back end: exact GP inference on Cartesian grids.

Saatçi (2012, ch. 5) and Gilboa, Saatçi & Cunningham (2015). When the inputs
``X`` ``(n, D)`` are the points of a grid ``x_axis0 × ... × x_axis(D-1)``
(``m_d`` points on axis ``d``, ``N = ∏ m_d``) and the kernel factors over the
axes, ``K(X, X) = K_1 ⊗ ... ⊗ K_D`` up to a permutation of the rows, and
everything is computed from the per-axis ``(m_d, m_d)`` matrices
(``bayeskern.linalg.kronecker``).

Use it as ``GaussianProcess(kernel, X, noise, method="kronecker", **options)``.

Inputs
    ``X`` is checked to be exactly a full Cartesian grid, in any row order
    (``find_grid``); anything else is a ``ValueError`` saying why. For a grid
    with missing cells (an observation mask) pass the axes explicitly,
    ``grid=(x_axis0, x_axis1, ...)``; ``X`` is then any subset of the grid's
    points (at most one observation per cell; "point i is not on the grid"
    otherwise). With ``_split_options`` treating only arrays as array data, the
    axes can be given as tuples of floats, e.g. ``grid=(tuple(x0), tuple(x1))``;
    with ``grid=`` the inputs may also be traced (e.g. the process passed
    through ``jit``).

Kernels
    The kernel must factor over the axes (``factor_kernel``): products of
    kernels that each depend on one input dimension (``active_dims=[d]``, any
    family, sums allowed within one axis), ``Scaled``, and the separable
    stationary families ``RBF`` and ``Periodic`` over several dimensions (ARD
    or scalar lengthscale: ``exp(-Σ r_d²/2) = ∏ exp(-r_d²/2)``). Matérn,
    rational-quadratic, cosine and spectral-mixture kernels of several
    dimensions depend on the joint distance and are rejected, as are sums
    across axes and ``White`` (pass white noise as ``noise=``).

What is exact and what is approximate
    * Full grid, scalar noise (``mode "full"``): everything is exact:
      ``log_prob`` (eigenvalues for the log-determinant, Kronecker products
      for the quadratic form, analytic gradient), LOO, conditioning, samples.
      The same relative jitter as the dense back end (``1e-10`` times the
      mean diagonal of ``K_y``) is added to the noise, so both compute the
      same model.
    * Missing cells, scalar noise, few missing cells (``mode "schur"``, when
      ``(N - n) N ≤ 2**23``, or ``logdet="exact"``): exact, by the Schur
      complement on the missing cells. With ``M = ⊗K_d + σ² I`` on the
      full grid and ``U`` the ``u = N - n`` missing cells,
      ``log det K_y = log det M + log det [M⁻¹]_UU`` and
      ``K_y⁻¹ = [M⁻¹ - M⁻¹ E_U [M⁻¹]_UU⁻¹ E_Uᵀ M⁻¹]_OO``; cost ``u`` Kronecker
      solves and memory ``u N``.
    * Otherwise (many missing cells, or per-point noise on a full or partial
      grid; ``mode "cg"``): the quadratic form ``rᵀ K_y⁻¹ r`` is exact up to the
      conjugate-gradient tolerance (``cg_tol``, default ``1e-10`` relative
      residual; Kronecker products for ``K_y v``, the full-grid inverse
      ``(⊗K_d + c I)⁻¹`` restricted to the observed cells as preconditioner),
      with implicit gradients. The log-determinant is APPROXIMATED
      deterministically from the full-grid eigenvalues ``λ_(1) ≥ λ_(2) ≥ ...``
      and the observed noise variances sorted upwards ``d_(1) ≤ d_(2) ≤ ...``:

      - ``logdet="fiedler"`` (default): ``Σ_{i≤n} log(λ_(i) + d_(i))``, an
        upper bound (Cauchy interlacing for the missing cells; Fiedler 1971
        for the noise), tight for short lengthscales and exact on a full
        grid with constant noise;
      - ``logdet="scaled"``: ``Σ_j log d_j + Σ_{i≤n} log(1 + (n/N) λ_(i) / h)``
        with ``h`` the harmonic mean of the noise variances; for scalar noise
        ``Σ_{i≤n} log((n/N) λ_(i) + σ²)``, the Nyström eigenvalue scaling used
        for incomplete grids by Wilson et al. (2014) and Flaxman et al.
        (2015). Closer for long lengthscales, but far too low for short ones
        (where it favours rough fits).

      The approximation makes ``log_prob`` (and NUTS on it) target an
      approximate posterior; ``tests/gp/test_backend_kronecker.py`` states the
      errors measured against dense Cholesky. Use ``method="dense"`` when
      ``n`` allows and exactness matters.

``pointwise_log_prob`` (exact LOO) needs ``diag(K_y⁻¹)``: exact in modes
"full" (``(⊗ Q_d∘Q_d) (1/(λ+σ²))``) and "schur"; in mode "cg" it falls back to
the dense back end for ``n ≤ 2000`` (with a ``BackendNote``) and raises
otherwise.

Options (``GaussianProcess(..., method="kronecker", **options)``): ``grid``,
``logdet`` ("auto", "exact", "fiedler", "scaled"), ``cg_tol``, ``cg_maxiter``.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.kernels import (
    RBF,
    Constant,
    Cosine,
    Kernel,
    Periodic,
    Product,
    RationalQuadratic,
    Scaled,
    SpectralMixture,
    Stationary,
    Sum,
    Warped,
    White,
)
from bayeskern.linalg import cholesky, default_jitter, gaussian_logpdf
from bayeskern.linalg.kronecker import (
    KroneckerEigen,
    _eig_solve,
    cg_solve,
    find_grid,
    kron_diag,
    kron_eigh,
    kron_gaussian_logpdf,
    kron_inverse_diagonal,
    kron_mvp,
    kron_noisy_logdet,
    kron_noisy_solve,
    kron_sqrt_mvp,
    kron_vector,
    locate_on_grid,
)

#: Entries ``(N - n) · N`` up to which missing cells are handled exactly (Schur complement).
SCHUR_BUDGET = 2**23
#: Largest ``n`` for which LOO on an incomplete / heteroscedastic grid falls back to dense.
LOO_DENSE_MAX = 2000
OPTIONS = ("grid", "logdet", "cg_tol", "cg_maxiter")
LOGDETS = ("auto", "exact", "fiedler", "scaled")


class CGWarning(UserWarning):
    """Conjugate gradients stopped before reaching the requested tolerance."""


# -- kernel structure ------------------------------------------------------------
class KernelFactors(NamedTuple):
    """A kernel written as ``scale · ∏_d k_d(x_d, x'_d)``.

    Attributes:
        axes: for each input dimension ``d`` a tuple of kernels whose product
            is ``k_d``; each depends on dimension ``d`` only and is evaluated on
            inputs ``(m, D)`` whose other columns are ignored. An empty tuple
            means ``k_d = 1``.
        scale: scalar multiplier (product of ``Scaled`` scales and the
            variances taken out of separable multi-dimensional kernels).
    """

    axes: tuple
    scale: object


def _dims(k: Kernel, D: int) -> frozenset:
    """The input dimensions a kernel depends on."""
    if isinstance(k, (Sum, Product)):
        return _dims(k.k1, D) | _dims(k.k2, D)
    if isinstance(k, Scaled):
        return _dims(k.kernel, D)
    if isinstance(k, Warped) or k.active_dims is None:
        return frozenset(range(D))
    return frozenset(k.active_dims)


def _contains_white(k: Kernel) -> bool:
    if isinstance(k, White):
        return True
    if isinstance(k, (Sum, Product)):
        return _contains_white(k.k1) or _contains_white(k.k2)
    if isinstance(k, (Scaled, Warped)):
        return _contains_white(k.kernel)
    return False


_JOINT_DISTANCE = (Stationary,)


def factor_kernel(kernel: Kernel, D: int) -> KernelFactors | str:
    """Per-axis factors of ``kernel`` on ``D``-dimensional grid inputs, or the reason it does not factor.

    Args:
        kernel: a bayeskern kernel.
        D: number of input dimensions (grid axes).

    Returns:
        ``KernelFactors`` when ``k(x, x') = scale · ∏_d k_d(x_d, x'_d)``,
        else a string saying why not (and what to use instead).
    """
    if _contains_white(kernel):
        return ("White noise sits on the diagonal by row identity, not as a function of the grid "
                "coordinates, so it does not factor over the axes; pass it as noise= instead")
    axes: list[list[Kernel]] = [[] for _ in range(D)]
    scales: list = []
    reason = _factor(kernel, D, axes, scales)
    if reason is not None:
        return reason
    scale = jnp.asarray(1.0)
    for s in scales:
        scale = scale * s
    return KernelFactors(tuple(tuple(a) for a in axes), scale)


def _factor(k: Kernel, D: int, axes, scales) -> str | None:
    dims = _dims(k, D)
    if any(d >= D for d in dims):
        return f"{type(k).__name__} uses input dimension(s) {sorted(dims)} but X has {D}"
    if len(dims) == 1:
        (d,) = dims
        axes[d].append(k)
        return None
    if isinstance(k, Product):
        return _factor(k.k1, D, axes, scales) or _factor(k.k2, D, axes, scales)
    if isinstance(k, Scaled):
        scales.append(k.scale)
        return _factor(k.kernel, D, axes, scales)
    name = type(k).__name__
    order = tuple(range(D)) if k.active_dims is None else tuple(k.active_dims)
    if type(k) in (RBF, Periodic) and k.input_dim not in (None, len(order)):
        return f"{name} has hyperparameters for {k.input_dim} input dimension(s) but acts on {len(order)}"
    if type(k) is RBF:
        ls = jnp.broadcast_to(k.lengthscale, (len(order),))
        for j, d in enumerate(order):
            axes[d].append(RBF(lengthscale=ls[j], variance=1.0, active_dims=(d,)))
        scales.append(k.variance)
        return None
    if type(k) is Periodic:
        ls = jnp.broadcast_to(k.lengthscale, (len(order),))
        per = jnp.broadcast_to(k.period, (len(order),))
        for j, d in enumerate(order):
            axes[d].append(Periodic(lengthscale=ls[j], period=per[j], variance=1.0, active_dims=(d,)))
        scales.append(k.variance)
        return None
    if type(k) is Constant:
        scales.append(k.variance)
        return None
    if isinstance(k, Sum):
        return (f"the kernel contains a sum over several input dimensions ({sorted(dims)}), which is not "
                f"a Kronecker product; the Kronecker back end needs a product of per-axis kernels (sums are "
                f"fine within one axis)")
    if isinstance(k, Warped):
        return "a warped kernel over several input dimensions does not factor over the grid axes"
    if isinstance(k, (RationalQuadratic, Cosine, SpectralMixture)) or isinstance(k, _JOINT_DISTANCE):
        per_axis = " * ".join(f"{name}(active_dims=[{d}])" for d in sorted(dims))
        return (f"{name} over input dimensions {sorted(dims)} is not separable (it is a function of the "
                f"joint distance, not a product over axes); use a product of per-axis kernels, e.g. "
                f"{per_axis}, or RBF/Periodic, whose ARD forms factor")
    return f"{name} over input dimensions {sorted(dims)} does not factor over the grid axes"


def _embed(x, d: int, D: int):
    """Axis coordinates ``(m,)`` as inputs ``(m, D)`` with the values in column ``d``."""
    x = jnp.asarray(x)
    return jnp.zeros((x.shape[0], D), x.dtype).at[:, d].set(x)


def _axis_gram(kernels, x1, x2, d: int, D: int):
    """``k_d(x1, x2)`` ``(m1, m2)`` for per-axis factors ``kernels`` (``x2=None``: symmetric)."""
    Z1 = _embed(x1, d, D)
    Z2 = None if x2 is None else _embed(x2, d, D)
    m2 = Z1.shape[0] if Z2 is None else Z2.shape[0]
    G = jnp.ones((Z1.shape[0], m2), Z1.dtype)
    for k in kernels:
        G = G * k(Z1, Z2)
    return G


def _cross_factors(factors: KernelFactors, coords, Xn):
    """Per-axis cross-covariances ``W_d`` ``(m, m_d)`` between ``Xn`` ``(m, D)`` and the grid (scale in ``W_0``)."""
    D = len(coords)
    W = [_axis_gram(factors.axes[d], Xn[:, d], coords[d], d, D) for d in range(D)]
    W[0] = factors.scale * W[0]
    return W


# -- the grid ---------------------------------------------------------------------
class _Grid(NamedTuple):
    coords: tuple  # D arrays (m_d,)
    shape: tuple  # (m_1, ..., m_D)
    cells: object  # (n,) flat grid index of each row (numpy when known, else traced)

    @property
    def N(self) -> int:
        return math.prod(self.shape)

    @property
    def n(self) -> int:
        return int(self.cells.shape[0])

    @property
    def full(self) -> bool:
        return self.n == self.N


def _as_axes(grid, D: int):
    if isinstance(grid, (jax.Array, np.ndarray)) and np.ndim(grid) != 1:
        raise ValueError("grid must be a tuple of 1-D arrays, one per input dimension")
    axes = tuple(grid)
    if len(axes) != D:
        raise ValueError(f"grid has {len(axes)} axes but X has {D} input dimension(s)")
    out = []
    for d, a in enumerate(axes):
        if is_concrete(a):
            a = np.asarray(a, dtype=float)
            if a.ndim != 1 or a.size == 0:
                raise ValueError(f"grid axis {d} must be a non-empty 1-D array, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"grid axis {d} contains NaN or infinite values")
            a = np.sort(a)
            if np.any(np.diff(a) == 0):
                raise ValueError(f"grid axis {d} has repeated values")
        elif jnp.ndim(a) != 1:
            raise ValueError(f"grid axis {d} must be 1-D, got shape {jnp.shape(a)}")
        out.append(a)
    return tuple(out)


def _traced_cells(X, coords):
    """Flat grid index of each row by nearest axis value (traceable; assumes X lies on the grid)."""
    shape = tuple(int(c.shape[0]) for c in coords)
    cells = jnp.zeros(X.shape[:1], jnp.int32)
    for d, c in enumerate(coords):
        c = jnp.asarray(c, X.dtype)
        x = X[:, d]
        if shape[d] == 1:
            i = jnp.zeros(x.shape, jnp.int32)
        else:
            j = jnp.clip(jnp.searchsorted(c, x), 1, shape[d] - 1)
            i = jnp.where(jnp.abs(x - c[j - 1]) <= jnp.abs(x - c[j]), j - 1, j).astype(jnp.int32)
        cells = cells * shape[d] + i
    return cells


def grid_axes(X) -> tuple:
    """The axes of the full Cartesian grid ``X`` ``(n, D)`` as hashable tuples, for ``grid=``.

    ``GaussianProcess(k, X, method="kronecker", grid=grid_axes(X))`` fixes
    the grid outside any ``jit`` trace: inside one (e.g. NUTS) ``X`` is a
    tracer and its grid cannot be detected from its values. Also accepts a
    sequence of 1-D axes (e.g. of a grid with missing cells).
    """
    if isinstance(X, (tuple, list)) and all(np.ndim(a) == 1 for a in X):
        axes = [np.asarray(a, dtype=float) for a in X]
    else:
        axes = find_grid(np.asarray(X, dtype=float))[0]
    return tuple(tuple(float(v) for v in a) for a in axes)


def _find_grid(process) -> _Grid:
    X = process.X
    D = X.shape[1]
    grid = process.option_arrays.get("grid", process.options.get("grid"))
    if grid is not None:
        coords = _as_axes(grid, D)
        if is_concrete(X) and all(isinstance(c, np.ndarray) for c in coords):
            cells = locate_on_grid(np.asarray(X), coords)
        else:
            cells = _traced_cells(X, coords)
        return _Grid(coords, tuple(int(c.shape[0]) for c in coords), cells)
    if not is_concrete(X):
        raise ValueError("X is traced (inside jit/grad/vmap, e.g. a NUTS model), so its grid cannot be detected "
                         "from its values; pass the axes, grid=bayeskern.gp.backends.kronecker.grid_axes(X), "
                         "computed outside the model")
    coords, cells = find_grid(np.asarray(X))
    return _Grid(coords, tuple(len(c) for c in coords), cells)


def _check_options(process):
    unknown = set(process.options) | set(process.option_arrays)
    unknown -= set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for method='kronecker'; options are {list(OPTIONS)}")
    logdet = process.options.get("logdet", "auto")
    if logdet not in LOGDETS:
        raise ValueError(f"logdet must be one of {LOGDETS}, got {logdet!r}")


def applicable(process):
    """None when the Kronecker back end applies to ``process``, else the reason."""
    try:
        _check_options(process)
        grid = _find_grid(process)
    except ValueError as err:
        return str(err)
    factors = factor_kernel(process.kernel, process.X.shape[1])
    if isinstance(factors, str):
        return factors
    logdet = process.options.get("logdet", "auto")
    if logdet == "exact" and jnp.ndim(process.noise) != 0 and not grid.full:
        return "logdet='exact' on an incomplete grid needs a scalar (homoscedastic) noise"
    if logdet == "exact" and jnp.ndim(process.noise) != 0:
        return ("logdet='exact' is not available for per-point noise on a grid (the eigenvalues of "
                "K + diag(noise) are not those of the factors); use logdet='fiedler'/'scaled' or method='dense'")
    return None


# -- per-call set-up -----------------------------------------------------------------
class _Setup:
    """Grid, per-axis matrices, noise and mode of one process (built once per call)."""

    def __init__(self, process):
        _check_options(process)
        self.process = process
        self.grid = g = _find_grid(process)
        D = process.X.shape[1]
        factors = factor_kernel(process.kernel, D)
        if isinstance(factors, str):
            raise ValueError(f"method='kronecker' cannot be used: {factors}")
        self.factors = factors
        mats = [_axis_gram(factors.axes[d], g.coords[d], None, d, D) for d in range(D)]
        mats[0] = factors.scale * mats[0]
        self.mats = tuple(mats)
        dtype = self.mats[0].dtype
        n, N = g.n, g.N
        noise = jnp.asarray(process.noise, dtype)
        self.homoscedastic = jnp.ndim(noise) == 0
        if g.full:
            diag_mean = jnp.prod(jnp.stack([jnp.mean(jnp.diagonal(A)) for A in mats]))
        else:
            diag_mean = jnp.mean(kron_diag(self.mats)[g.cells])
        jitter = jax.lax.stop_gradient(default_jitter(dtype) * (diag_mean + jnp.mean(noise)))
        self.noise = noise + jitter  # scalar or (n,), row order
        logdet = process.options.get("logdet", "auto")
        self.cg_tol = float(process.options.get("cg_tol", 1e-10))
        self.cg_maxiter = int(process.options.get("cg_maxiter", 1000))
        if g.full and self.homoscedastic:
            self.mode = "full"
        elif self.homoscedastic and (logdet == "exact" or (logdet == "auto" and (N - n) * N <= SCHUR_BUDGET)):
            self.mode = "schur"
        else:
            if logdet == "exact":
                raise ValueError("logdet='exact' needs a scalar (homoscedastic) noise")
            self.mode = "cg"
        self.logdet = "fiedler" if logdet in ("auto", "exact") else logdet
        if g.full:
            self.perm = np.argsort(g.cells) if isinstance(g.cells, np.ndarray) else jnp.argsort(g.cells)
        self._schur = None

    # row order <-> grid order
    def to_grid(self, v):
        """``(..., n)`` rows -> ``(..., N)`` grid order, zeros on missing cells."""
        g = self.grid
        if g.full:
            return jnp.take(v, self.perm, axis=-1)
        out = jnp.zeros(v.shape[:-1] + (g.N,), v.dtype)
        return out.at[..., g.cells].set(v)

    def to_rows(self, v):
        """``(..., N)`` grid order -> ``(..., n)`` rows."""
        return jnp.take(v, self.grid.cells, axis=-1)

    # the missing-cell Schur complement (mode "schur")
    def schur(self):
        """``(missing (u,), Z = M⁻¹ E_U (u, N), cholesky of [M⁻¹]_UU (u, u))``; ``M = ⊗K + σ² I``."""
        if self._schur is None:
            g = self.grid
            u = g.N - g.n
            if isinstance(g.cells, np.ndarray):
                missing = np.setdiff1d(np.arange(g.N), g.cells)
            else:
                mask = jnp.zeros(g.N, bool).at[g.cells].set(True)
                missing = jnp.nonzero(~mask, size=u)[0]
            E = jax.nn.one_hot(missing, g.N, dtype=self.mats[0].dtype)
            Z = kron_noisy_solve(self.mats, self.noise, E)  # rows M⁻¹ e_u (M symmetric)
            G = jnp.take(Z, missing, axis=1)
            L = jnp.linalg.cholesky(0.5 * (G + G.T))
            self._schur = (missing, Z, L)
        return self._schur

    # K_y⁻¹ on the observed rows
    def solve(self, R):
        """``K_y⁻¹ R`` for ``R`` ``(..., n)`` (row order) -> ``(..., n)``."""
        if self.mode == "full":
            return self.to_rows(kron_noisy_solve(self.mats, self.noise, self.to_grid(R)))
        if self.mode == "schur":
            return self.to_rows(self._schur_solve_grid(R))
        return self._cg_solve(R)[0]

    def solve_grid(self, r):
        """``K_y⁻¹ r`` scattered onto the grid ``(N,)`` (zeros on missing cells)."""
        if self.mode == "full":
            return kron_noisy_solve(self.mats, self.noise, self.to_grid(r))
        if self.mode == "schur":
            return self._schur_solve_grid(r)
        return self.to_grid(self._cg_solve(r)[0])

    def _schur_solve_grid(self, R):
        missing, Z, L = self.schur()
        R = jnp.asarray(R)
        flat = R.reshape((-1, R.shape[-1]))
        x = kron_noisy_solve(self.mats, self.noise, self.to_grid(flat))  # (B, N)
        c = jax.scipy.linalg.cho_solve((L, True), jnp.take(x, missing, axis=-1).T)  # (u, B)
        return (x - c.T @ Z).reshape(R.shape[:-1] + (self.grid.N,))

    def _cg_parts(self):
        mats, g = self.mats, self.grid
        noise = self.noise
        eig = kron_eigh([jax.lax.stop_gradient(A) for A in mats])
        c = jax.lax.stop_gradient(jnp.mean(noise))
        s_pre = 1.0 / (eig.eigenvalues() + c)

        def matvec(v):
            return self.to_rows(kron_mvp(mats, self.to_grid(v))) + noise * v

        def precondition(v):
            return self.to_rows(_eig_solve(eig, s_pre, self.to_grid(v)))

        return matvec, precondition

    def _cg_solve(self, R):
        matvec, precondition = self._cg_parts()
        R = jnp.asarray(R)
        flat = R.reshape((-1, R.shape[-1]))

        def one(b):
            return cg_solve(matvec, b, precondition=precondition, tol=self.cg_tol, maxiter=self.cg_maxiter)

        X, info = jax.vmap(one)(flat)
        if is_concrete(info.residual):
            worst = float(jnp.max(info.residual))
            if not worst <= 10 * self.cg_tol:
                warnings.warn(
                    f"conjugate gradients on the Kronecker grid stopped at relative residual {worst:.2e} "
                    f"after {int(jnp.max(info.iterations))} iterations (cg_tol={self.cg_tol:g}, "
                    f"cg_maxiter={self.cg_maxiter}); raise cg_maxiter or use method='dense'",
                    CGWarning,
                    stacklevel=4,
                )
        return X.reshape(R.shape), info

    def approx_logdet(self):
        """Deterministic log-determinant approximation of mode "cg" (see the module docstring)."""
        g = self.grid
        lam = kron_vector([jnp.maximum(jnp.linalg.eigvalsh(0.5 * (A + A.T)), 0.0) for A in self.mats])
        lam = jnp.sort(lam)[::-1][: g.n]  # the n largest full-grid eigenvalues, descending
        d = jnp.broadcast_to(self.noise, (g.n,))
        if self.logdet == "scaled":
            h = 1.0 / jnp.mean(1.0 / d)  # harmonic mean noise (= σ² when homoscedastic)
            return jnp.sum(jnp.log(d)) + jnp.sum(jnp.log1p((g.n / g.N) * lam / h))
        return jnp.sum(jnp.log(lam + jnp.sort(d)))


# -- the back-end interface ---------------------------------------------------------------
def log_prob(process, value):
    """Log marginal likelihood ``(..., n) -> (...)``: exact in modes "full"/"schur", approximate log-det in "cg"."""
    st = _Setup(process)
    r = value - process.loc
    batch = r.shape[:-1]
    r = r.reshape((-1, r.shape[-1]))  # (B, n)
    n = st.grid.n
    if st.mode == "full":
        return kron_gaussian_logpdf(st.to_grid(r), st.mats, st.noise).reshape(batch)
    if st.mode == "schur":
        missing, Z, L = st.schur()
        rg = st.to_grid(r)
        x = kron_noisy_solve(st.mats, st.noise, rg)  # (B, N)
        w = jax.scipy.linalg.solve_triangular(L, jnp.take(x, missing, axis=-1).T, lower=True)  # (u, B)
        quad = jnp.sum(rg * x, axis=-1) - jnp.sum(w * w, axis=0)
        logdet = kron_noisy_logdet(st.mats, st.noise) + 2.0 * jnp.sum(jnp.log(jnp.diagonal(L)))
    else:
        alpha, _ = st._cg_solve(r)
        quad = jnp.sum(r * alpha, axis=-1)
        logdet = st.approx_logdet()
    value = -0.5 * quad - 0.5 * logdet - 0.5 * n * math.log(2 * math.pi)
    return jnp.where(jnp.isfinite(value), value, -jnp.inf).reshape(batch)


def pointwise_log_prob(process, value):
    """Exact LOO terms ``log p(y_i | y_{-i})`` ``(..., n)`` from ``diag(K_y⁻¹)`` (modes "full"/"schur").

    Mode "cg" (many missing cells or per-point noise): dense fallback for
    ``n ≤ 2000`` with a ``BackendNote``, else ``ValueError``.
    """
    st = _Setup(process)
    r = value - process.loc
    if st.mode == "cg":
        from bayeskern.gp.backends import BackendNote, get_backend

        n = st.grid.n
        if n > LOO_DENSE_MAX:
            raise ValueError(
                f"exact LOO with method='kronecker' needs a full grid with scalar noise (or few missing cells); "
                f"this process has {st.grid.N - n} missing cells and/or per-point noise and n={n} is too large "
                f"for the dense fallback (n <= {LOO_DENSE_MAX})"
            )
        warnings.warn(
            "pointwise_log_prob: exact LOO is not available from the Kronecker structure with many missing cells "
            "or per-point noise; computed with the dense back end instead",
            BackendNote,
            stacklevel=3,
        )
        return get_backend("dense").pointwise_log_prob(process, value)
    if st.mode == "full":
        eig = kron_eigh(st.mats)
        dinv = st.to_rows(kron_inverse_diagonal(eig, st.noise))
    else:
        missing, Z, L = st.schur()
        eig = kron_eigh(st.mats)
        W = jax.scipy.linalg.solve_triangular(L, Z, lower=True)  # (u, N)
        dinv = st.to_rows(kron_inverse_diagonal(eig, st.noise) - jnp.sum(W * W, axis=0))
    alpha = st.solve(r)
    var = 1.0 / dinv
    return -0.5 * (jnp.log(2 * math.pi * var) + alpha * alpha * var)


def sample(process, key, sample_shape):
    """Prior draws ``sample_shape + (n,)``: ``(⊗ Q_d Λ_d^{1/2}) z`` on the grid, plus noise.

    The per-axis square roots come from the eigendecompositions (not
    Cholesky), so rank-deficient factors (long lengthscales, constant axes)
    need no jitter.
    """
    st = _Setup(process)
    g = st.grid
    num = int(math.prod(sample_shape)) if sample_shape else 1
    k_f, k_e = jax.random.split(key)
    dtype = st.mats[0].dtype
    z = jax.random.normal(k_f, (num, g.N), dtype)
    f = st.to_rows(kron_sqrt_mvp(kron_eigh(st.mats), z))
    eps = jnp.sqrt(jnp.broadcast_to(jnp.asarray(process.noise, dtype), (g.n,))) * jax.random.normal(k_e, f.shape, dtype)
    draws = process.loc + f + eps
    return draws.reshape(tuple(sample_shape) + (g.n,))


def condition(process, y):
    """A ``KroneckerPosterior`` holding ``K_y⁻¹ (y - m)`` on the grid."""
    return KroneckerPosterior(process, y)


# -- posterior --------------------------------------------------------------------------
class KroneckerPosterior:
    """A GP on a grid conditioned on data; ``at(X_new)`` for predictions (any ``X_new``, on or off the grid).

    Attributes:
        process: the prior ``GaussianProcess``.
        alpha: ``K_y⁻¹ (y - m(X))`` scattered onto the grid ``(N,)`` (zeros on missing cells).
    """

    def __init__(self, process, y):
        self.process = process
        self.setup = _Setup(process)
        self.alpha = self.setup.solve_grid(y - process.loc)

    def at(self, X_new, *, kernel: Kernel | None = None, include_noise: bool = False, noise_new=None):
        """Distribution over ``f(X_new)`` (or one ``kernel`` component of it), ``X_new`` ``(m,)`` or ``(m, D)``.

        Same arguments and meaning as ``GPPosterior.at``. Mean ``K(X*, X) α``
        (per-axis contractions when the kernel factors, ``O(m N)``); variance
        ``k(x*, x*) - k*ᵀ K_y⁻¹ k*``: in mode "full" with a factoring kernel
        through the eigendecomposition (``O(m N)``, no ``(m, N)`` matrix);
        otherwise by solving ``K_y⁻¹ K(X, X*)`` column by column (memory ``O(m n)``).
        """
        from bayeskern.gp.process import mean_at

        st, proc = self.setup, self.process
        g = st.grid
        D = proc.X.shape[1]
        Xn = as_inputs(X_new, "X_new")
        if Xn.shape[1] != D:
            raise ValueError(f"X_new must have {D} input dimension(s) like X, got {Xn.shape[1]}")
        component = kernel is not None
        k = kernel if component else proc.kernel
        factors = factor_kernel(k, D) if component else st.factors
        prior_mean = jnp.zeros(Xn.shape[0]) if component else mean_at(proc, X_new)
        reduction = cross = solved = lowrank = None
        if isinstance(factors, KernelFactors):
            W = _cross_factors(factors, g.coords, Xn)  # D x (m, m_d)
            mean = prior_mean + _contract_rows(self.alpha.reshape(g.shape), W)
            if st.mode == "full":
                eig = kron_eigh(st.mats)
                s = 1.0 / (eig.eigenvalues() + st.noise)
                U = [Wd @ Q for Wd, Q in zip(W, eig.vectors)]  # (m, m_d): Q_dᵀ w_d per test point
                reduction = _contract_rows(s.reshape(g.shape), [u * u for u in U])
                lowrank = (jnp.sqrt(s), tuple(U))
            else:
                cross = st.to_rows(kron_vector(W))  # (m, n)
        else:
            cross = k(Xn, proc.X)  # (m, n)
            mean = prior_mean + cross @ st.to_rows(self.alpha)
        if cross is not None:
            solved = st.solve(cross)
            reduction = jnp.sum(cross * solved, axis=-1)
        extra = None
        if include_noise:
            if noise_new is None:
                if jnp.ndim(proc.noise) != 0:
                    raise ValueError("the training noise is per point; pass noise_new for X_new")
                noise_new = proc.noise
            extra = jnp.broadcast_to(jnp.asarray(noise_new), Xn.shape[:1])
        return KroneckerConditioned(mean, k, Xn, reduction, cross, solved, lowrank, extra)


def _contract_rows(T, W):
    """``out_j = Σ_i T[i_1..i_D] ∏_d W_d[j, i_d]`` for ``T`` ``(m_1..m_D)``, ``W_d`` ``(m, m_d)`` -> ``(m,)``."""
    out = jnp.tensordot(W[0], T, axes=([1], [0]))  # (m, m_2, ..., m_D)
    for Wd in W[1:]:
        out = jnp.einsum("jb...,jb->j...", out, Wd)
    return out


class KroneckerConditioned(Distribution):
    """``f(X_new) | y`` on a grid: mean ``(m,)``, covariance ``K** - K*ᵀ K_y⁻¹ K*``.

    ``variance`` is precomputed; ``covariance_matrix`` (and so ``sample`` and
    ``log_prob``) forms the ``(m, m)`` matrix on request, from the stored
    solved cross-covariances or, in the exact full-grid case, from the
    eigen-factors (``O(m N)`` memory then).
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("loc", "kernel", "X_new", "reduction", "cross", "solved", "lowrank", "extra_noise")

    def __init__(self, loc, kernel, X_new, reduction, cross=None, solved=None, lowrank=None, extra_noise=None,
                 validate_args=None):
        self.loc = loc
        self.kernel = kernel
        self.X_new = X_new
        self.reduction = reduction
        self.cross = cross
        self.solved = solved
        self.lowrank = lowrank
        self.extra_noise = extra_noise
        super().__init__(batch_shape=(), event_shape=loc.shape[-1:], validate_args=validate_args)

    @property
    def mean(self):
        """Posterior mean ``(m,)``."""
        return self.loc

    @property
    def variance(self):
        """Posterior marginal variances ``(m,)`` (round-off negatives clipped to zero)."""
        var = self.kernel.diag(self.X_new) - self.reduction
        if self.extra_noise is not None:
            var = var + self.extra_noise
        return jnp.maximum(var, 0.0)

    @property
    def covariance_matrix(self):
        """Posterior covariance ``(m, m)``."""
        if self.lowrank is not None:
            sqrt_s, U = self.lowrank
            V = sqrt_s * kron_vector(list(U))  # (m, N)
            red = V @ V.T
        else:
            red = self.cross @ self.solved.T
        cov = self.kernel(self.X_new) - red
        cov = 0.5 * (cov + cov.T)
        if self.extra_noise is not None:
            cov = cov + jnp.diag(self.extra_noise)
        return cov

    def sample(self, key, sample_shape=()):
        """Joint draws ``sample_shape + (m,)``."""
        L = cholesky(self.covariance_matrix, name="posterior covariance")
        z = jax.random.normal(key, tuple(sample_shape) + self.event_shape, dtype=L.dtype)
        return self.loc + z @ L.T

    def log_prob(self, value):
        return gaussian_logpdf(value - self.loc, self.covariance_matrix)
