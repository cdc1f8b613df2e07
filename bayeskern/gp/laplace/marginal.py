"""Embedded Laplace marginal for latent GPs with non-Gaussian likelihoods.

``laplace_marginal(name, kernel, X, likelihood, obs)`` integrates the latent
field ``f ~ GP(mean, kernel)`` out of the model by Laplace's method, so that
NUTS, SVI, Laplace or the INLA-style design (:func:`bayeskern.infer.design.inla`)
run over the hyperparameters only (Rasmussen & Williams 2006, ch. 3 and 5;
Margossian et al. 2020). The value and its implicit gradient come from
:mod:`bayeskern.gp.laplace.newton`.

The site is an observed sample site ``f"{name}_y"`` whose distribution,
:class:`~bayeskern.gp.laplace.distributions.LaplaceMarginal`, has ``log_prob(y)`` equal to the Laplace estimate of
``log p(y | θ)`` (exactly what a ``numpyro.factor`` of that value would add to
the joint density), and also ``pointwise_log_prob(y)``: the Laplace
leave-one-out predictive densities ``log p(y_i | y_{-i}, θ)``, so that
:func:`bayeskern.infer.pointwise_log_likelihood` and PSIS-LOO see one term per
observation (see :meth:`~bayeskern.gp.laplace.distributions.LaplaceMarginal.pointwise_log_prob`).

Accuracy: for log-concave likelihoods (Poisson, Bernoulli, negative
binomial) the approximation is close (a single Poisson count of 25 under a
N(0.5, 0.7) prior: 2e-3 nats; tests/gp/test_laplace_marginal.py). For
Student-t it is not: with one observation, nu = 4, s = 0.3 and f ~ N(0, 1),
log p(y) is underestimated by 0.14 nats at y = 0.5 and by 0.7 nats at the
outlier y = 4, where ``p(f | y)`` is bimodal; hyperparameter posteriors of
Student-t models should be checked against NUTS on the latent field.

Structured covariances: ``structure="dense"`` (Cholesky of ``K``, ``O(n³)``),
``"kronecker"`` (full grids, matrix-free CG Newton and a stochastic-Lanczos
log det with fixed probes: :mod:`bayeskern.gp.laplace.kronecker`), ``"hsgp"``
(a Hilbert-space basis, Newton in the basis weights:
:mod:`bayeskern.gp.laplace.lowrank`), or ``"auto"``.

After a fit, :func:`sample_latent` draws ``f`` for every hyperparameter draw
from the Laplace Gaussian ``N(f̂_θ, (K_θ⁻¹ + W_θ)⁻¹)`` and stores them in the
fit under ``name``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayeskern._checks import as_inputs, is_concrete
from bayeskern.features.hsgp import HSGPBasis, hsgp_features
from bayeskern.gp.backends.kronecker_factors import axis_gram, factor_kernel
from bayeskern.gp.laplace.distributions import KroneckerLaplaceMarginal, LaplaceMarginal, LowRankLaplaceMarginal
from bayeskern.gp.laplace.kronecker import KronLaplaceOptions
from bayeskern.gp.latent import resolve_mean
from bayeskern.gp.structure import choose_structure
from bayeskern.linalg import add_jitter, default_jitter
from bayeskern.linalg.grid import find_grid
from bayeskern.priors import KernelSpec, resolve_kernel

__all__ = ["STRUCTURES", "laplace_marginal"]

#: The latent field's structures; ``"auto"`` is resolved by
#: :func:`bayeskern.gp.structure.choose_structure` (context ``"laplace"``).
STRUCTURES = ("auto", "dense", "kronecker", "hsgp")


def laplace_marginal(name: str, kernel: KernelSpec, X, likelihood, obs, *, mean=None, offset=None,
                     jitter: float | None = None, max_iter: int = 100, tol: float = 1e-9,
                     obs_name: str | None = None, structure: str = "auto", num_basis=None,
                     boundary_factor: float = 1.5, **options) -> LaplaceMarginal:
    """Add ``log p(obs | θ)`` with the latent GP ``f`` integrated out by Laplace's method.

    Emits the observed sample site ``obs_name`` (default ``f"{name}_y"``) with a
    :class:`LaplaceMarginal` distribution: the joint density gains the Laplace
    log marginal, as ``numpyro.factor(f"{name}_y", log_Z)`` would, and the site
    also supplies leave-one-out pointwise terms. ``f`` itself is not a site;
    draw it after fitting with :func:`sample_latent` (stored under ``name``).

    Args:
        name: the latent field's name (the user's; sites derive from it).
        kernel: a :data:`~bayeskern.priors.KernelSpec`: a Kernel (hyperparameters fixed or sampled
            earlier in the model), a kernel class (its hyperparameters become the sites
            ``f"{name}_<hyperparameter>"``, with data-scaled lengthscale priors from ``X`` and a
            ``LogNormal(0, 1)`` variance: ``obs`` are not on the latent scale; see
            :func:`~bayeskern.priors.resolve_kernel`) or a callable ``(name, X) -> Kernel``.
            Give :func:`predict_latent` the same instance or class (a callable there is a function
            of the posterior values, e.g. ``lambda v: Matern52(lengthscale=v["f_ell"])``).
        X: inputs ``(n,)`` or ``(n, d)``.
        likelihood: ``f (n,) -> numpyro Distribution`` with ``batch_shape (n,)``,
            factorised over observations: e.g. ``lambda f: dist.Poisson(jnp.exp(f))``,
            ``lambda f: dist.Bernoulli(logits=f)``,
            ``lambda f: dist.NegativeBinomial2(jnp.exp(f), phi)``,
            ``lambda f: dist.StudentT(nu, f, s)``. Closed-over sampled
            parameters get implicit gradients.
        obs: observations ``(n,)`` (required: the marginal needs data).
        mean: prior mean: ``None`` (zero), scalar, ``(n,)`` array or callable ``mean(X)``.
        offset: ``(n,)`` added to ``f`` inside the likelihood, e.g. ``log(exposure)``
            for ``Poisson(exposure * exp(f))``; ``None`` for none.
        jitter: relative diagonal jitter (default: the dtype's Cholesky default).
        max_iter: Newton iteration cap (per start: a run from the prior mean that does not converge
            is restarted once from a data-based start).
        tol: Newton convergence tolerance. A mode that does not converge makes the log density
            ``-inf`` with a :class:`~bayeskern.errors.ConvergenceWarning` naming ``name`` (inside
            ``jit``/NUTS), or raises :class:`~bayeskern.errors.ConvergenceError` in an eager call.
        obs_name: site name for the observations (default ``f"{name}_y"``).
        structure: the latent field's linear-algebra structure:
            ``"dense"`` (Cholesky of ``K``, ``O(n³)``, exact);
            ``"kronecker"`` (``X`` a full Cartesian grid in any row order, a kernel that factors
            over the axes; CG Newton and a stochastic-Lanczos log det, ``O(n Σ n_d)`` per
            product, see :mod:`bayeskern.gp.laplace.kronecker` for the estimator's error);
            ``"hsgp"`` (Hilbert-space basis ``f = m + Φ diag(√S) β``, Newton in the ``M`` weights,
            exact log det; an approximation of the kernel, see :mod:`bayeskern.features.hsgp`);
            ``"auto"``: :func:`~bayeskern.gp.structure.choose_structure` with context
            ``"laplace"``: ``"kronecker"`` for a full grid of ``≥ LAPLACE_KRONECKER_MIN_POINTS``
            (1024) points in 2-D or more with a factoring kernel, else ``"dense"``.
        num_basis, boundary_factor: HSGP basis functions per dimension (required for ``"hsgp"``) and box factor.
        **options: Kronecker settings (fields of :class:`~bayeskern.gp.laplace.kronecker.KronLaplaceOptions`:
            ``num_probes``, ``lanczos_steps``, ``seed``, ``cg_tol``, ``cg_maxiter``, ``probe_tol``,
            ``logdet`` = ``"slq"``/``"fiedler"``, ``precondition`` = ``"kronecker"``/``"jacobi"``) and
            ``loo_draws``.

    Returns:
        The :class:`LaplaceMarginal` distribution (``.mode(obs)`` gives the mode).

    Raises:
        ValueError: bad ``name``, ``likelihood``, ``obs``, ``mean`` or ``offset``
            (checked before tracing where values are concrete).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(likelihood):
        raise ValueError(f"likelihood must be a callable f -> numpyro Distribution, got {type(likelihood).__name__}")
    if obs is None:
        raise ValueError("obs is required: the Laplace marginal integrates f given observed data")
    if int(max_iter) < 1 or not float(tol) > 0:
        raise ValueError(f"max_iter must be >= 1 and tol > 0, got {max_iter}, {tol}")
    Xa = as_inputs(X, "X")
    n = Xa.shape[0]
    obs = jnp.asarray(obs)
    if obs.shape != (n,):
        raise ValueError(f"obs must have shape ({n},) (one observation per input row), got {obs.shape}")
    loc = resolve_mean(mean, X, n)
    if offset is not None:
        offset = jnp.asarray(offset, dtype=loc.dtype)
        offset = jnp.full((n,), offset) if offset.ndim == 0 else offset
        if offset.shape != (n,):
            raise ValueError(f"offset must be a scalar or have shape ({n},), got {offset.shape}")
        if is_concrete(offset) and not np.all(np.isfinite(np.asarray(offset))):
            raise ValueError("offset must be finite (use log(exposure) with exposure > 0)")
    _check_likelihood(likelihood, loc if offset is None else loc + offset, obs, n)
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    if options and structure not in ("kronecker", "auto"):
        raise ValueError(f"options {sorted(options)} apply to structure='kronecker' only")
    kernel = resolve_kernel(kernel, name, X)
    # Inside a trace (NUTS) jnp.asarray(X) is a tracer even for a NumPy X; the grid search needs values.
    Xc = Xa if is_concrete(Xa) or not is_concrete(X) else np.asarray(X, dtype=Xa.dtype)
    if structure == "auto":
        structure = _auto_structure(kernel, Xc)
    if structure == "kronecker":
        d = _kronecker_marginal(likelihood, kernel, Xc, loc, offset, jitter, max_iter, tol, options, name)
    elif structure == "hsgp":
        if num_basis is None:
            raise ValueError("structure='hsgp' needs num_basis= (basis functions per input dimension)")
        # The site keeps the box and √S so that predict_latent can evaluate the basis at new inputs.
        hb = HSGPBasis.from_inputs(Xa, num_basis, boundary_factor)
        Phi, sqrt_w = hsgp_features(kernel, Xa, basis=hb)
        B = Phi * sqrt_w[None, :]
        d = LowRankLaplaceMarginal(likelihood, B, loc.astype(B.dtype), offset=offset, max_iter=max_iter, tol=tol,
                                   hsgp_basis=hb, sqrt_weights=sqrt_w, site=name)
    else:
        K = kernel(Xa)
        rel = default_jitter(K.dtype) if jitter is None else float(jitter)
        d = LaplaceMarginal(likelihood, add_jitter(K, rel), loc.astype(K.dtype), offset=offset,
                            max_iter=max_iter, tol=tol, site=name)
    numpyro.sample(obs_name or f"{name}_y", d, obs=obs)
    return d


def _auto_structure(kernel, Xa) -> str:
    """``structure="auto"`` by the library's one rule (context ``"laplace"``)."""

    def kronecker():
        if not is_concrete(Xa):
            return "the inputs are traced"
        factors = factor_kernel(kernel, Xa.shape[1])
        if isinstance(factors, str):
            return factors
        try:
            find_grid(np.asarray(Xa))
        except ValueError as err:
            return str(err)
        return None

    dim = Xa.shape[1] if Xa.ndim == 2 else 1
    return choose_structure("laplace", Xa.shape[0], dim, kronecker=kronecker)


def _kronecker_marginal(likelihood, kernel, Xa, loc, offset, jitter, max_iter, tol, options, site):
    if not is_concrete(Xa):
        raise ValueError("structure='kronecker' needs concrete inputs X (the grid is found from their values)")
    Xn = np.asarray(Xa)
    Xn = Xn[:, None] if Xn.ndim == 1 else Xn
    D = Xn.shape[1]
    coords, cells = find_grid(Xn)  # raises a ValueError naming why X is not a full grid
    factors = factor_kernel(kernel, D)
    if isinstance(factors, str):
        raise ValueError(f"structure='kronecker' needs a kernel that factors over the grid axes: {factors}")
    loo_draws = options.pop("loo_draws", 100)
    bad = set(options) - set(KronLaplaceOptions._fields) - {"max_iter", "tol"}
    if bad:
        raise ValueError(f"unknown options {sorted(bad)}; Kronecker options are {KronLaplaceOptions._fields}")
    opts = KronLaplaceOptions(**{"max_iter": int(max_iter), "tol": max(float(tol), 1e-8), **options})
    Ls = []
    for d in range(D):
        Kd = axis_gram(factors.axes[d], jnp.asarray(coords[d]), None, d, D)
        if d == 0:
            Kd = factors.scale * Kd
        rel = default_jitter(Kd.dtype) if jitter is None else float(jitter)
        Ls.append(jnp.linalg.cholesky(add_jitter(Kd, rel)))
    identity = bool(np.all(cells == np.arange(cells.shape[0])))
    return KroneckerLaplaceMarginal(likelihood, tuple(Ls), loc.astype(Ls[0].dtype),
                                    cells=None if identity else jnp.asarray(cells), offset=offset,
                                    options=opts, loo_draws=loo_draws, site=site)


def _check_likelihood(likelihood, f0, obs, n):
    d = likelihood(f0)
    if not isinstance(d, dist.Distribution):
        raise ValueError(f"likelihood(f) must return a numpyro Distribution, got {type(d).__name__}")
    if tuple(d.batch_shape) != (n,) or tuple(d.event_shape) != ():
        raise ValueError(
            f"likelihood(f) must be factorised over the {n} observations: batch_shape ({n},) and event_shape (), "
            f"got batch_shape {tuple(d.batch_shape)} and event_shape {tuple(d.event_shape)}"
        )
    if is_concrete(obs) and is_concrete(f0):
        inside = np.asarray(d.support(obs))
        if not np.all(inside):
            bad = np.flatnonzero(~inside)[:5]
            raise ValueError(
                f"obs has values outside the likelihood's support at indices {bad.tolist()} "
                f"(values {np.asarray(obs)[bad].tolist()}); e.g. counts must be non-negative integers"
            )
