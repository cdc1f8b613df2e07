"""Plots of fits: trace and rank plots (ArviZ), posterior predictive bands (matplotlib).

All functions return the matplotlib ``Figure`` and save it when ``path`` is
given. They never pick a matplotlib backend themselves; in a headless run
matplotlib falls back to Agg (or set ``MPLBACKEND=Agg``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from bayeskern.diagnostics.convert import to_arviz


def _datatree(fit_or_dt):
    from xarray import DataTree

    if isinstance(fit_or_dt, DataTree):
        return fit_or_dt

    return to_arviz(fit_or_dt, log_likelihood=False)


def _finish(plot_collection, path):
    fig = plot_collection.viz["figure"].item()
    if path is not None:
        fig.savefig(os.fspath(path), bbox_inches="tight")
    return fig


def plot_trace(fit, path=None, var_names=None, **kwargs):
    """Marginal densities and traces per chain (``arviz.plot_trace_dist``).

    Args:
        fit: a :class:`bayeskern.infer.Fit` or an ArviZ ``DataTree``.
        path: save the figure here (format from the suffix) when given.
        var_names: posterior variables to show (default all).
        **kwargs: passed to ``arviz.plot_trace_dist``.

    Returns:
        The matplotlib ``Figure``.
    """
    import arviz as az

    pc = az.plot_trace_dist(_datatree(fit), var_names=var_names, backend="matplotlib", **kwargs)
    return _finish(pc, path)


def plot_rank(fit, path=None, var_names=None, **kwargs):
    """Fractional-rank Δ-ECDF plots per chain (``arviz.plot_rank``); flat lines inside the band mean chains agree.

    Args:
        fit: a :class:`bayeskern.infer.Fit` or an ArviZ ``DataTree``.
        path: save the figure here when given.
        var_names: posterior variables to show (default all).
        **kwargs: passed to ``arviz.plot_rank``.

    Returns:
        The matplotlib ``Figure``.
    """
    import arviz as az

    pc = az.plot_rank(_datatree(fit), var_names=var_names, backend="matplotlib", **kwargs)
    return _finish(pc, path)


def _bands(draws_or_bands, m: int) -> dict:
    if isinstance(draws_or_bands, Mapping):
        if "mean" not in draws_or_bands:
            raise ValueError("a bands mapping needs 'mean' (m,) and optional 0.5 / 0.9 -> (lower, upper) entries")
        out = {"mean": np.asarray(draws_or_bands["mean"], dtype=float).reshape(-1)}
        for level in (0.9, 0.5):
            if level in draws_or_bands:
                lo, hi = draws_or_bands[level]
                out[level] = (np.asarray(lo, dtype=float).reshape(-1), np.asarray(hi, dtype=float).reshape(-1))
    else:
        draws = np.asarray(draws_or_bands, dtype=float)
        if draws.ndim != 2 or draws.shape[1] != m:
            raise ValueError(f"draws must have shape (num_draws, {m}) matching X_new, got {draws.shape}")
        q = np.quantile(draws, [0.05, 0.25, 0.75, 0.95], axis=0)
        out = {"mean": draws.mean(axis=0), 0.9: (q[0], q[3]), 0.5: (q[1], q[2])}
    for key, value in out.items():
        arrays = value if isinstance(value, tuple) else (value,)
        if any(a.shape != (m,) for a in arrays):
            raise ValueError(f"band {key!r} must have shape ({m},) matching X_new")
    return out


def _as_1d(name: str, x) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D inputs, shape (n,) or (n, 1), got {arr.shape}")
    return arr


def plot_predictive_band(
    X,
    y,
    X_new,
    draws_or_bands,
    path=None,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "x",
    ylabel: str = "y",
    color: str = "C0",
):
    """Posterior mean with 50% and 90% central bands over 1-D inputs, plus the data.

    Args:
        X: training inputs ``(n,)`` or ``(n, 1)``.
        y: training targets ``(n,)``.
        X_new: prediction inputs ``(m,)`` or ``(m, 1)``.
        draws_or_bands: either predictive draws ``(num_draws, m)`` (bands
            are their 5/25/75/95% quantiles), or a mapping with ``"mean"``
            ``(m,)`` and optional ``0.5`` and ``0.9`` entries, each a pair
            ``(lower, upper)`` of ``(m,)`` arrays.
        path: save the figure here when given.
        ax: draw into this matplotlib ``Axes`` (default: a new figure).
        title, xlabel, ylabel: labels.
        color: colour of the mean and bands.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    X, X_new = _as_1d("X", X), _as_1d("X_new", X_new)
    y = np.asarray(y, dtype=float).reshape(-1)
    if y.shape != X.shape:
        raise ValueError(f"y must have shape {X.shape} matching X, got {y.shape}")
    bands = _bands(draws_or_bands, X_new.shape[0])
    order = np.argsort(X_new)
    xs = X_new[order]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for level, alpha in ((0.9, 0.2), (0.5, 0.35)):
        if level in bands:
            lo, hi = bands[level]
            ax.fill_between(xs, lo[order], hi[order], color=color, alpha=alpha, lw=0, label=f"{level:.0%} band")
    ax.plot(xs, bands["mean"][order], color=color, lw=2, label="posterior mean")
    ax.scatter(X, y, s=12, color="k", zorder=3, label="data")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", frameon=False)
    if path is not None:
        fig.savefig(os.fspath(path), bbox_inches="tight")
    return fig
