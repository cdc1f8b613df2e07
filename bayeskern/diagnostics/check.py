"""`check`: convergence and reliability diagnostics turned into advice a user can act on."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayeskern.diagnostics.convert import to_arviz
from bayeskern.infer.fit import Fit


@dataclass
class Verdict:
    """Outcome of :func:`check`.

    Attributes:
        ok: ``True`` when no problem was found.
        problems: plain-English problems, each with what to do about it.
        notes: caveats that are not failures (e.g. R-hat skipped for one chain).
        table: one row per posterior variable: worst ``r_hat`` (max over its
            elements), worst ``ess_bulk`` and ``ess_tail`` (min), ``ok``.
        sampler: whole-run numbers: ``chains``, ``draws``, ``divergences``,
            ``max_tree_depth_hits``, ``ebfmi`` (per chain), and per
            log-likelihood variable ``pareto_k_bad`` / ``pareto_k_max`` / ``n_obs``.
        thresholds: the thresholds used.
    """

    ok: bool
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    sampler: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        t = self.thresholds
        lines = [
            "Verdict: OK" if self.ok else f"Verdict: {len(self.problems)} problem(s) found",
            f"Thresholds: R-hat <= {t.get('rhat_max')}, bulk and tail ESS >= {t.get('ess_min')}, "
            f"divergences = 0, E-BFMI >= {t.get('ebfmi_min')}, Pareto k <= {t.get('pareto_k_max')}",
        ]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        if not self.table.empty:
            lines += ["", self.table.to_string(float_format=lambda x: f"{x:.4g}")]
        s = self.sampler
        if s:
            bits = [f"{s.get('chains')} chain(s) x {s.get('draws')} draws"]
            if "divergences" in s:
                bits.append(f"divergences {s['divergences']}")
            if "max_tree_depth_hits" in s:
                bits.append(f"max tree depth hits {s['max_tree_depth_hits']}")
            if "ebfmi" in s:
                bits.append("E-BFMI " + ", ".join(f"{v:.2f}" for v in s["ebfmi"]))
            lines += ["", "Sampler: " + "; ".join(bits)]
            for name, k in s.get("pareto_k", {}).items():
                lines.append(f"Pareto k '{name}': {k['bad']} of {k['n_obs']} above {t.get('pareto_k_max')} (max {k['max']:.2f})")
        return "\n".join(lines)


def ebfmi(energy) -> np.ndarray:
    """E-BFMI per chain from ``(chain, draw)`` Hamiltonian energies.

    ``sum_t (E_t - E_{t-1})^2 / sum_t (E_t - mean E)^2``, chain by chain
    (Betancourt 2016); values below about 0.3 mean the momentum resampling
    explores the energy distribution poorly (heavy tails, funnels).
    """
    e = np.asarray(energy, dtype=float)
    num = np.sum(np.diff(e, axis=1) ** 2, axis=1)
    den = np.sum((e - e.mean(axis=1, keepdims=True)) ** 2, axis=1)
    return num / den


def _as_datatree(fit_or_dt):
    from xarray import DataTree

    if isinstance(fit_or_dt, DataTree):
        return fit_or_dt

    if not isinstance(fit_or_dt, Fit):
        raise TypeError(
            "check() takes a bayeskern Fit (what nuts, svi, laplace, inla return, or Fit.load reads) or an "
            f"ArviZ DataTree (fit.to_arviz()); got {type(fit_or_dt).__name__}. For a dict of draws, build a "
            "DataTree first, e.g. arviz.from_dict({'posterior': draws}) with arrays shaped (chain, draw, ...)"
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_arviz(fit_or_dt, log_likelihood=True)


def _worst(ds, var, largest: bool, limit: float) -> tuple[float, str]:
    """Worst finite value of ``ds[var]`` over its elements, and a label such as ``'f[3]' (worst of 100
    elements, 12 beyond the threshold)``: one line per variable however many cells a field has."""
    values = np.asarray(ds[var].values, dtype=float)
    if values.ndim == 0:
        return (float(values), f"'{var}'") if np.isfinite(values) else (np.nan, f"'{var}'")
    masked = np.where(np.isfinite(values), values, -np.inf if largest else np.inf)
    flat = int(np.argmax(masked) if largest else np.argmin(masked))
    worst = float(masked.ravel()[flat])
    if not np.isfinite(worst):
        return np.nan, f"'{var}'"
    idx = ", ".join(map(str, np.unravel_index(flat, values.shape)))
    beyond = int(np.sum(masked > limit) if largest else np.sum(masked < limit))
    return worst, f"'{var}[{idx}]' (worst of {values.size} elements, {beyond} beyond the threshold)"


def check(
    fit_or_datatree,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400,
    ebfmi_min: float = 0.3,
    pareto_k_max: float = 0.7,
    var_names=None,
) -> Verdict:
    """Check a fit (or an ArviZ ``DataTree``) and say in words what, if anything, to fix.

    Checks, each against its threshold:

    - rank-normalised split R-hat per variable (needs >= 2 chains; skipped,
      with a note, for one chain and for SVI/Laplace draws);
    - bulk and tail ESS per variable, total over chains;
    - divergent transitions (any is a problem), hits of the maximum tree
      depth, E-BFMI per chain (``az.bfmi``; NUTS runs only);
    - Pareto k of PSIS-LOO (``az.loo(pointwise=True)``) per observation, for
      each log-likelihood variable when that group is present.

    Elements whose draws are all equal (e.g. a deterministic constant) have no
    R-hat/ESS and are skipped.

    Args:
        fit_or_datatree: a :class:`bayeskern.infer.Fit` or an ArviZ ``DataTree``.
        rhat_max: largest acceptable R-hat.
        ess_min: smallest acceptable bulk and tail ESS.
        ebfmi_min: smallest acceptable E-BFMI.
        pareto_k_max: largest acceptable Pareto k.
        var_names: posterior variables to check (default all).

    Returns:
        A :class:`Verdict`; ``print(verdict)`` shows the verdict with thresholds.
    """
    import arviz as az

    dt = _as_datatree(fit_or_datatree)
    method = dt.attrs.get("inference_method", getattr(fit_or_datatree, "method", None))
    post = dt["posterior"].to_dataset()
    names = list(post.data_vars) if var_names is None else list(var_names)
    chains, draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    problems, notes = [], []
    thresholds = {"rhat_max": rhat_max, "ess_min": ess_min, "ebfmi_min": ebfmi_min, "pareto_k_max": pareto_k_max}

    # variables whose every element is constant carry no information for R-hat/ESS
    varying = {}
    for v in names:
        arr = np.asarray(post[v].values, dtype=float)
        flat = arr.reshape(chains * draws, -1)
        if not np.all(np.isfinite(flat)):
            problems.append(f"'{v}' has non-finite draws: the model produces NaN/inf there; check priors and numerics")
        varying[v] = bool(np.any(np.nanstd(flat, axis=0) > 0))
    live = [v for v in names if varying[v]]

    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(post[live]) if chains >= 2 and live else None
        ess_b = az.ess(post[live], method="bulk") if live else None
        ess_t = az.ess(post[live], method="tail") if live else None
    if chains < 2:
        notes.append(
            "R-hat needs at least 2 chains and was not computed"
            + (f"; {method} draws are independent, so R-hat/ESS say nothing about the approximation's accuracy"
               if method in ("svi", "laplace") else "; run 4 chains")
        )
    for v in names:
        row = {"r_hat": np.nan, "ess_bulk": np.nan, "ess_tail": np.nan, "ok": True}
        if varying[v]:
            where = {}
            if rhat is not None:
                row["r_hat"], where["r_hat"] = _worst(rhat, v, largest=True, limit=rhat_max)
            row["ess_bulk"], where["bulk"] = _worst(ess_b, v, largest=False, limit=ess_min)
            row["ess_tail"], where["tail"] = _worst(ess_t, v, largest=False, limit=ess_min)
            if row["r_hat"] > rhat_max:
                row["ok"] = False
                problems.append(
                    f"R-hat {row['r_hat']:.3f} for {where['r_hat']} exceeds {rhat_max}: chains disagree; run longer "
                    "chains (more num_warmup/num_samples), check for multimodality, or reparametrise"
                )
            advice = {
                "bulk": "draw more samples (num_samples) or chains, or reparametrise: the draws are strongly autocorrelated",
                "tail": "draw more samples (num_samples) or chains to estimate tail quantiles and intervals reliably",
            }
            for kind in ("bulk", "tail"):
                ess = row[f"ess_{kind}"]
                if ess < ess_min:
                    row["ok"] = False
                    problems.append(f"{kind.capitalize()} ESS {ess:.0f} for {where[kind]} is below {ess_min:g}: {advice[kind]}")
        rows[v] = row
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["r_hat", "ess_bulk", "ess_tail", "ok"])

    sampler: dict[str, Any] = {"chains": chains, "draws": draws}
    if "sample_stats" in dt.children:
        stats = dt["sample_stats"].to_dataset()
        if "diverging" in stats:
            n_div = int(np.sum(stats["diverging"].values))
            sampler["divergences"] = n_div
            if n_div:
                problems.append(
                    f"{n_div} divergent transition(s) after warm-up ({n_div / (chains * draws):.1%} of draws): "
                    "the sampler missed regions of high curvature, so the posterior may be biased; raise "
                    "target_accept_prob (e.g. 0.95 or 0.99), or reparametrise (non-centred / whitened latents)"
                )
        if "reached_max_tree_depth" in stats:
            hits = int(np.sum(stats["reached_max_tree_depth"].values))
            sampler["max_tree_depth_hits"] = hits
            if hits:
                problems.append(
                    f"{hits} transition(s) hit the maximum tree depth: trajectories were cut short (an efficiency "
                    "problem); raise max_tree_depth, use a dense mass matrix, or reparametrise"
                )
        if "energy" in stats:
            try:
                values = np.asarray(az.bfmi(dt)["energy"].values, dtype=float).ravel()
            except Exception:  # noqa: BLE001 - fall back to the textbook formula
                values = ebfmi(stats["energy"].values)
            sampler["ebfmi"] = [float(x) for x in values]
            low = [i for i, x in enumerate(values) if x < ebfmi_min]
            if low:
                problems.append(
                    f"E-BFMI below {ebfmi_min} in chain(s) {low} ({', '.join(f'{values[i]:.2f}' for i in low)}): "
                    "momentum resampling explores the energy poorly (heavy tails or a funnel); reparametrise or "
                    "use tighter priors"
                )

    if "log_likelihood" in dt.children:
        sampler["pareto_k"] = {}
        for v in dt["log_likelihood"].data_vars:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = az.loo(dt, pointwise=True, var_name=v)
            except Exception as err:  # noqa: BLE001 - report, do not crash the check
                notes.append(f"PSIS-LOO for '{v}' could not be computed ({err}); Pareto k not checked")
                continue
            k = np.asarray(res.pareto_k.values, dtype=float).ravel()
            bad = int(np.sum(k > pareto_k_max))
            sampler["pareto_k"][v] = {"bad": bad, "n_obs": int(k.size), "max": float(np.max(k)) if k.size else np.nan}
            if bad:
                problems.append(
                    f"{bad} of {k.size} observation(s) of '{v}' have Pareto k above {pareto_k_max} (max "
                    f"{np.max(k):.2f}): PSIS-LOO is unreliable for them; use exact or K-fold cross-validation for "
                    "those points, and check them for outliers or model misspecification"
                )
            good_k = getattr(res, "good_k", None)
            if good_k is not None and good_k < pareto_k_max:
                notes.append(
                    f"with {chains * draws} draws PSIS is only reliable for k <= {good_k:.2f} (stricter than "
                    f"{pareto_k_max}); draw more samples for a more lenient threshold"
                )
    else:
        notes.append("no log_likelihood group: Pareto k (PSIS-LOO) not checked")

    return Verdict(
        ok=not problems, problems=problems, notes=notes, table=table, sampler=sampler, thresholds=thresholds
    )
