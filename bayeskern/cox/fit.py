"""``bayeskern.cox.fit``: one call from events and a window to posterior intensity draws.

Bins the events on a regular grid over the window, builds the Cox-process
model of :mod:`bayeskern.cox.models` and runs one of

* ``"nuts"``: NUTS over hyperparameters and the whitened field (exact up to MCMC error);
* ``"svi"``: a low-rank Gaussian guide over the same unconstrained space;
* ``"laplace"``: the embedded Laplace marginal (``bayeskern.gp.laplace_marginal``;
  dense, Kronecker or HSGP field) with NUTS over the hyperparameters only,
  then field draws from the Laplace Gaussian at each hyperparameter draw.

and returns a :class:`CoxFit` (a :class:`bayeskern.infer.Fit`) whose
``intensity(points)`` gives posterior draws of the intensity at any points
of the window. Covariate surfaces (a linear term, and with the dense field a
GP term over the covariate values) and offsets work with every method.
"""

from __future__ import annotations

import numpy as np

from bayeskern.cox.field import field_structure
from bayeskern.cox.grid import bin_events
from bayeskern.cox.models import FIELD_JITTER, cox_grid_model, default_field_kernel
from bayeskern.cox.windows import as_window
from bayeskern.infer import Fit
from bayeskern.priors import resolve_kernel

__all__ = ["METHODS", "CoxFit", "fit", "laplace_grid_model"]

#: The inference algorithms of :func:`fit` (``method=``).
METHODS = ("laplace", "nuts", "svi")


class CoxFit(Fit):
    """A :class:`~bayeskern.infer.Fit` of a grid Cox process, with intensity outputs.

    Attributes (besides Fit's):
        grid: the :class:`~bayeskern.cox.grid.Grid`.
        events: the events ``(n, dim)``.
        counts: counts per cell ``(N,)``.
        name: the field's site prefix; ``samples[f"{name}_intensity"]`` is ``(draws, N)``.
        link: the link name.
    """

    @classmethod
    def wrap(cls, base: Fit, *, grid, events, counts, name: str, link: str) -> CoxFit:
        obj = cls.__new__(cls)
        obj.__dict__.update(base.__dict__)
        obj.grid, obj.events, obj.counts, obj.name, obj.link = grid, events, counts, name, link
        return obj

    def _extra_state(self) -> dict:
        return {"grid": self.grid, "events": self.events, "counts": self.counts, "name": self.name,
                "link": self.link}

    # -------------------------------------------------------------- intensity
    @property
    def cell_intensity(self) -> np.ndarray:
        """Posterior draws of the intensity per cell ``(draws, N)`` (NaN for unobserved cells of the Laplace path)."""
        return np.asarray(self.samples[f"{self.name}_intensity"])

    def intensity(self, points) -> np.ndarray:
        """Posterior draws of the intensity at ``points`` ``(m, dim)`` (or ``(m,)`` in 1-D) -> ``(draws, m)``.

        The binned model's intensity is constant on each cell, so this is the
        draw of the cell containing each point.

        Raises:
            ValueError: a point lies outside the window, or has NaN coordinates.
        """
        from bayeskern.cox.windows import _as_points

        P = _as_points(points, self.grid.dim)
        outside = ~self.grid.window.contains(P)
        if np.any(outside):
            raise ValueError(f"{int(outside.sum())} point(s) lie outside the window {self.grid.window!r}")
        return self.cell_intensity[:, self.grid.locate(P)]

    def intensity_summary(self, quantiles=(0.05, 0.5, 0.95), threshold=None) -> dict:
        """Per-cell posterior mean, quantiles and (with ``threshold``) ``P(λ > threshold)``, each ``(N,)``."""
        lam = self.cell_intensity
        out = {"mean": lam.mean(0), "sd": lam.std(0)}
        for q in quantiles:
            out[f"q{q:g}"] = np.quantile(lam, q, axis=0)
        if threshold is not None:
            out["exceedance"] = np.mean(lam > threshold, axis=0)
        return out

    def expected_count(self, region=None) -> np.ndarray:
        """Posterior draws ``(draws,)`` of the expected number of events in ``region`` (default: the window)."""
        expo = self.grid.exposure if region is None else self.grid.region_exposure(region)
        lam = np.nan_to_num(self.cell_intensity)
        return lam @ expo

    def pair_correlation(self, r, *, kernel_builder=None) -> np.ndarray:
        """Draws ``(draws, len(r))`` of the pair correlation ``g(r)`` implied by the fit (see
        :func:`bayeskern.cox.summaries.pair_correlation`)."""
        from bayeskern.cox.summaries import pair_correlation

        return pair_correlation(self, r, kernel_builder=kernel_builder)

    def simulate(self, num: int = 1, *, seed: int = 0) -> list:
        """Posterior-predictive point patterns by thinning (see :func:`bayeskern.cox.summaries.simulate_patterns`)."""
        from bayeskern.cox.summaries import simulate_patterns

        return simulate_patterns(self, num, seed=seed)

    def pointwise_log_likelihood(self) -> np.ndarray:
        """``(chain, draw, n_obs)`` log likelihood per observed cell (for ``az.loo``)."""
        ll = self.log_likelihood
        if not ll:
            raise ValueError("this fit has no observed count site to evaluate")
        return next(iter(ll.values()))

    def plot(self, ax=None, **kwargs):
        """Intensity over time with a rug of events (1-D) or an intensity map with the events (2-D)."""
        from bayeskern.cox.plots import plot_intensity

        return plot_intensity(self, ax=ax, **kwargs)


def laplace_grid_model(grid, counts, *, name: str = "f", obs_name: str = "counts", kernel=None, link="log",
                       base_rate=None, link_params=None, structure: str = "dense", num_basis=None, covariates=None,
                       offset=None, covariate_kernel=None, **options):
    """The grid Cox process with the field integrated out by the embedded Laplace marginal.

    ``structure="dense"`` or ``"hsgp"``: the field lives on the observed cells only
    (dense covariance, or a Hilbert-space basis of ``num_basis`` functions per axis,
    default ``min(m_d, 32)``). ``structure="kronecker"``: the field lives on every
    cell of the full grid (Kronecker prior, CG Newton, stochastic-Lanczos log
    det; ``**options`` go to :func:`bayeskern.gp.laplace_marginal`,
    e.g. ``num_probes``); unobserved cells (zero exposure) contribute no
    likelihood. The field's mean ``{name}_mean`` and the kernel
    hyperparameters are the model's sites.

    Covariates as in :func:`bayeskern.cox.models.intensity_field`, given per grid cell
    (``(N,)``/``(N, p)`` and ``(N,)``, subset here to the cells the field lives on):
    ``covariates`` adds ``Zβ`` to the latent prior mean (``{name}_beta ~ N(0, I_p)`` is a
    hyperparameter site, so the Laplace draws of ``f`` include ``μ + Zβ``); ``offset`` is
    added to the linear predictor inside the link, as on the NUTS path: for the log link it
    joins ``log(exposure)`` in the marginal's ``offset``, for the other links the likelihood is
    ``Poisson(exposure · link(f + offset))``; the draws of ``f`` exclude it. ``covariate_kernel``
    (dense field only) makes the latent GP one over ``[s, z(s)]`` with the additive kernel
    ``kernel + covariate_kernel``, so the draws of ``f`` are ``μ + Zβ + field + g(z)``.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from bayeskern.cox.links import get_link
    from bayeskern.cox.models import (
        additive_covariate_kernel,
        check_covariates,
        covariate_gp_kernel,
        linear_covariate_term,
    )
    from bayeskern.gp.laplace.marginal import laplace_marginal

    structure = field_structure(structure, grid)
    Z, uoff = check_covariates(covariates, offset, grid.size, covariate_kernel=covariate_kernel, structure=structure)
    full = structure == "kronecker"
    obs_idx = np.arange(grid.size) if full else grid.observed
    X = grid.centres[obs_idx]
    seen = grid.exposure[obs_idx] > 0
    expo = jnp.asarray(np.where(seen, grid.exposure[obs_idx], 1.0))  # placeholder 1 where unobserved (masked)
    if base_rate is None:
        base_rate = jnp.maximum(jnp.sum(counts), 1.0) / float(np.sum(grid.exposure))
    lname = link if isinstance(link, str) else link.name
    params = dict(link_params or {})
    if lname == "sigmoid" and params.get("max_rate") is None:
        params["max_rate"] = numpyro.sample(f"{name}_max_rate", dist.LogNormal(jnp.log(2.0 * base_rate), 1.0))
    lk = get_link(link, **params)
    k = resolve_kernel(kernel, name, X, default=default_field_kernel(structure, X))
    if covariate_kernel is not None:
        k = additive_covariate_kernel(k, covariate_gp_kernel(name, covariate_kernel, Z, covariates), grid.dim)
        X = jnp.concatenate([jnp.asarray(X, Z.dtype), Z[obs_idx]], axis=1)
    centre = 0.0 if lname == "sigmoid" else lk.inverse(base_rate)
    scale = 2.0 if lname in ("log", "sigmoid") else jnp.maximum(1.0, jnp.abs(centre))
    mu = numpyro.sample(f"{name}_mean", dist.Normal(centre, scale))
    mean = mu if Z is None else mu + linear_covariate_term(name, Z[obs_idx])
    y = jnp.asarray(counts)[obs_idx]
    mask = None if bool(np.all(seen)) else jnp.asarray(seen)

    def masked(d):
        return d if mask is None else d.mask(mask)

    if lname == "log":
        lik, off = (lambda f: masked(dist.Poisson(jnp.exp(f)))), jnp.log(expo)
    else:
        lik, off = (lambda f: masked(dist.Poisson(lk.intensity(f) * expo))), None
    if uoff is not None:
        off = uoff[obs_idx] if off is None else off + uoff[obs_idx]
    kw = dict(options)
    if structure == "hsgp":
        kw["num_basis"] = tuple(min(s, 32) for s in grid.shape) if num_basis is None else num_basis
    return laplace_marginal(name, k, X, lik, y, mean=mean, offset=off, jitter=FIELD_JITTER, obs_name=obs_name,
                            structure=structure, **kw)


def _default_shape(window, n_events: int):
    if window.dim == 1:
        return 100
    if window.dim == 2:
        return (32, 32)
    return (16, 16, 8)


def fit(events, window, *, shape=None, kernel=None, link="log", method: str = "nuts", structure: str = "auto",
        covariates=None, offset=None, covariate_kernel=None, exposure=None, mask=None, link_params=None,
        name: str = "f", num_warmup: int = 500, num_samples: int = 500, num_chains: int | None = None, steps: int = 3000,
        seed: int = 0, progress_bar: bool = False, **options) -> CoxFit:
    """Fit a Gaussian Cox process to events in a window.

    Args:
        events: event times ``(n,)`` (1-D) or points ``(n, 2)`` (2-D) or ``(n, 3)`` (space-time).
        window: ``(start, end)``; ``((x0, x1), (y0, y1))``; polygon vertices ``(k, 2)``; or a window object.
        shape: grid cells per axis (default 100 in 1-D, 32 x 32 in 2-D).
        kernel: a :data:`~bayeskern.priors.KernelSpec`, as every model piece takes it: a Kernel
            (fixed), a kernel class (sites ``{name}_<hyperparameter>`` with data-scaled priors) or a
            callable ``(name, X) -> Kernel`` with ``X`` the cell centres ``(N, dim)``; or None for
            :func:`~bayeskern.cox.models.default_field_kernel` (Matern52 dense / HSGP, ARD RBF Kronecker).
        link: ``"log"`` (LGCP), ``"softplus"``, ``"square"``, ``"sigmoid"`` or a Link.
        method: the inference algorithm: ``"nuts"``, ``"svi"`` or ``"laplace"``.
        structure: the field's linear algebra: ``"dense"``, ``"kronecker"``, ``"hsgp"`` or ``"auto"``
            (default; :func:`bayeskern.gp.structure.choose_structure` with context ``"cox"``: dense in
            1-D, kronecker in 2-D and up), for every method; with ``method="laplace"`` it picks the
            embedded Laplace back end (:func:`laplace_grid_model`).
        covariates: ``(N,)`` or ``(N, p)`` covariate surfaces, one finite row per grid cell
            (``N = ∏ shape``, C order, as :attr:`Grid.centres`; standardise them): a linear term
            ``Zβ`` with ``{name}_beta ~ N(0, I_p)``, for every method (with ``"laplace"`` it enters
            the latent prior mean and ``β`` is sampled with the hyperparameters).
        offset: ``(N,)`` known term added to the linear predictor inside the link (log population
            for the log link: ``λ = exp(offset) · ...``); every method.
        covariate_kernel: a GP term ``g(z(s))`` of the covariate values beside the linear one: a Kernel
            over the covariate columns, a kernel class (sites ``{name}_cov_*``, priors scaled on
            ``covariates``) or a callable ``(prefix, Z) -> Kernel``; needs ``covariates`` and
            ``structure="dense"``, every method (see :func:`bayeskern.cox.models.intensity_field`).
        exposure, mask: per-cell exposure multiplier and observation mask (see :func:`make_grid`).
        link_params: ``{"offset": ...}`` (square) or ``{"max_rate": ...}`` (sigmoid).
        name: site prefix of the field.
        num_warmup, num_samples, num_chains: NUTS settings (also for the Laplace path's hyperparameters).
            ``num_chains`` defaults to 4 for ``"laplace"`` (R-hat from 4 chains of 500 draws stays
            below 1.01 on the bundled data; the chains run one after another unless JAX sees a device
            per chain, see below) and to 2 otherwise.
        steps: SVI optimisation steps; draws = ``num_samples``.
        seed: PRNG seed.
        progress_bar: show progress bars.
        **options: passed to the runner (e.g. ``target_accept_prob``, ``guide``, ``optimizer``). With
            ``"laplace"``, ``chain_method`` defaults to ``"sequential"`` (``"parallel"`` when JAX sees
            ``num_chains`` devices): vectorised chains advance every Newton mode search in lockstep
            with the slowest chain's (coal mining, 4 x 300 iterations with compilation: 66 s
            vectorised, 20 s sequential, on a loaded 2-core machine).

    Returns:
        A :class:`CoxFit`.

    Raises:
        ValueError: empty events, NaN coordinates, events outside the window, negative exposure,
            unknown method/link/structure; covariates/offset of the wrong length or not finite; a
            covariate_kernel without covariates or with a non-dense field.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if num_chains is None:
        num_chains = 4 if method == "laplace" else 2
    win = as_window(window)
    shape = _default_shape(win, 0) if shape is None else shape
    grid, counts = bin_events(events, win, shape, exposure=exposure, mask=mask)
    from bayeskern.cox.windows import _as_points

    P = _as_points(np.asarray(events, float), win.dim, "events")
    lname = link if isinstance(link, str) else link.name
    structure = field_structure(structure, grid)
    from bayeskern.cox.models import check_covariates, covariate_kernel_sampler

    # Checked here, on concrete values, before any compile; a kernel class gets its data-scaled priors now
    # because later replays of the model (latent draws, pointwise log likelihood) trace the covariates.
    _, uoff = check_covariates(covariates, offset, grid.size, covariate_kernel=covariate_kernel, structure=structure)
    covariate_kernel = covariate_kernel_sampler(covariate_kernel, covariates)
    cov = {"covariates": covariates, "offset": offset, "covariate_kernel": covariate_kernel}
    if method == "laplace":
        from bayeskern.gp.laplace.draws import sample_latent
        from bayeskern.gp.laplace.kronecker import KronLaplaceOptions
        from bayeskern.infer import nuts

        lap = {k: options.pop(k) for k in list(options) if k in KronLaplaceOptions._fields or k == "loo_draws"}
        if options.get("chain_method") is None:
            import jax

            options["chain_method"] = "parallel" if jax.local_device_count() >= num_chains else "sequential"
        base = nuts(laplace_grid_model, grid, counts, name=name, obs_name="counts", kernel=kernel, link=link,
                    link_params=link_params, structure=structure, num_warmup=num_warmup, num_samples=num_samples,
                    num_chains=num_chains, seed=seed, progress_bar=progress_bar, **cov, **lap, **options)
        f = sample_latent(base, name, seed=seed, obs_name="counts")
        lam = _laplace_intensity(base, f, grid, lname, link, link_params, name, uoff)
        base.samples_by_chain[f"{name}_intensity"] = lam.reshape((base.num_chains, base.num_draws, -1))
        base.extras["inference"] = f"embedded Laplace marginal ({structure} field) + NUTS over hyperparameters"
    else:
        kw = {"name": name, "obs_name": "counts", "kernel": kernel, "link": link, "structure": structure,
              "link_params": link_params, **cov}
        if method == "nuts":
            from bayeskern.infer import nuts

            base = nuts(cox_grid_model, grid, counts, num_warmup=num_warmup, num_samples=num_samples,
                        num_chains=num_chains, seed=seed, progress_bar=progress_bar, **kw, **options)
        else:
            import optax

            from bayeskern.infer import svi

            options.setdefault("guide", "lowrank")
            options.setdefault("optimizer", optax.adam(0.02))
            base = svi(cox_grid_model, grid, counts, steps=steps, num_samples=num_samples, seed=seed,
                       progress_bar=progress_bar, **kw, **options)
    base.extras.update({"link": lname, "grid_shape": str(grid.shape), "num_events": int(P.shape[0])})
    from bayeskern.kernels import RBF, Matern52

    default_cls = RBF if structure == "kronecker" else Matern52
    base.extras["_kernel_spec"] = default_cls if kernel is None else kernel
    return CoxFit.wrap(base, grid=grid, events=P, counts=counts, name=name, link=lname)


def _laplace_intensity(base, f, grid, lname, link, link_params, name, offset=None):
    """Intensity draws ``(draws, N)`` from Laplace field draws on the observed cells (NaN elsewhere).

    The draws of ``f`` exclude the marginal's offset, so the user's ``offset`` ``(N,)`` is added back here.
    """
    import jax.numpy as jnp

    from bayeskern.cox.links import get_link

    f = np.asarray(f)
    if offset is not None:
        off = np.asarray(offset)
        f = f + (off if f.shape[1] == grid.size else off[grid.observed])[None, :]
    out = np.full((f.shape[0], grid.size), np.nan)
    if lname == "sigmoid" and (link_params or {}).get("max_rate") is None:
        mr = np.asarray(base.samples[f"{name}_max_rate"])[:, None]
        lam = mr / (1.0 + np.exp(-f))
    else:
        lam = np.asarray(get_link(link, **(link_params or {})).intensity(jnp.asarray(f)))
    if f.shape[1] == grid.size:  # Kronecker field: every cell
        out[:, grid.observed] = lam[:, grid.observed]
    else:
        out[:, grid.observed] = lam
    return out
