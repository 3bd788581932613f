"""The benchmark runner runs, and its agreement check catches a system that computes
something else. No test here asserts a time: the figures live in benchmarks/RESULTS.md."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import harness, mlp, runner

ROOT = Path(__file__).resolve().parents[1]


def run_benchmarks(*args, prelude=""):
    """``python -m benchmarks ARGS`` in a fresh process (``prelude`` runs first)."""
    code = f"{prelude}import runpy; runpy.run_module('benchmarks', run_name='__main__')"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_quick_run_prints_every_workload_and_every_system():
    done = run_benchmarks("--quick")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for name in runner.WORKLOADS:
        assert f"### {name}:" in out
        assert f"| {name} |" in out.split("## Summary")[1]  # a summary row too
    for system in ("numpy (floor)", "tape eager", "tape traced", "pytorch eager", "jax jit"):
        assert f"| {system} |" in out
    assert "BLAS loaded: " in out and "threads: 1 for every system" in out
    assert "FAILED" not in out and "MISMATCH" not in out and "| ERROR" not in out


def test_a_missing_peer_is_skipped_with_its_reason():
    done = run_benchmarks("--quick", "--only", "mlp-digits-b64", "--skip", "jax",
                          "--skip", "autograd", "--skip", "mygrad", "--skip", "tf",
                          prelude="import sys; sys.modules['torch'] = None; ")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout.split("## Summary")[0]
    assert "| pytorch eager | n/a (torch not installed: `make bench` installs it" in table
    assert "| jax jit |" not in table  # --skip leaves systems out entirely
    assert "| tape eager | " in table


def _digits_workload(**extra_systems):
    """The quick digits-size MLP with the floor, tape eager and the systems given."""
    init, data = mlp.make_problem((64, 16, 10), 8)
    systems = mlp.systems(init, data)
    systems = {name: systems[name] for name in ("numpy (floor)", "tape eager")}
    systems.update({name: make(init, data) for name, make in extra_systems.items()})
    return harness.Workload("t", "test", "numpy (floor)", systems)


def test_the_agreement_check_rejects_a_wrong_update_and_a_wrong_loss():
    def double_learning_rate(init, data):
        return lambda: mlp.numpy_trial(init, data, lr=2 * mlp.LR)  # same loss, other update

    def wrong_loss(init, data):
        def make():
            trial = mlp.numpy_trial(init, data)
            return harness.Trial(lambda: trial.step() * 1.001, trial.read)
        return make

    def broken(init, data):
        def make():
            raise RuntimeError("no such op")
        return make

    outcomes = harness.check_agreement(_digits_workload(
        lr_x2=double_learning_rate, wrong_loss=wrong_loss, broken=broken))
    assert outcomes["tape eager"].status == "ok"
    assert outcomes["tape eager"].error < 1e-4
    assert outcomes["lr_x2"].status == "mismatch"
    assert "update" in outcomes["lr_x2"].detail  # the loss of step one agrees; W0 does not
    assert outcomes["wrong_loss"].status == "mismatch"
    assert "'loss'" in outcomes["wrong_loss"].detail
    assert outcomes["broken"].status == "error" and "no such op" in outcomes["broken"].detail


def test_a_mismatch_is_reported_and_left_out_of_the_timing():
    def wrong(init, data):
        return lambda: mlp.numpy_trial(init, data, lr=0.0)

    result = harness.run_workload(_digits_workload(wrong=wrong), repeats=2, warmup=1,
                                  min_sample_s=0)
    assert "wrong" not in result.samples and "tape eager" in result.samples
    assert "| wrong | MISMATCH (" in harness.format_table(result)


def test_compare_needs_a_reference_for_every_value_and_fails_on_nan():
    reference = {"loss": np.array(2.0), "W update": np.ones(3)}
    assert harness.compare({"loss": np.array(2.0 + 1e-5)}, reference, 1e-4) < 1e-4
    with pytest.raises(harness.AgreementError, match="no reference"):
        harness.compare({"b update": np.ones(3)}, reference, 1e-4)
    with pytest.raises(harness.AgreementError, match="differs"):
        harness.compare({"loss": np.array(np.nan)}, reference, 1e-4)
    with pytest.raises(harness.AgreementError, match="shape"):
        harness.compare({"W update": np.ones(4)}, reference, 1e-4)
    with pytest.raises(harness.AgreementError, match="nothing"):
        harness.compare({}, reference, 1e-4)

