"""Shared plumbing for the runners: init strategies, the unconstrained mode finder, model traces.

Everything here works on an ordinary NumPyro model and its sites; nothing
knows about Gaussian processes or any other model family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import optax
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer import init_to_median, init_to_uniform, init_to_value
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from bayeskern.optim import lbfgs_minimize


def resolve_init_strategy(init) -> Callable:
    """A NumPyro init strategy for ``init``.

    Args:
        init: ``"median"`` (``init_to_median``), a mapping site -> constrained
            value (``init_to_value``; sites left out fall back to uniform
            initialisation), or a NumPyro init strategy (a callable).

    Returns:
        The init strategy callable.
    """
    if isinstance(init, str):
        if init == "median":
            return init_to_median(num_samples=15)
        raise ValueError(f"init must be 'median', 'map', a dict of site values or an init strategy, got {init!r}")
    if isinstance(init, Mapping):
        return init_to_value(values={k: jnp.asarray(v) for k, v in init.items()})
    if callable(init):
        return init
    raise ValueError(f"init must be 'median', 'map', a dict of site values or an init strategy, got {init!r}")


def check_site_names(names, model, args: tuple, kwargs: dict, what: str) -> None:
    """Refuse names that are not latent sample sites of ``model(*args, **kwargs)`` (one eager trace).

    Raises:
        ValueError: naming the unknown sites, the latent sites the model has,
            and a close match for each unknown name.
    """
    import difflib

    names = list(names)
    if not names:
        return
    latent = latent_site_names(trace_model(model, args, kwargs))
    unknown = [n for n in names if n not in latent]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(str(n), latent, n=1)
            hints.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"{what} names site(s) the model does not have: {', '.join(hints)}; its latent sites are {latent}"
        )


def initial_values(model, args: tuple, kwargs: dict, *, init="median", seed: int = 0) -> dict:
    """Constrained starting values of every latent site under a bayeskern init spec (not ``"map"``).

    Runs the model once, eagerly, with the init strategy substituted (as
    NumPyro's own initialisation does, minus its compiled retry loop).
    """
    if isinstance(init, Mapping):
        check_site_names(init, model, args, kwargs, "init")
    strategy = resolve_init_strategy(init)
    m = handlers.substitute(handlers.seed(model, rng_seed=seed), substitute_fn=strategy)
    tr = handlers.trace(m).get_trace(*args, **kwargs)
    return {name: tr[name]["value"] for name in latent_site_names(tr)}


def unconstrained_dim(model, args: tuple, kwargs: dict) -> int:
    """Total size of the model's latent sites in unconstrained space (one cheap trace, no compile)."""
    from numpyro.distributions.transforms import biject_to

    tr = trace_model(model, args, kwargs)
    total = 0
    for name in latent_site_names(tr):
        site = tr[name]
        shape = biject_to(site["fn"].support).inverse_shape(np.shape(site["value"]))
        total += int(np.prod(shape))
    return total


def flat_labels(z: Mapping[str, Any]) -> list[str]:
    """Labels ``site`` or ``site[i, j]`` for each coordinate of ``ravel_pytree(z)``."""
    labels = []
    for name in sorted(z):  # dict leaves flatten in sorted-key order
        shape = np.shape(z[name])
        if shape == ():
            labels.append(name)
        else:
            labels.extend(f"{name}[{', '.join(map(str, idx))}]" for idx in np.ndindex(*shape))
    return labels


def default_mode_optimizer(steps: int) -> optax.GradientTransformation:
    """Adam with a cosine-decayed step (0.05 down to 5e-4), for ``find_mode(..., optimizer="adam")``.

    Fixed-step first-order search: the choice for stochastic objectives; the
    deterministic default is L-BFGS with a convergence test.
    """
    return optax.adam(optax.cosine_decay_schedule(0.05, max(int(steps), 1), alpha=0.01))


@dataclass
class Mode:
    """The mode of the log density in unconstrained space.

    Attributes:
        z: the flat unconstrained mode, shape ``(D,)``.
        unravel: maps a flat ``(D,)`` vector back to the dict of unconstrained sites.
        losses: potential energy (negative log density, Jacobian included) per iteration, ``(iterations,)``.
        labels: one label per coordinate of ``z``.
        model, args, kwargs: the model and its arguments.
        converged: the gradient test was met (always ``True`` for a fixed-step optax search, which has none).
        grad_norm: max |gradient| of the potential at ``z``.
    """

    z: jax.Array
    unravel: Callable
    losses: np.ndarray
    labels: list[str]
    model: Callable
    args: tuple
    kwargs: dict
    converged: bool = True
    grad_norm: float = float("nan")

    def potential(self, flat, args=None, kwargs=None):
        """Negative log density (Jacobian included) at a flat unconstrained point."""
        args = self.args if args is None else args
        kwargs = self.kwargs if kwargs is None else kwargs
        return potential_energy(self.model, args, kwargs, self.unravel(flat))

    def jitted(self, fn: Callable) -> Callable:
        """``jit`` of ``fn(mode, flat, args, kwargs)`` as a function of ``flat``, model arrays traced."""
        arrays, rebuild = split_arrays(self.args, self.kwargs)
        run = jax.jit(lambda flat, arrs: fn(self, flat, *rebuild(arrs)))
        return lambda flat: run(flat, arrays)

    def hessian(self) -> np.ndarray:
        """Hessian ``(D, D)`` of the potential at ``z`` (NumPy, float64), for Laplace and mass matrices."""
        return np.asarray(self.jitted(lambda m, z, a, k: jax.hessian(m.potential)(z, a, k))(self.z))

    def inverse_mass_matrix(self, dense: bool) -> np.ndarray | None:
        """The Laplace covariance at the mode as an HMC inverse mass matrix, or None where it is not PD.

        ``(D, D)`` when ``dense``, else its diagonal ``(D,)`` (``1 / diag(H)``). Seeding warm-up with
        it gives short trajectories from the first iteration instead of after the first adaptation
        window, when the posterior scales differ by orders of magnitude.
        """
        hess = self.hessian()
        if not np.all(np.isfinite(hess)):
            return None
        sym = 0.5 * (hess + hess.T)
        evals, evecs = np.linalg.eigh(sym)
        if not evals.min() > 1e-10 * max(evals.max(), 1e-300):
            return None
        if not dense:
            return 1.0 / np.diag(sym) if np.all(np.diag(sym) > 0) else None
        cov = (evecs / evals) @ evecs.T
        return 0.5 * (cov + cov.T)

    def constrained(self, flat=None) -> dict:
        """Constrained latent and deterministic site values at ``flat`` (default: the mode)."""
        params = self.unravel(self.z if flat is None else flat)
        return constrain_fn(self.model, self.args, self.kwargs, params, return_deterministic=True)

    def latent(self) -> dict:
        """Constrained latent site values at the mode (no deterministic sites)."""
        return constrain_fn(self.model, self.args, self.kwargs, self.unravel(self.z))


def find_mode(model, args, kwargs, *, init="median", steps=1000, optimizer=None, seed=0) -> Mode:
    """Minimise the potential energy in unconstrained space.

    This is the MAP of the density NUTS samples (unconstrained space, log
    Jacobian included), which for scale parameters avoids the collapse a
    constrained-space MAP can show in hierarchical models.

    By default (``optimizer=None``) optax's L-BFGS with a zoom line search
    runs until ``max |∇U| <= 1e-7 · max(1, |U|)`` or ``steps`` iterations;
    ``Mode.converged`` says whether the test was met (a search that stalls
    with the gradient within 1000x of the test also counts: round-off stops
    line searches before the strict test). An ``optax.GradientTransformation``
    (e.g. Adam for stochastic objectives) runs exactly ``steps`` steps instead.

    Raises:
        FloatingPointError: the final potential energy is not finite.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    steps = int(steps)
    start = initial_values(model, args, kwargs, init=init, seed=seed)
    if not start:
        raise ValueError("the model has no latent sample sites to optimise")
    z_start = unconstrain_fn(model, args, kwargs, start)
    z0, unravel = ravel_pytree(z_start)
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation or None, got {type(optimizer).__name__}")
    mode = Mode(z=z0, unravel=unravel, losses=np.zeros(0), labels=flat_labels(z_start), model=model, args=args, kwargs=kwargs)
    if not np.isfinite(float(mode.potential(z0))):
        raise FloatingPointError(f"the log density is not finite at the initial values {start}; choose another `init`")

    if optimizer is None:
        res = mode.jitted(lambda m, z_init, a, k: lbfgs_minimize(lambda z: m.potential(z, a, k), z_init, steps))(z0)
        z, final, gmax, converged = res.x, res.value, float(res.grad_max), bool(res.converged)
        losses = np.asarray(res.losses)[: int(res.iterations)]
    else:
        opt = optimizer

        def run(m, z_init, a, k):
            def step(carry, _):
                z, state = carry
                loss, grad = jax.value_and_grad(m.potential)(z, a, k)
                updates, state = opt.update(grad, state, z)
                return (optax.apply_updates(z, updates), state), loss

            (z, _), losses = jax.lax.scan(step, (z_init, opt.init(z_init)), None, length=steps)
            value, grad = jax.value_and_grad(m.potential)(z, a, k)
            return z, losses, value, jnp.max(jnp.abs(grad))

        z, losses, final, gmax = mode.jitted(run)(z0)
        losses, gmax, converged = np.asarray(losses), float(gmax), True
    if not np.isfinite(float(final)) or not np.all(np.isfinite(np.asarray(z))):
        raise FloatingPointError(
            f"mode search ended at a non-finite log density (potential {float(final)}); "
            "change `init`, or check the model for NaNs"
        )
    mode.z, mode.losses, mode.converged, mode.grad_norm = z, losses, converged, gmax
    return mode


def trace_model(model, args: tuple, kwargs: dict, data: Mapping | None = None, seed: int = 0):
    """The NumPyro trace of ``model(*args, **kwargs)``, seeded, optionally with substituted values."""
    m = handlers.seed(model, rng_seed=seed)
    if data:
        m = handlers.substitute(m, data=dict(data))
    return handlers.trace(m).get_trace(*args, **kwargs)


def split_arrays(args: tuple, kwargs: dict):
    """Split model arguments into array leaves (to pass through ``jit``) and a function rebuilding them.

    Array leaves of ``(args, kwargs)`` become jit arguments, so large inputs
    are not baked into compiled programs as constants; every other leaf
    (Python scalars, strings, non-pytree objects) stays static.

    Returns:
        ``(arrays, rebuild)`` with ``rebuild(arrays) == (args, kwargs)``.
    """
    leaves, treedef = jax.tree_util.tree_flatten((tuple(args), dict(kwargs)))
    is_array = [isinstance(leaf, (jax.Array, np.ndarray)) for leaf in leaves]

    def rebuild(arrays):
        it = iter(arrays)
        full = [next(it) if a else leaf for leaf, a in zip(leaves, is_array, strict=True)]
        return jax.tree_util.tree_unflatten(treedef, full)

    return [leaf for leaf, a in zip(leaves, is_array, strict=True) if a], rebuild


def jit_vmap_over_draws(fn: Callable, args: tuple, kwargs: dict) -> Callable:
    """``jit(vmap(lambda draw: fn(draw, *args, **kwargs)))``, array arguments traced (see :func:`split_arrays`).

    One compiled call is far cheaper than op-by-op dispatch under ``vmap``.
    """
    arrays, rebuild = split_arrays(args, kwargs)

    @jax.jit
    def run(draws, arrs):
        a, k = rebuild(arrs)
        return jax.vmap(lambda d: fn(d, *a, **k))(draws)

    return lambda draws: run(draws, arrays)


def latent_site_names(tr) -> list[str]:
    """Names of unobserved, non-auxiliary sample sites in a trace."""
    return [
        name
        for name, site in tr.items()
        if site["type"] == "sample" and not site["is_observed"] and not site.get("infer", {}).get("is_auxiliary")
    ]


def is_observation(site) -> bool:
    """An observed sample site holding data: ``numpyro.factor`` sites (``Unit`` distributions) are not."""
    if site["type"] != "sample" or not site["is_observed"]:
        return False
    fn = site["fn"]
    while isinstance(fn, (dist.ExpandedDistribution, dist.MaskedDistribution, dist.Independent)):
        fn = fn.base_dist
    return not isinstance(fn, dist.Unit)


def observed_values(model, args: tuple, kwargs: dict) -> dict[str, np.ndarray]:
    """Observed values of every observation site (factors excluded), as NumPy arrays."""
    tr = trace_model(model, args, kwargs)
    return {name: np.asarray(site["value"]) for name, site in tr.items() if is_observation(site)}


def complete_samples(model, latent: Mapping[str, Any], args: tuple, kwargs: dict) -> dict[str, np.ndarray]:
    """Add deterministic sites to draws of the latent sites.

    Args:
        model: the NumPyro model.
        latent: site -> ``(draws, ...)`` constrained draws of every latent site.

    Returns:
        site -> ``(draws, ...)`` NumPy arrays of latent and deterministic sites.

    Raises:
        ValueError: a latent site of the model has no draws (so it would be
            silently drawn from its prior).
    """
    latent = {k: jnp.asarray(v) for k, v in latent.items()}
    first = {k: v[0] for k, v in latent.items()}
    tr = trace_model(model, args, kwargs, data=first)
    missing = [n for n in latent_site_names(tr) if n not in latent]
    if missing:
        raise ValueError(f"the guide/approximation gives no draws for latent sites {missing}")
    det = [name for name, site in tr.items() if site["type"] == "deterministic"]
    keep = latent_site_names(tr)
    if det:
        def one(draw, *a, **k):
            t = trace_model(model, a, k, data=draw)
            return {n: t[n]["value"] for n in det}

        extra = jit_vmap_over_draws(one, args, kwargs)({k: latent[k] for k in keep})
    else:
        extra = {}
    out = {k: np.asarray(latent[k]) for k in keep}
    out.update({k: np.asarray(v) for k, v in extra.items()})
    return out


def plate_dims(model, args: tuple, kwargs: dict) -> dict[str, list[str]]:
    """ArviZ dim names from plates (and ``infer={"event_dims": [...]}``) for sites they fully cover.

    A site gets names only when its plates (outermost first) plus declared
    event dims account for every axis of its value, so names never
    misalign; other sites keep ArviZ's default ``<site>_dim_<i>`` names.
    """
    try:
        tr = trace_model(model, args, kwargs)
    except Exception:  # noqa: BLE001 - dims are cosmetic; never fail a fit over them
        return {}
    dims = {}
    for name, site in tr.items():
        if site["type"] not in ("sample", "deterministic"):
            continue
        frames = sorted(site.get("cond_indep_stack", []), key=lambda f: f.dim)
        event = list(site.get("infer", {}).get("event_dims", []))
        names = [f.name for f in frames] + event
        shape = np.shape(site["value"])
        if not names or len(names) != len(shape):
            continue
        if any(f.size != shape[i] for i, f in enumerate(frames)) or len(set(names)) != len(names):
            continue
        if site["type"] == "sample" and frames and frames[0].dim != -len(shape) + len(event):
            continue
        dims[name] = names
    return dims



def check_model_arguments(model, args: tuple, kwargs: dict, runner: Callable) -> None:
    """Refuse model arguments the model does not take, before any tracing.

    Runners pass unknown keywords on to the model, so a misspelt runner
    option (``num_warmups=``) would otherwise surface as the model's own
    ``TypeError`` (or, for a model taking ``**kwargs``, be ignored).

    Raises:
        TypeError: naming the argument, the model's parameters and the
            runner's options, with a close match when there is one.
    """
    import difflib
    import inspect

    try:
        signature = inspect.signature(model)
    except (TypeError, ValueError):  # builtins or C callables: nothing to check against
        return
    try:
        signature.bind(*args, **kwargs)
        return
    except TypeError as err:
        problem = str(err)
    name = getattr(runner, "__name__", "the runner")
    options = [p.name for p in inspect.signature(runner).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY or (p.default is not inspect.Parameter.empty)]
    params = list(signature.parameters)
    unknown = [k for k in kwargs if k not in signature.parameters
               and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())]
    hints = []
    for k in unknown:
        close = difflib.get_close_matches(k, options + params, n=1)
        hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    detail = f"keyword(s) {', '.join(hints)} are neither options of {name} nor parameters of the model" if hints \
        else f"the model cannot be called with these arguments ({problem})"
    raise TypeError(
        f"{name}: {detail}; the model takes {params}, and {name}'s options are {options}"
    )


def validate_observations(model, args: tuple, kwargs: dict) -> None:
    """Evaluate every observed site's log density once on the concrete data, before any tracing.

    Distributions check their data on concrete values (NaN, mismatched
    lengths, negative counts, ...), and raise a ``ValueError`` naming the
    problem; inside NUTS or ``jit`` the data are tracers and those checks
    cannot run, and NumPyro's own shape errors name neither argument.
    """
    # Latent values come from the unconstrained box NumPyro initialises in, so
    # sites without a sampler (ImproperUniform, custom densities) still trace.
    seeded = handlers.seed(model, rng_seed=0)
    tr = handlers.trace(handlers.substitute(seeded, substitute_fn=init_to_uniform)).get_trace(*args, **kwargs)
    for site in tr.values():
        if site["type"] == "sample" and site.get("is_observed") and not _is_factor(site):
            site["fn"].log_prob(site["value"])


def _is_factor(site) -> bool:
    return type(site["fn"]).__name__ == "Unit"


# -- sampler statistics (NUTS runs and Fit.from_numpyro) --------------------------------
#: ArviZ ``sample_stats`` names of NumPyro's extra fields.
_STAT_NAMES = {
    "diverging": "diverging",
    "energy": "energy",
    "num_steps": "n_steps",
    "accept_prob": "acceptance_rate",
    "adapt_state.step_size": "step_size",
    "potential_energy": "lp",
}
#: NumPyro's default NUTS tree depth limit.
MAX_TREE_DEPTH = 10


def _sample_stats(extra: Mapping, max_tree_depth: int) -> dict[str, np.ndarray]:
    stats = {}
    for key, name in _STAT_NAMES.items():
        if key in extra:
            value = np.asarray(extra[key])
            stats[name] = -value if key == "potential_energy" else value
    if "n_steps" in stats:
        depth = np.log2(stats["n_steps"]).astype(np.int64) + 1
        stats["tree_depth"] = depth
        stats["reached_max_tree_depth"] = depth >= max_tree_depth
    return stats
