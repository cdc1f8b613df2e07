"""Shared helpers for the bayeskern benchmarks (thread setting, environment report, timing).

Import this module *before* JAX: ``configure_threads`` has to set the XLA and
BLAS thread variables before ``import jax`` for them to take effect.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def configure_threads(argv=None, default: int = 1) -> str:
    """Read ``--threads N`` from ``argv`` and pin XLA + BLAS to N threads (call before importing jax).

    ``N = 0`` keeps the library defaults (XLA's thread pool and the
    BLAS/LAPACK library's own threading: all cores). The default is one
    thread: on a shared machine multi-threaded XLA/BLAS timings are dominated
    by threads waiting for descheduled siblings (a 200×200 Cholesky measured
    at 180 ms instead of 0.7 ms under load), so one thread per process is the
    setting whose ratios mean something there. Returns a one-line description.
    """
    argv = sys.argv if argv is None else argv
    threads = default
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            threads = int(argv[i + 1])
        elif a.startswith("--threads="):
            threads = int(a.split("=", 1)[1])
    if threads:
        for v in _THREAD_VARS:
            os.environ[v] = str(threads)
        flags = os.environ.get("XLA_FLAGS", "")
        if threads == 1:
            flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        else:
            flags += f" intra_op_parallelism_threads={threads}"
        os.environ["XLA_FLAGS"] = flags.strip()
        return f"pinned to {threads} thread(s)"
    return "XLA/BLAS default threading"


def environment_report(thread_setting: str, extra_modules=()) -> str:
    """A few lines naming date, host, Python, JAX, device, flags and library versions."""
    import jax

    lines = [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"host: {platform.node()}  cpus: {os.cpu_count()}  load avg (1/5/15 min): "
        + (" ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"),
        f"python: {sys.version.split()[0]}  venv: {sys.prefix}",
        f"jax {jax.__version__}  jaxlib {_version('jaxlib')}  devices: {jax.devices()}  "
        f"x64: {jax.config.jax_enable_x64}",
        f"threads: {thread_setting}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r} "
        + " ".join(f"{v}={os.environ.get(v, '')!r}" for v in _THREAD_VARS),
    ]
    vers = [f"{m} {_version(m)}" for m in extra_modules]
    if vers:
        lines.append("versions: " + ", ".join(vers))
    return "\n".join(lines)


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001 - any import failure means "not installed" here
        return "not installed"
    return str(getattr(mod, "__version__", "?"))


def block(x):
    """``jax.block_until_ready`` over a whole pytree."""
    import jax

    return jax.block_until_ready(x)


def time_call(fn, *args) -> float:
    """Wall time (s) of one call, blocking until the results are ready."""
    t0 = time.perf_counter()
    block(fn(*args))
    return time.perf_counter() - t0


def interleaved(methods: dict, repeats: int) -> dict[str, list[float]]:
    """Time every ``name -> (fn, args)`` ``repeats`` times, interleaved round by round.

    The order within a round is rotated so that no method always runs right
    after the same neighbour. Call each function once beforehand (warm-up and
    compile); this only times.
    """
    names = list(methods)
    out: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, args = methods[name]
            out[name].append(time_call(fn, *args))
    return out


def median(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def round_ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over rounds of ``t_num / t_den`` measured in the same round (robust to load drift)."""
    if num not in times or den not in times:
        return float("nan")
    return median([a / b for a, b in zip(times[num], times[den], strict=True)])


def fmt_s(t: float) -> str:
    if t != t:  # NaN
        return "—"
    if t >= 1:
        return f"{t:.2f} s"
    return f"{t * 1e3:.1f} ms"


def fmt_x(r: float) -> str:
    return "—" if r != r else f"{r:.2f}x"


class CompileTimer:
    """Measures time JAX spends tracing, lowering and compiling inside a ``with`` block.

    Listens to JAX's monitoring events (jaxpr trace, jaxpr→MLIR, backend
    compile) and returns the length of the union of their time intervals
    (nested traces are not double counted) as ``.seconds``.
    """

    _EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )
    _installed = False
    _active: list["CompileTimer"] = []

    def __init__(self):
        self.intervals: list[tuple[float, float]] = []
        self.seconds = 0.0

    @classmethod
    def _install(cls):
        if cls._installed:
            return
        from jax import monitoring

        def listener(event, duration, **kwargs):
            if event in cls._EVENTS and cls._active:
                end = time.perf_counter()
                for t in cls._active:
                    t.intervals.append((end - duration, end))

        monitoring.register_event_duration_secs_listener(listener)
        cls._installed = True

    def __enter__(self):
        self._install()
        CompileTimer._active.append(self)
        return self

    def __exit__(self, *exc):
        CompileTimer._active.remove(self)
        total, cur_s, cur_e = 0.0, None, None
        for s, e in sorted(self.intervals):
            if cur_e is None or s > cur_e:
                if cur_e is not None:
                    total += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        if cur_e is not None:
            total += cur_e - cur_s
        self.seconds = total
        return False
