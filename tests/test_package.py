"""``import bayeskern as bk`` reaches every public package, lazily, and names what it lacks."""

import subprocess
import sys

import pytest

PACKAGES = ["cox", "datasets", "diagnostics", "errors", "features", "gp", "infer", "kernels", "linalg", "optimize", "priors",
            "quadrature"]


def test_packages_are_attributes_imported_on_first_use():
    code = (
        "import sys, bayeskern as bk\n"
        "assert 'bayeskern.cox' not in sys.modules  # lazy: not imported by `import bayeskern`\n"
        f"for name in {PACKAGES!r}:\n"
        "    mod = getattr(bk, name)\n"
        "    assert mod.__name__ == 'bayeskern.' + name and name in dir(bk)\n"
        "assert bk.gp.GaussianProcess and bk.infer.nuts and bk.kernels.Matern52 and bk.datasets.load_co2\n"
        "print(bk.__version__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "0.1.0"


def test_unknown_attribute_lists_the_packages():
    import bayeskern as bk

    with pytest.raises(AttributeError, match="its packages are cox, datasets, diagnostics, errors"):
        bk.gaussian_process  # noqa: B018
