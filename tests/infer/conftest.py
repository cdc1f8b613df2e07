"""Fixtures for the inference/diagnostics tests: the shared conjugate model and its NUTS fit."""

import importlib.util
import sys
from pathlib import Path

import pytest

_SHARED = "bayeskern_infer_test_models"


def load_shared():
    """tests/infer/models_for_tests.py, loaded once per session under one module name."""
    if _SHARED not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "infer" / "models_for_tests.py"
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
