"""Plots of a Cox-process fit (matplotlib, imported lazily): intensity over time with a rug of
events, or a posterior-mean intensity map with the events on top."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_intensity"]


def plot_intensity(fit, ax=None, *, quantiles=(0.05, 0.95), cmap: str = "viridis", show_events: bool = True):
    """Plot the posterior intensity of a :class:`~bayeskern.cox.fit.CoxFit`; returns the Axes.

    1-D: posterior mean as a step function with a ``quantiles`` band and a rug of events.
    2-D: posterior mean map (``pcolormesh`` over the grid edges, cells outside the window blank)
    with the events as points and the window outline for polygons.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5) if fit.grid.dim == 1 else (5, 4.5))
    s = fit.intensity_summary(quantiles=quantiles)
    grid = fit.grid
    if grid.dim == 1:
        e = grid.edges[0]
        lo, hi = s[f"q{quantiles[0]:g}"], s[f"q{quantiles[1]:g}"]
        ax.fill_between(e, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post", alpha=0.3,
                        label=f"{quantiles[0]:.0%}-{quantiles[1]:.0%} band")
        ax.step(e, np.append(s["mean"], s["mean"][-1]), where="post", label="posterior mean")
        if show_events:
            ymin = ax.get_ylim()[0]
            ax.plot(fit.events[:, 0], np.full(len(fit.events), ymin), "|", color="k", ms=12, label="events")
        ax.set_xlabel("time")
        ax.set_ylabel("intensity (events per unit time)")
        ax.legend(loc="best", fontsize=8)
        return ax
    if grid.dim != 2:
        raise ValueError("plot_intensity draws 1-D and 2-D fits; slice a space-time fit first")
    mean = np.where(grid.exposure > 0, s["mean"], np.nan).reshape(grid.shape)
    mesh = ax.pcolormesh(grid.edges[0], grid.edges[1], mean.T, cmap=cmap, shading="flat")
    plt.colorbar(mesh, ax=ax, label="posterior mean intensity")
    if show_events:
        ax.plot(fit.events[:, 0], fit.events[:, 1], "o", ms=3, mfc="w", mec="k")
    verts = getattr(grid.window, "vertices", None)
    if verts is not None:
        v = np.vstack([verts, verts[:1]])
        ax.plot(v[:, 0], v[:, 1], "k-", lw=1)
    ax.set_aspect("equal")
    return ax
