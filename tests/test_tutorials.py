"""Every tutorial runs as a newcomer would run it (in its fast mode) and prints a result."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_the_numbered_tutorials_are_all_there():
    numbers = [int(p.name[:2]) for p in TUTORIALS]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in TUTORIALS]


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_and_prints_a_result(script, tmp_path):
    env = dict(os.environ, TAPE_TUTORIAL_FAST="1", TAPE_TUTORIAL_OUT=str(tmp_path),
               MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = re.findall(r"^RESULT (.+)$", done.stdout, flags=re.MULTILINE)
    assert results, f"{script.name} printed no RESULT line:\n{done.stdout[-2000:]}"
    assert all("nan" not in r.lower() for r in results), results
    doc = script.read_text().split('"""')[1]
    assert "Teaches:" in doc and "Prints:" in doc and "Run:" in doc  # the opening docstring


@pytest.mark.gpu
def test_the_gpu_tutorial_takes_its_gpu_path(monkeypatch, capsys, tmp_path):
    """Run in this process, so that it sees the GPU this process sees (a real one, or the
    CuPy double in CI): the GPU model must train to the CPU model's accuracy."""
    import runpy

    monkeypatch.setenv("TAPE_TUTORIAL_FAST", "1")
    monkeypatch.setenv("TAPE_TUTORIAL_OUT", str(tmp_path))
    runpy.run_path(str(ROOT / "tutorials" / "09_gpu.py"), run_name="__main__")
    out = capsys.readouterr().out
    result = re.search(r"^RESULT gpu=available gpu_acc=([\d.]+) cpu_acc=([\d.]+)$", out,
                       flags=re.MULTILINE)
    assert result, "the tutorial did not take its GPU path"
    assert re.search(r"^gpu: train step graph .*replayed as one CUDA graph", out, re.MULTILINE)
    assert re.search(r"^cpu: train step graph .*replayed on NumPy", out, re.MULTILINE)
    assert float(result.group(1)) == pytest.approx(float(result.group(2)), abs=0.02)
