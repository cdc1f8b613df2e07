"""Shared command-line plumbing for the scripts in ``models/`` and ``examples/``.

Every script has ``--help``, ``--quick`` (a smoke run of well under a minute),
``--seed`` and ``--out`` (a folder for ``result.json`` with the headline
numbers, and for figures where the script draws any). ``main`` stays callable
from Python with the same names as keyword arguments.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def parser(doc: str | None, name: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the options every script shares; ``doc`` (the module docstring) is the help text."""
    p = argparse.ArgumentParser(
        prog=name, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true",
                   help="smoke run: fewer warm-up steps, draws, chains and evaluations (under a minute)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=f"{name}-output",
                   help=f"folder for result.json and any figures (default ./{name}-output)")
    return p


def run(main: Callable[..., Any], p: argparse.ArgumentParser, argv: list[str] | None = None) -> Any:
    """Parse ``argv`` with ``p`` and call ``main`` with the options as keyword arguments."""
    return main(**vars(p.parse_args(argv)))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
        arr = np.asarray(value)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    return value


def write_result(out: str | Path, result: Mapping[str, Any]) -> Path:
    """Write the JSON-serialisable entries of ``result`` to ``out/result.json``; returns its path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    plain = {}
    for key, value in result.items():
        try:
            plain[key] = _plain(value)
            json.dumps(plain[key])
        except (TypeError, ValueError):
            plain.pop(key, None)  # fits and other objects stay in the returned dict only
    path = folder / "result.json"
    path.write_text(json.dumps(plain, indent=2) + "\n")
    return path


def verdict_numbers(verdict: Any) -> dict[str, Any]:
    """The convergence verdict as plain numbers: ok, worst R-hat, smallest bulk/tail ESS, divergences, problems."""
    table = verdict.table
    return {
        "ok": bool(verdict.ok),
        "max_r_hat": float(np.nanmax(table["r_hat"])) if len(table) and table["r_hat"].notna().any() else None,
        "min_ess_bulk": float(np.nanmin(table["ess_bulk"])) if len(table) else None,
        "min_ess_tail": float(np.nanmin(table["ess_tail"])) if len(table) else None,
        "divergences": verdict.sampler.get("divergences"),
        "problems": list(verdict.problems),
    }


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg back end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
