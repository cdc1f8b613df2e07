"""Every Python block in README.md and docs/*.md runs as written, and its results are checked.

The blocks of one page run in order, in one fresh namespace, as a reader
pasting them into a session would, from a fresh ``import bayeskern as bk``.
Each page has a check below on the values its code produced; a page with
Python blocks and no check fails, so new examples cannot go untested.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text())


def check_readme(ns: dict) -> None:
    X, y, X_new = ns["X"], ns["y"], ns["X_new"]
    assert X.shape == (120,) and y.shape == (120,) and X_new.shape == (25,)
    verdict = ns["bk"].diagnostics.check(ns["fit"])
    assert verdict.ok, str(verdict)
    assert "log_likelihood" in ns["idata"].children
    # The mixture forecast: CO2 at Mauna Loa was 360-372 ppm over 1999-2001 (seasonal cycle included),
    # and the predictive sd stays small inside the data and grows beyond it.
    forecast, sd = ns["forecast_ppm"], ns["sd"] * ns["ppm"].std()
    assert forecast.shape == (25,) and np.all((forecast > 355) & (forecast < 375))
    inside = ns["X_new"] <= ns["X"].max()
    assert np.all(sd[inside] < 1.0) and sd[-1] > 2 * sd[inside].max()
    # the data's own last months are reproduced to within a ppm
    last = ns["ppm"][-3:]
    np.testing.assert_allclose(np.interp(ns["X"][-3:], ns["X_new"], forecast), last, atol=1.0)
    # the single-hyperparameter prediction agrees with the mixture where the data are
    np.testing.assert_allclose(ns["at_new"].mean[inside], ns["mean"][inside], atol=0.05)
    # the saved fit comes back as a Fit with identical draws, and its plot has the two sites' panels
    again = ns["again"]
    assert type(again) is type(ns["fit"]) and again.model is None
    for site, draws in ns["fit"].samples_by_chain.items():
        np.testing.assert_array_equal(again.samples_by_chain[site], draws)
    assert len(ns["fig"].axes) >= 2


CHECKS = {"README.md": check_readme}


def test_every_page_with_code_has_a_check():
    with_code = {p.name for p in PAGES if python_blocks(p)}
    assert "README.md" in with_code
    assert with_code <= set(CHECKS), f"add a check for {sorted(with_code - set(CHECKS))} in {__file__}"


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_page_code_runs_and_gives_the_documented_values(page, monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # files a page writes land in a scratch directory
    ns: dict = {"__name__": "__main__"}
    for i, block in enumerate(python_blocks(page)):
        exec(compile(block, f"{page.name}[block {i}]", "exec"), ns)  # noqa: S102 - running the docs is the point
    CHECKS[page.name](ns)


def test_readme_names_only_what_exists():
    """Cheap guard run without --runslow: the README's blocks compile and import only real names."""
    for block in python_blocks(ROOT / "README.md"):
        compile(block, "README.md", "exec")
    code = "import bayeskern as bk\n" + "\n".join(
        f"assert hasattr(bk.{mod}, {attr!r}), 'bk.{mod}.{attr}'"
        for mod, attr in {(m, a) for b in python_blocks(ROOT / "README.md")
                          for m, a in re.findall(r"\bbk\.(\w+)\.(\w+)", b)}
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
