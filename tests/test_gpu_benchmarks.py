"""benchmarks.gpu's cases run end to end on the CuPy double at tiny sizes:

- the mixed-precision cases (benchmarks/gpu_mixed.py): each configuration really runs its
  products the way its name says: float32 products in float32, TF32 ones as TF32,
  mixed_bfloat16 ones in bfloat16 with float32 accumulation (the double records each
  product's compute type);
- issue 16's rows (model steps eager, traced with and without CUDA graphs, beside PyTorch
  and JAX; fit epochs on the GPU against the CPU): every row and ratio is there, each ratio
  the quotient of the right two rows, the traced steps say how they replayed, and the JAX
  steps (benchmarks/gpu_jax.py) train.

Figures from the double mean nothing; a GPU session runs the same cases at the issues'
sizes (.ci/gpu)."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

import tape

pytestmark = pytest.mark.gpu


def test_each_configuration_runs_its_products_as_named(capsys):
    double = sys.modules.get("cupy_double")
    if double is None:
        pytest.skip("reads the compute types the CuPy double records (TAPE_CUPY_DOUBLE=1)")
    from benchmarks import gpu_mixed

    products = []

    def one_step(step, repeat):  # the products of one step, in place of a timing
        start = len(double.lowp().gemms)
        step()
        products.append({(g.dtype, g.compute) for g in double.lowp().gemms[start:]})
        return 0.01 * len(products)

    results = gpu_mixed.run("smoke", 1, one_step, "left out here")
    out = capsys.readouterr().out
    per_config = {"float32": {("float32", "32F")}, "float32+tf32": {("float32", "TF32")},
                  "mixed_bfloat16": {("bfloat16", "32F")}}
    assert products == [per_config[c] for c in gpu_mixed.CONFIGS] * 2
    assert tape.config.tf32_enabled() is False  # switched off after its case
    names = ["mlp 16-16-16 b4", "encoder block d8 s4 b2"]
    assert set(results) == {f"{n}: {r}" for n in names
                            for r in ("float32/mixed_bfloat16", "float32/tf32")}
    assert all(np.isfinite(v) and v > 0 for v in results.values())
    for name in names:
        assert f"{name}: PyTorch: left out here" in out


def _double():
    double = sys.modules.get("cupy_double")
    if double is None:
        pytest.skip("runs benchmarks.gpu on the CuPy double (TAPE_CUPY_DOUBLE=1)")
    return double


def test_issue_16_step_rows_and_ratios(capsys, monkeypatch):
    _double()
    from benchmarks import gpu, gpu_jax

    seconds = []

    def two_calls(step, repeat):  # the second call launches a captured graph; row k: k ms
        step()
        step()
        seconds.append((len(seconds) + 1) * 1e-3)
        return seconds[-1]

    # JAX has no GPU on the double: a stand-in step puts its row and ratios through
    monkeypatch.setattr(gpu_jax, "mlp_step", lambda *a: lambda: None)
    monkeypatch.setattr(gpu_jax, "cnn_step", lambda *a: lambda: None)
    graphs_before = os.environ.get("TAPE_CUDA_GRAPHS")
    results = gpu.model_steps("smoke", 1, two_calls, "left out here", None, 1)
    out = capsys.readouterr().out
    assert os.environ.get("TAPE_CUDA_GRAPHS") == graphs_before
    names = ["mlp 16-8-8-4 b2", "mlp 16-8-8-4 b4", "cnn 8x8 b2"]
    rows = ["tape eager", "tape traced", "tape traced, no CUDA graphs", "JAX jit"]
    expected = {}
    for i, name in enumerate(names):  # the rows ran in this order, 4 per model
        ms = {row: 4 * i + k + 1 for k, row in enumerate(rows)}
        expected.update({f"{name}: {row} ms": t for row, t in ms.items()})
        expected.update({
            f"{name}: traced/eager": ms["tape traced"] / ms["tape eager"],
            f"{name}: traced without graphs/eager":
                ms["tape traced, no CUDA graphs"] / ms["tape eager"],
            f"{name}: traced/JAX": ms["tape traced"] / ms["JAX jit"]})
        assert name in out
    assert results == pytest.approx(expected)
    assert out.count("PyTorch eager                          n/a (left out here)") == 3
    assert out.count("traced/JAX") == 3 and "(target <= 1)" in out

    traced = re.findall(r"  tape traced explain\(\): (.*)", out)
    off = re.findall(r"  tape traced, no CUDA graphs explain\(\): (.*)", out)
    assert len(traced) == len(off) == 3
    for line in traced:  # captured once, launched at every later call (the CNN too)
        assert re.search(r"replayed as one CUDA graph \(launched [1-9]\d* times? so far\)",
                         line), line
    for line in off:
        assert line.endswith("CUDA graphs are off (TAPE_CUDA_GRAPHS=0)"), line
    moved = re.findall(r"  tape (eager|traced) +[\d.]+  h2d ([\d.]+), d2h ([\d.]+) "
                       r"\(CuPy double\)", out)
    assert [row for row, _, _ in moved] == ["eager", "traced"] * 3
    assert all(float(d2h) == 0 for _, _, d2h in moved)  # nothing read back: issue 16's target
    assert all(float(h2d) == 0 for row, h2d, _ in moved if row == "traced")  # nor copied in


def test_issue_16_fit_epochs_gpu_against_cpu(capsys):
    _double()
    from benchmarks import gpu

    results = gpu.fit_epochs("smoke")
    out = capsys.readouterr().out
    sets = ["digits", "synthetic 16-pixel"]
    assert set(results) == {f"fit {s}: {k}" for s in sets for k in ("cpu s", "gpu s", "gpu/cpu")}
    assert all(np.isfinite(v) and v > 0 for v in results.values())
    for s in sets:
        assert results[f"fit {s}: gpu/cpu"] == pytest.approx(
            results[f"fit {s}: gpu s"] / results[f"fit {s}: cpu s"])
        assert f"fit {s} (160 samples, batch 128), one epoch: CPU" in out


def test_jax_steps_say_why_without_a_gpu_and_train_where_they_run():
    jax = pytest.importorskip("jax")
    from benchmarks import gpu_jax

    if jax.devices()[0].platform != "gpu":  # the tests pin JAX to the CPU
        assert gpu_jax.why_no_gpu().startswith("JAX has no GPU backend here (")
    cpu = jax.devices("cpu")[0]
    for step in (gpu_jax.mlp_step(8, (16, 8, 8, 4), cpu), gpu_jax.cnn_step(4, 8, (2, 4), cpu)):
        losses = [float(step()) for _ in range(40)]
        assert all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0], losses
