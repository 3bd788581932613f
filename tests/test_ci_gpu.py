"""``.ci/gpu``, the one-command GPU check a lent device machine runs: its stages run in the
order named, all under one deadline (GPU_SECONDS), and tape imports from the checkout where
pip cannot install it in place. Exercised with a Python that has the CuPy double as its
CuPy (the stages themselves need time a unit test does not have: they are reported as not
run, which is what the deadline must do)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _python_with_the_double(tmp_path: Path) -> Path:
    """A ``python`` that runs ``-m``/``-c``/``-`` with the CuPy double installed as cupy,
    without tape's editable install, and whose pip fails."""
    runner = tmp_path / "run.py"
    runner.write_text(textwrap.dedent(f"""
        import importlib.util, runpy, sys
        # no editable install of tape either: only .ci/gpu's own import path is left
        sys.meta_path[:] = [f for f in sys.meta_path
                            if "editable" not in getattr(f, "__module__", "").lower()]
        spec = importlib.util.spec_from_file_location(
            "cupy_double", {str(REPO / "tests" / "cupy_double" / "__init__.py")!r})
        double = importlib.util.module_from_spec(spec)
        sys.modules["cupy_double"] = double
        spec.loader.exec_module(double)
        double.install()
        flag, *rest = sys.argv[1:]
        sys.path.insert(0, "")
        if flag == "-m":
            sys.argv = rest
            runpy.run_module(rest[0], run_name="__main__", alter_sys=True)
        else:
            sys.argv = [flag] + rest[1:]
            code = sys.stdin.read() if flag == "-" else rest[0]
            exec(compile(code, "<ci-gpu>", "exec"), {{"__name__": "__main__"}})
    """))
    python = tmp_path / "python"
    # pip fails, as where setuptools cannot build tape in place (and the test's environment
    # is left as it is): .ci/gpu must import tape from the checkout
    python.write_text('#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then '
                      'echo "pip: cannot build here"; exit 1; fi\n'
                      f'exec {sys.executable} {runner} "$@"\n')
    python.chmod(0o755)
    return python


def _ci_gpu(tmp_path, *stages, **env):
    return subprocess.run(["bash", str(REPO / ".ci" / "gpu"), *stages], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OUT": str(tmp_path / "out"), **env})


def test_an_unknown_stage_is_refused(tmp_path):
    result = _ci_gpu(tmp_path, "bench", "tset")
    assert result.returncode == 2
    assert "unknown stage 'tset' (tests, default, memcheck, bench)" in result.stdout


def test_stages_run_in_the_order_named_and_the_deadline_stops_them(tmp_path):
    python = _python_with_the_double(tmp_path)
    result = _ci_gpu(tmp_path, "bench", "tests", PYTHON=str(python), GPU_SECONDS="20")
    out = tmp_path / "out"
    assert "importing it from the checkout instead" in result.stdout
    assert "device 0: CuPy double" in (out / "gpu-env.txt").read_text(), result.stdout
    assert result.returncode == 1, result.stdout + result.stderr
    summary = (out / "gpu-summary.txt").read_text()
    assert summary.strip() == (".ci/gpu: failed: gpu benchmarks (not run: out of time) "
                               "gpu tests (not run: out of time)"), summary
    assert "not run" in (out / "gpu-bench.md").read_text()
