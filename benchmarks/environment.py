"""Threads pinned the same way for every system, and what the run is printed with: the
machine, the versions, the BLAS libraries and their thread counts.

``pin_threads`` must run before NumPy (or any peer) is imported, since BLAS and OpenMP
read their thread counts when they load; ``python -m benchmarks`` calls it first thing.
This module imports nothing heavy at the top for that reason.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys

THREADS = 1  # what pin_threads set; peers read it when they load (torch, TF)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
_PEERS = ("numpy", "scipy", "jax", "jaxlib", "torch", "autograd", "mygrad", "tensorflow-cpu",
          "tensorflow")


def pin_threads(threads: int) -> None:
    """Set every thread-count variable NumPy's BLAS, OpenMP, MKL, XLA and TF read, and (if
    NumPy is already loaded, as under pytest) limit the loaded pools with threadpoolctl."""
    global THREADS
    THREADS = threads
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    eigen = "true" if threads > 1 else "false"
    os.environ["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} "
                               f"--xla_cpu_multi_thread_eigen={eigen} "
                               f"intra_op_parallelism_threads={threads}").strip()
    if "numpy" in sys.modules:
        limit_loaded_pools()


def limit_loaded_pools() -> None:
    """Cap the BLAS/OpenMP pools already loaded (torch brings its own OpenMP)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=THREADS)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    """Installed versions, read from package metadata (no import)."""
    found = {"python": platform.python_version()}
    for name in _PEERS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def blas_lines() -> list[str]:
    """The BLAS and OpenMP libraries loaded now, with their thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        import numpy as np

        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return [f"numpy BLAS: {blas.get('name')} {blas.get('version')} (threadpoolctl not "
                f"installed: thread counts unknown)"]
    return [f"{pool['internal_api']} {pool.get('version') or ''} "
            f"({os.path.basename(pool['filepath'])}): {pool['num_threads']} threads"
            for pool in threadpool_info()]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=os.path.dirname(__file__), check=False)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: above the core count, other jobs compete."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def describe(command: str) -> str:
    """The header of a run: command, machine, versions, threads, BLAS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"command: `{command}` (tape commit {git_commit()})",
        f"machine: {cpu_model()}, {cores} cores usable ({os.cpu_count()} online), "
        f"{platform.system()} {platform.machine()}; load average at start {load_average()}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"threads: {THREADS} for every system ({', '.join(_THREAD_VARIABLES)}, "
        f"XLA_FLAGS, torch.set_num_threads, tf.config.threading)",
        "BLAS loaded: " + "; ".join(blas_lines()),
    ]
    return "\n".join(f"- {line}" for line in lines)
