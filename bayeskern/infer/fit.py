"""`Fit`: the one result object every runner returns (samples, stats, losses, save/load)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from bayeskern._display import call_repr, html_table, shape_str
from bayeskern.results import Result, pack, resolve_class, saved_class_name, unpack

_STATE_GROUP = "bayeskern"  # extra DataTree group holding losses in a saved file
_ATTR_PREFIX = "bayeskern_"


class Fit(Result):
    """Posterior draws from one inference run, with what is needed to diagnose and reuse them.

    A :class:`~bayeskern.results.Result`: ``summary()``, ``plot()``,
    ``to_arviz()``, ``save(path)`` / ``load(path)`` (netCDF-4, readable by ArviZ).

    Draws are stored per chain; ``samples`` merges the chains. Approximate
    methods (SVI, Laplace) give independent draws and are stored as one chain.

    Attributes:
        samples_by_chain: site -> ``(chain, draw, ...)`` NumPy array (latent
            and deterministic sites, constrained space).
        method: ``"nuts"``, ``"svi"`` or ``"laplace"``.
        model: the NumPyro model, or ``None`` for a loaded fit (code is not saved).
        model_args: positional model arguments used for the fit (``()`` when loaded).
        model_kwargs: keyword model arguments used for the fit (``{}`` when loaded).
        sample_stats: stat -> ``(chain, draw)`` sampler statistics under
            ArviZ names (NUTS: ``diverging``, ``energy``, ``lp``, ``n_steps``,
            ``tree_depth``, ``reached_max_tree_depth``, ``acceptance_rate``,
            ``step_size``); empty for SVI and Laplace.
        losses: ``(steps,)`` optimisation losses (SVI: negative ELBO; Laplace:
            negative log density during the mode search; NUTS with
            ``init="map"``: the MAP search), or ``None``.
        observed_data: observed site -> value, traced from the model.
        dims: site -> ArviZ dim names taken from plates (may be empty).
        mcmc: the ``numpyro.infer.MCMC`` object (NUTS only; not saved).
        guide, params: the SVI guide and its fitted parameters (SVI only; not saved).
        extras: method-specific results (e.g. Laplace ``mode``, ``hessian``,
            ``log_evidence``); only JSON-able scalars and strings are saved.
    """

    def __init__(
        self,
        samples_by_chain: Mapping[str, Any],
        *,
        method: str,
        model=None,
        model_args: Sequence = (),
        model_kwargs: Mapping | None = None,
        sample_stats: Mapping[str, Any] | None = None,
        losses=None,
        log_likelihood: Mapping[str, Any] | None = None,
        observed_data: Mapping[str, Any] | None = None,
        dims: Mapping[str, list[str]] | None = None,
        mcmc=None,
        guide=None,
        params=None,
        extras: Mapping[str, Any] | None = None,
    ):
        self.samples_by_chain = {k: np.asarray(jax.device_get(v)) for k, v in samples_by_chain.items()}
        shapes = {k: v.shape[:2] for k, v in self.samples_by_chain.items()}
        if not shapes or len(set(shapes.values())) != 1 or any(len(s) != 2 for s in shapes.values()):
            raise ValueError(f"samples_by_chain needs site -> (chain, draw, ...) arrays of one (chain, draw) shape, got {shapes}")
        self.method = method
        self.model = model
        self.model_args = tuple(model_args)
        self.model_kwargs = dict(model_kwargs or {})
        self.sample_stats = {k: np.asarray(jax.device_get(v)) for k, v in (sample_stats or {}).items()}
        self.losses = None if losses is None else np.asarray(jax.device_get(losses))
        self._log_likelihood = None if log_likelihood is None else {k: np.asarray(v) for k, v in log_likelihood.items()}
        self.observed_data = {k: np.asarray(v) for k, v in (observed_data or {}).items()}
        self.dims = {k: list(v) for k, v in (dims or {}).items()}
        self.mcmc = mcmc
        self.guide = guide
        self.params = params
        self.extras = dict(extras or {})

    # ------------------------------------------------------ from NumPyro
    @classmethod
    def from_numpyro(cls, mcmc, model, *args, **kwargs) -> "Fit":
        """A :class:`Fit` from a plain ``numpyro.infer.MCMC`` that has been run.

        The model and its arguments must be the ones the MCMC was run with
        (NumPyro keeps them only privately); they are traced once to check
        that the model's latent sites match the MCMC's draws, and to read the
        observed data and plate dims. The pointwise log likelihood is computed
        on first use (``fit.log_likelihood``, ``to_arviz``, ``save``) exactly
        as for :func:`bayeskern.infer.nuts` fits, so ``az.loo``,
        :func:`bayeskern.diagnostics.check`, ``save``/``load`` and
        ``predict`` all work.

        Sample stats carry the names :func:`bayeskern.infer.nuts` uses, from
        whatever extra fields the run recorded. NumPyro always records
        ``diverging`` for HMC/NUTS; ``energy`` (needed for E-BFMI), ``lp``
        (``potential_energy``), ``n_steps``/``tree_depth``/
        ``reached_max_tree_depth`` (``num_steps``), ``acceptance_rate``
        (``accept_prob``) and ``step_size`` (``adapt_state.step_size``) are
        present only when ``mcmc.run`` was given those ``extra_fields``;
        pass ``extra_fields=bayeskern.infer.nuts.EXTRA_FIELDS`` for all of
        them. Tree depths are only derived for NUTS samplers.

        Args:
            mcmc: a ``numpyro.infer.MCMC`` after ``mcmc.run(...)``.
            model: the NumPyro model the MCMC sampled.
            *args: the positional model arguments of the run.
            **kwargs: the keyword model arguments of the run (observations included).

        Returns:
            A Fit with ``method`` ``"nuts"`` (NUTS kernel) or the sampler's
            class name in lower case (e.g. ``"hmc"``), ``samples_by_chain``
            ``(chains, draws, ...)`` (latent and deterministic sites) and
            ``fit.mcmc = mcmc``.

        Raises:
            TypeError: ``mcmc`` is not an MCMC, or ``model`` is not callable.
            ValueError: the MCMC has not been run, or the model's latent sites
                (or their shapes) do not match the MCMC's draws.

        Example::

            mcmc = MCMC(NUTS(model), num_warmup=500, num_samples=500, num_chains=2)
            mcmc.run(jax.random.PRNGKey(0), X, y=y, extra_fields=EXTRA_FIELDS)
            fit = Fit.from_numpyro(mcmc, model, X, y=y)
            print(check(fit)); az.loo(fit.to_arviz())
        """
        from numpyro.infer import MCMC, NUTS

        from bayeskern.infer._util import (
            MAX_TREE_DEPTH,
            _sample_stats,
            latent_site_names,
            observed_values,
            plate_dims,
            trace_model,
        )

        if not isinstance(mcmc, MCMC):
            raise TypeError(
                f"mcmc must be a numpyro.infer.MCMC that has been run, got {type(mcmc).__name__}; "
                "for a bayeskern run use bayeskern.infer.nuts(model, ...) directly"
            )
        if not callable(model):
            raise TypeError(
                f"model must be the NumPyro model (a callable) the MCMC sampled, got {type(model).__name__}: "
                "call Fit.from_numpyro(mcmc, model, *args, **kwargs)"
            )
        if getattr(mcmc, "_states", None) is None:
            raise ValueError("mcmc has not been run: call mcmc.run(rng_key, *args, **kwargs) first")
        samples = mcmc.get_samples(group_by_chain=True)
        if not isinstance(samples, Mapping) or not samples:
            raise ValueError(
                "mcmc holds no site -> draws dict (was it run on a potential_fn rather than a model?); "
                "from_numpyro needs an MCMC run on a NumPyro model"
            )
        tr = trace_model(model, args, kwargs)
        latent = latent_site_names(tr)
        missing = [n for n in latent if n not in samples]
        unknown = [n for n in samples if n not in tr or tr[n]["type"] not in ("sample", "deterministic")]
        if missing or unknown:
            raise ValueError(
                "the model's sites do not match the MCMC's samples"
                + (f"; latent sites without draws: {missing}" if missing else "")
                + (f"; draws for sites the model does not have: {unknown}" if unknown else "")
                + ". Pass the model and the arguments that mcmc.run was called with"
            )
        bad = {
            n: (tuple(np.shape(v))[2:], tuple(np.shape(tr[n]["value"])))
            for n, v in samples.items()
            if tuple(np.shape(v))[2:] != tuple(np.shape(tr[n]["value"]))
        }
        if bad:
            raise ValueError(
                "the MCMC's draws do not have the shapes the model gives its sites with these arguments "
                f"(site: (draw shape, model shape)) {bad}; pass the arguments that mcmc.run was called with"
            )
        sampler = mcmc.sampler
        is_nuts = isinstance(sampler, NUTS)
        depth = getattr(sampler, "_max_tree_depth", MAX_TREE_DEPTH)
        depth = int(np.atleast_1d(depth)[-1])  # a (warmup, sampling) tuple: sampling's cap applies
        stats = _sample_stats(mcmc.get_extra_fields(group_by_chain=True), depth)
        if not is_nuts:
            stats = {k: v for k, v in stats.items() if k not in ("tree_depth", "reached_max_tree_depth")}
        extras = {"sampler": type(sampler).__name__}
        if is_nuts:
            extras["max_tree_depth"] = depth
        return cls(
            samples,
            method="nuts" if is_nuts else type(sampler).__name__.lower(),
            model=model,
            model_args=args,
            model_kwargs=kwargs,
            sample_stats=stats,
            observed_data=observed_values(model, args, kwargs),
            dims=plate_dims(model, args, kwargs),
            mcmc=mcmc,
            extras=extras,
        )

    # ----------------------------------------------------------------- shapes
    @property
    def num_chains(self) -> int:
        """Number of chains (1 for SVI and Laplace)."""
        return next(iter(self.samples_by_chain.values())).shape[0]

    @property
    def num_draws(self) -> int:
        """Draws per chain."""
        return next(iter(self.samples_by_chain.values())).shape[1]

    @property
    def samples(self) -> dict[str, np.ndarray]:
        """site -> ``(chain * draw, ...)`` draws with chains concatenated (chain-major)."""
        return {k: v.reshape((-1,) + v.shape[2:]) for k, v in self.samples_by_chain.items()}

    # ------------------------------------------------------- log likelihood
    @property
    def log_likelihood(self) -> dict[str, np.ndarray] | None:
        """Observed site -> ``(chain, draw, ...)`` pointwise log likelihood.

        Computed on first use with :func:`bayeskern.infer.pointwise_log_likelihood`
        (so distributions with ``pointwise_log_prob`` give their exact
        leave-one-out terms) and cached; ``None`` when it was neither saved
        nor can be computed (a loaded fit has no model).
        """
        if self._log_likelihood is None and self.model is not None:
            from bayeskern.infer.loglik import pointwise_log_likelihood

            ll = pointwise_log_likelihood(self.model, self.samples, *self.model_args, **self.model_kwargs)
            c, d = self.num_chains, self.num_draws
            self._log_likelihood = {k: np.asarray(v).reshape((c, d) + np.shape(v)[1:]) for k, v in ll.items()}
        return self._log_likelihood

    # --------------------------------------------------------------- ArviZ
    def to_arviz(self, log_likelihood: bool = True, posterior_predictive: Mapping | None = None):
        """This fit as an ArviZ ``DataTree`` (see :func:`bayeskern.diagnostics.to_arviz`)."""
        from bayeskern.diagnostics.convert import to_arviz

        return to_arviz(self, log_likelihood=log_likelihood, posterior_predictive=posterior_predictive)

    def summary(self, **kwargs):
        """ArviZ summary table (``pandas.DataFrame``) of the posterior.

        NUTS fits get ``kind="all"`` (moments, intervals, R-hat, ESS, MCSE);
        SVI and Laplace fits ``kind="stats"``, since their draws are
        independent by construction and convergence diagnostics say nothing
        about how good the approximation is. ``kwargs`` go to ``az.summary``.
        """
        import arviz as az

        kwargs.setdefault("kind", "all" if self.num_chains > 1 or self.method == "nuts" else "stats")
        return az.summary(self.to_arviz(log_likelihood=False), **kwargs)

    def plot(self, ax=None, var_names=None, **kwargs):
        """Trace plot of the draws (ArviZ ``plot_trace_dist``; one row per site): returns the matplotlib ``Figure``.

        ``ax`` is refused: the trace plot lays out its own grid of panels.
        ``var_names`` selects sites; ``kwargs`` go to
        :func:`bayeskern.diagnostics.plot_trace`.
        """
        from bayeskern.diagnostics.plots import plot_trace

        if ax is not None:
            raise TypeError(f"{type(self).__name__}.plot draws a grid of panels and takes no ax; "
                            "use bayeskern.diagnostics.plot_trace(fit, ...) for its options")
        return plot_trace(self, var_names=var_names, **kwargs)

    # ------------------------------------------------------------ predict
    def predict(self, model=None, *args, num_draws: int | None = None, seed: int = 0, return_sites=None,
                prior_sites=(), **kwargs):
        """Posterior predictive draws via ``numpyro.infer.Predictive`` (vectorised over draws).

        Args:
            model: the NumPyro model to run (typically the fitted one, called
                with new inputs). ``None`` uses ``self.model`` (not available
                on a loaded fit).
            *args: positional model arguments (e.g. new inputs ``X_new``).
            num_draws: use this many posterior draws, evenly spaced over the
                merged chains (default: all ``chain * draw``).
            seed: PRNG seed.
            return_sites: sites to return (default: Predictive's choice:
                sites not in the posterior draws, plus deterministic sites).
            prior_sites: latent sites the fit does not hold that are to be
                drawn from their prior on purpose. Any other latent site the
                fit lacks is an error (it would silently come from the prior).
            **kwargs: keyword model arguments (pass ``y=None`` style
                arguments to sample observations afresh).

        Returns:
            site -> ``(num_draws, ...)`` arrays. Deterministic sites are
            recomputed from the draws, never copied from the fit.

        Raises:
            ValueError: ``model`` is not the fitted one: run with the fit's own
                arguments (when they are known) it has latent sites the fit
                lacks, or it has latent sites the fit lacks while leaving some
                of the fit's sites unused (a renamed or different model). New
                latent sites that appear only with the prediction arguments
                (a draw of ``f(X_new)``, say) are posterior predictive, not
                prior, and are allowed.
        """
        from numpyro.infer import Predictive

        model = self.model if model is None else model
        if model is None:
            raise ValueError("this Fit has no model (it was loaded from disk): pass the model to predict(model, ...)")
        post = self.samples
        self._check_model_sites(model, args, kwargs, set(prior_sites))
        total = next(iter(post.values())).shape[0]
        if num_draws is not None:
            if not 1 <= num_draws <= total:
                raise ValueError(f"num_draws must be in [1, {total}], got {num_draws}")
            idx = np.round(np.linspace(0, total - 1, num_draws)).astype(int)
            post = {k: v[idx] for k, v in post.items()}
        pred = Predictive(model, posterior_samples=post, return_sites=return_sites, batch_ndims=1)
        return pred(jax.random.PRNGKey(seed), *args, **kwargs)

    def _check_model_sites(self, model, args: tuple, kwargs: dict, allowed: set) -> None:
        """Refuse a model whose latent sites the fit cannot supply (see :meth:`predict`)."""
        from bayeskern.infer._util import latent_site_names, trace_model

        have = set(self.samples)
        first = {k: v[0] for k, v in self.samples.items()}

        def missing_in(a, k):
            tr = trace_model(model, a, k, data=first)
            latent = latent_site_names(tr)
            return [n for n in latent if n not in have and n not in allowed], set(tr)

        if self.model_args or self.model_kwargs:
            # the fitted arguments reproduce the fitted model: every latent site must be in the fit
            lacking, _ = missing_in(self.model_args, self.model_kwargs)
            if lacking:
                raise ValueError(
                    f"predict: the model has latent sites {lacking} that this fit does not hold (it has "
                    f"{sorted(have)}), so they would be drawn from their prior; pass the fitted model, or list "
                    "them in prior_sites=[...] to draw them from the prior on purpose"
                )
        lacking, sites = missing_in(args, kwargs)
        unused = sorted(have - sites)
        if lacking and unused:
            raise ValueError(
                f"predict: the model does not match this fit: it has latent sites {lacking} the fit lacks and "
                f"leaves the fit's sites {unused} unused (renamed sites, or another model); pass the fitted "
                "model, or list the sites in prior_sites=[...] to draw them from the prior on purpose"
            )

    # ------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike) -> str:
        """Write the fit to a netCDF-4 file (the ArviZ DataTree, h5netcdf engine); returns the path.

        The file holds posterior draws, sample stats, observed data, the
        pointwise log likelihood (computed now when the model is at hand),
        the losses and the method; :meth:`load` restores them bit for bit.
        The model, its arguments, the MCMC object and the SVI guide are code
        or live objects and are not saved. Needs ``h5py`` (h5netcdf's backend).
        """
        import xarray as xr

        dt = self.to_arviz(log_likelihood=self.log_likelihood is not None)
        state = {}
        if self.losses is not None:
            state["losses"] = xr.DataArray(self.losses, dims=[f"{_ATTR_PREFIX}step"])
        # subclasses' own attributes (a CoxFit's grid, events, counts): packed arrays in the state group
        arrays: dict[str, np.ndarray] = {}
        extra = {k: pack(v, arrays, where=f"{type(self).__name__}.{k}") for k, v in self._extra_state().items()}
        for k, v in arrays.items():
            state[f"{_ATTR_PREFIX}{k}"] = xr.DataArray(v, dims=[f"{_ATTR_PREFIX}{k}_{i}" for i in range(v.ndim)])
        dt[_STATE_GROUP] = xr.DataTree(xr.Dataset(state))
        saveable = {k: v for k, v in self.extras.items() if isinstance(v, (str, int, float, bool))}
        dt.attrs.update(
            {
                f"{_ATTR_PREFIX}class": f"{type(self).__module__}:{type(self).__qualname__}",
                f"{_ATTR_PREFIX}method": self.method,
                f"{_ATTR_PREFIX}dims": json.dumps(self.dims),
                f"{_ATTR_PREFIX}extras": json.dumps(saveable),
                f"{_ATTR_PREFIX}state": json.dumps(extra),
            }
        )
        dt.to_netcdf(os.fspath(path), engine="h5netcdf")
        return os.fspath(path)

    def _extra_state(self) -> dict[str, Any]:
        """Attributes a subclass adds to :class:`Fit` that :meth:`save` must keep (default: none)."""
        return {}

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Fit":
        """Read a fit written by :meth:`save` (as its own class: a saved ``CoxFit`` loads as one).

        The result has ``model=None``.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is not a fit written by ``save`` (an optimiser's or an
                integral's ``.npz`` archive is named: read those with ``bayeskern.load``).
        """
        # Refuse a missing file or a non-HDF5 one here, naming the path, before h5py's "file signature not found".
        if not os.path.isfile(os.fspath(path)):
            raise FileNotFoundError(f"{cls.__name__}.load: no file at {os.fspath(path)!r} "
                                    f"(expected a fit written by {cls.__name__}.save)")
        with open(os.fspath(path), "rb") as fh:
            magic = fh.read(8)
        if magic != b"\x89HDF\r\n\x1a\n":
            hint = ""
            if magic[:4] == b"PK\x03\x04":
                kind = saved_class_name(path)
                hint = (f" (it holds a {kind}: use {kind}.load or bayeskern.load)" if kind else
                        " (it is a zip/.npz archive)")
            raise ValueError(f"{cls.__name__}.load: {os.fspath(path)!r} is not a fit written by Fit.save: "
                             f"expected a netCDF-4 (HDF5) file{hint}")
        return cls.load_netcdf(path, expected=cls)

    @classmethod
    def load_netcdf(cls, path: str | os.PathLike, expected: type = Result) -> "Fit":
        """Read a fit's netCDF-4 file as the class it was saved from, which must be a subclass of ``expected``."""
        import arviz as az

        dt = az.from_netcdf(os.fspath(path), engine="h5netcdf")
        try:
            dt.load()

            def group(name):
                if name not in dt.children:
                    return {}
                return {k: np.asarray(v.values) for k, v in dt[name].data_vars.items()}

            if f"{_ATTR_PREFIX}method" not in dt.attrs:
                raise ValueError(f"{os.fspath(path)!r} was not written by Fit.save (no {_ATTR_PREFIX}method attribute)")
            target = resolve_class(str(dt.attrs.get(f"{_ATTR_PREFIX}class", "bayeskern.infer.fit:Fit")))
            if not issubclass(target, expected):
                raise ValueError(f"{expected.__name__}.load: {os.fspath(path)!r} holds a {target.__name__}, "
                                 f"not a {expected.__name__}; use {target.__name__}.load or bayeskern.load")
            state = group(_STATE_GROUP)
            arrays = {k[len(_ATTR_PREFIX):]: v for k, v in state.items() if k.startswith(_ATTR_PREFIX)}
            extra = json.loads(dt.attrs.get(f"{_ATTR_PREFIX}state", "{}"))
            ll = group("log_likelihood")
            fit = Fit(
                group("posterior"),
                method=str(dt.attrs[f"{_ATTR_PREFIX}method"]),
                sample_stats=group("sample_stats"),
                losses=state.get("losses"),
                log_likelihood=ll or None,
                observed_data=group("observed_data"),
                dims=json.loads(dt.attrs.get(f"{_ATTR_PREFIX}dims", "{}")),
                extras=json.loads(dt.attrs.get(f"{_ATTR_PREFIX}extras", "{}")),
            )
        finally:
            dt.close()
        if target is Fit:
            return fit
        out = object.__new__(target)
        out.__dict__.update(fit.__dict__)
        for k, v in extra.items():
            setattr(out, k, unpack(v, arrays))
        return out

    # ------------------------------------------------------------ display
    def _display_facts(self) -> dict[str, str]:
        """Cheap facts only: nothing here computes a log likelihood or a diagnostic."""
        sites = ", ".join(
            f"{k}{shape_str(v.shape[2:]) if v.ndim > 2 else ''}" for k, v in self.samples_by_chain.items()
        )
        if self._log_likelihood is not None:
            ll = "yes (" + ", ".join(self._log_likelihood) + ")"
        elif self.model is not None and self.observed_data:
            ll = "computed on first use"
        else:
            ll = "no"
        facts = {"method": repr(self.method), "draws": f"{self.num_chains} chains x {self.num_draws}",
                 "sites": f"[{sites}]", "log_likelihood": ll}
        hint = []
        if "diverging" in self.sample_stats:
            hint.append(f"{int(np.sum(self.sample_stats['diverging']))} divergences")
        if "reached_max_tree_depth" in self.sample_stats:
            hint.append(f"{int(np.sum(self.sample_stats['reached_max_tree_depth']))} max-tree-depth hits")
        if hint:
            facts["sampler"] = ", ".join(hint) + " (full verdict: bayeskern.diagnostics.check(fit))"
        return facts

    def __repr__(self) -> str:
        """``Fit(method='nuts', draws=2 chains x 500, sites=[ell, noise, f(3,)], log_likelihood=..., sampler=...)``."""
        facts = self._display_facts()
        if "sampler" in facts:
            facts["sampler"] = facts["sampler"].split(" (full verdict")[0]
        return call_repr("Fit", facts)

    def _repr_html_(self) -> str:
        """A small HTML table: method, chains x draws, each site's shape, log likelihood, sampler hint (Jupyter)."""
        facts = self._display_facts()
        rows = {k: v for k, v in facts.items() if k != "sites"}
        for k, v in self.samples_by_chain.items():
            rows[f"site {k}"] = shape_str(v.shape[2:])
        if self.observed_data:
            rows["observed"] = ", ".join(f"{k}{shape_str(v.shape)}" for k, v in self.observed_data.items())
        return html_table("Fit", rows)
