"""benchmarks.gpu's mixed-precision cases (benchmarks/gpu_mixed.py) run end to end on the
CuPy double at tiny sizes, and each configuration really runs its products the way its
name says: float32 products in float32, TF32 ones as TF32, mixed_bfloat16 ones in bfloat16
with float32 accumulation (the double records each product's compute type). Figures from the
double mean nothing; a GPU session runs the same cases at issue 20's sizes (.ci/gpu)."""

from __future__ import annotations

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
