"""Shared pytest set-up: ``--runslow`` turns on tests marked ``@pytest.mark.slow`` (CI runs them);
``--runlong`` turns on tests marked ``@pytest.mark.long`` (reference MCMC runs too long for CI's
2-core budget); the conjugate-model fixtures used by the inference and diagnostics tests."""

import importlib.util
import sys
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--runlong", action="store_true", default=False, help="also run tests marked long")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_long = pytest.mark.skip(reason="long reference run: run with --runlong")
    for item in items:
        if "long" in item.keywords and not config.getoption("--runlong"):
            item.add_marker(skip_long)
        elif "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)

_SHARED = "bayeskern_infer_test_models"


def load_shared():
    """tests/infer/models_for_tests.py, loaded once per session under one module name."""
    if _SHARED not in sys.modules:
        path = Path(__file__).resolve().parent / "infer" / "models_for_tests.py"
        spec = importlib.util.spec_from_file_location(_SHARED, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_SHARED] = module
        spec.loader.exec_module(module)
    return sys.modules[_SHARED]


@pytest.fixture(scope="session")
def shared():
    return load_shared()


@pytest.fixture(scope="session")
def conjugate_fit(shared):
    return shared.conjugate_nuts_fit()


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    One pytest process runs the whole suite; every module compiles its own
    programs and JAX keeps each executable for the life of the process.
    Without this the suite's resident memory grows with every module (on
    CI's 2-core machine the run aborted inside XLA's compiler ~30 % in).
    Modules share almost no programs, so clearing costs little recompilation.
    """
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
