"""Plots: figures come back, files get written, bad inputs are refused."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayeskern.diagnostics import plot_predictive_band, plot_rank, plot_trace  # noqa: E402


@pytest.mark.parametrize("plot", [plot_trace, plot_rank])
def test_arviz_plots_return_and_save_a_figure(plot, conjugate_fit, tmp_path):
    path = tmp_path / f"{plot.__name__}.png"
    fig = plot(conjugate_fit, path=path, var_names=["mu"])
    assert isinstance(fig, Figure) and len(fig.axes) >= 1
    assert path.stat().st_size > 1000
    plt.close(fig)


def test_predictive_band_from_draws_matches_quantiles(tmp_path):
    rng = np.random.default_rng(0)
    X = np.linspace(0, 1, 8)
    y = np.sin(3 * X)
    X_new = np.linspace(1, 0, 30)[:, None]  # unsorted on purpose, (m, 1)
    draws = np.sin(3 * X_new[:, 0]) + 0.1 * rng.normal(size=(400, 30))
    fig = plot_predictive_band(X, y, X_new, draws, path=tmp_path / "band.png")
    ax = fig.axes[0]
    (mean_line,) = ax.get_lines()
    xs, ys = mean_line.get_data()
    assert np.all(np.diff(xs) > 0)  # drawn left to right
    np.testing.assert_allclose(ys, draws.mean(0)[::-1])
    assert len(ax.collections) == 3  # 90% band, 50% band, data points
    assert (tmp_path / "band.png").stat().st_size > 1000
    plt.close(fig)


def test_predictive_band_from_mean_and_bands_and_bad_shapes():
    X = np.arange(4.0)
    m = np.zeros(5)
    fig = plot_predictive_band(X, X, np.arange(5.0), {"mean": m, 0.9: (m - 2, m + 2)})
    assert len(fig.axes[0].collections) == 2  # one band + points
    plt.close(fig)
    with pytest.raises(ValueError, match="num_draws, 5"):
        plot_predictive_band(X, X, np.arange(5.0), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="matching X"):
        plot_predictive_band(X, X[:3], np.arange(5.0), np.zeros((10, 5)))
