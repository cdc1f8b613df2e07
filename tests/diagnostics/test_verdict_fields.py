"""A verdict on a field with hundreds of cells summarises it in one line per variable."""

import numpy as np

from bayeskern.diagnostics import check
from bayeskern.infer import Fit


def test_field_with_many_cells_gives_one_line_naming_the_worst_cell_and_the_count():
    rng = np.random.default_rng(0)
    chains, draws, cells = 4, 250, 300
    field = rng.normal(size=(chains, draws, cells))
    # 7 cells follow a sticky AR(1) chain: low ESS there only
    sticky = np.zeros((chains, draws, 7))
    for t in range(1, draws):
        sticky[:, t] = 0.97 * sticky[:, t - 1] + np.sqrt(1 - 0.97**2) * rng.normal(size=(chains, 7))
    field[:, :, 10:17] = sticky
    fit = Fit({"f": field, "mu": rng.normal(size=(chains, draws))}, method="nuts")
    verdict = check(fit)
    text = str(verdict)
    assert not verdict.ok
    assert len(text.splitlines()) < 25  # not one line per cell
    assert list(verdict.table.index) == ["f", "mu"] and bool(verdict.table.loc["mu", "ok"])
    bulk = [p for p in verdict.problems if p.startswith("Bulk ESS")]
    assert len(bulk) == 1 and "worst of 300 elements, 7 beyond the threshold" in bulk[0]
    worst_cell = int(bulk[0].split("'f[")[1].split("]")[0])
    assert 10 <= worst_cell < 17
