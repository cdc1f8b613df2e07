"""Shared command-line plumbing for the scripts in ``models/`` and ``examples/``.

Every script has ``--help``, ``--quick`` (a smoke run of well under a minute),
``--seed`` and ``--out`` (a folder for ``result.json`` with the headline
numbers, and for figures where the script draws any), and ``--no-cache``.
``main`` stays callable from Python with the same names as keyword arguments.

Run from the command line, a script turns on JAX's persistent compilation
cache the way ``scripts/demo`` does (``bayeskern.demo.enable_compilation_cache``:
``$BAYESKERN_CACHE_DIR``, else ``~/.cache/bayeskern/jax``), so a second run
loads its compiled samplers instead of compiling them again; ``--no-cache``
turns it off. Calling ``main`` from Python leaves JAX's settings alone.

Importing this module also makes SciPy's OpenBLAS single-threaded (unless
``OPENBLAS_NUM_THREADS`` is already set): JAX's CPU Cholesky, triangular solves
and inverses call it, and from about 128 rows on its multithreaded kernels
cost far more than they save on a small, shared machine (measured on two
cores at load 4-5: gp_classification's log density and gradient at 150
patients took 92 ms of CPU against 5 ms single-threaded; ``models.co2
--quick`` 33 s of CPU against 15 s).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

# Before JAX first loads SciPy's LAPACK (see the module docstring); the scripts import this module before
# computing anything. single_threaded_blas() also covers a library that is loaded already.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def single_threaded_blas() -> None:
    """Limit already-loaded BLAS libraries to one thread (when ``threadpoolctl`` is installed and the user
    has not set ``OPENBLAS_NUM_THREADS`` themselves); libraries loaded later read the environment."""
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


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
    p.add_argument("--no-cache", action="store_true",
                   help="do not use JAX's persistent compilation cache (default: $BAYESKERN_CACHE_DIR or "
                        "~/.cache/bayeskern/jax, as scripts/demo)")
    return p


def compilation_cache(enabled: bool = True) -> str | None:
    """Turn on JAX's persistent compilation cache in the demo's folder (see the module docstring); returns it.

    Every compilation is cached, not only those over the demo's 0.5 s: a script's many small eager
    operations (post-processing, diagnostics) add up to seconds of compiling on two cores.
    """
    if not enabled:
        return None
    import jax

    from bayeskern.demo import default_cache_dir, enable_compilation_cache

    path = enable_compilation_cache(default_cache_dir())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path


def run(main: Callable[..., Any], p: argparse.ArgumentParser, argv: list[str] | None = None) -> Any:
    """Parse ``argv`` with ``p``, turn on the compilation cache (unless ``--no-cache``) and call ``main``
    with the other options as keyword arguments."""
    options = vars(p.parse_args(argv))
    compilation_cache(not options.pop("no_cache"))
    single_threaded_blas()
    return main(**options)


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
    """The convergence verdict as plain numbers: ok, worst R-hat, smallest bulk/tail ESS, divergences, problems.

    ``converged`` says whether the sampler checks alone pass (R-hat, bulk and tail ESS, no divergences,
    E-BFMI): the problems left when it is true but ``ok`` is false are PSIS-LOO Pareto k's, a statement
    about influential observations, not about the chains.
    """
    table = verdict.table
    problems = list(verdict.problems)
    return {
        "ok": bool(verdict.ok),
        "converged": all("Pareto k" in p for p in problems),
        "max_r_hat": float(np.nanmax(table["r_hat"])) if len(table) and table["r_hat"].notna().any() else None,
        "min_ess_bulk": float(np.nanmin(table["ess_bulk"])) if len(table) else None,
        "min_ess_tail": float(np.nanmin(table["ess_tail"])) if len(table) else None,
        "divergences": verdict.sampler.get("divergences"),
        "problems": problems,
    }


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg back end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
