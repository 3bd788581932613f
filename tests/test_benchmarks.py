"""The benchmark runner still runs (its figures live in benchmarks/RESULTS.md, not here)."""

from benchmarks import overhead


def test_overhead_benchmark_runs_and_checks_agreement(capsys):
    medians = overhead.main(["--quick"])
    assert {"numpy forward", "tape forward+backward under a tape"} <= set(medians)
    assert all(seconds > 0 for seconds in medians.values())
    assert "x numpy fwd" in capsys.readouterr().out
