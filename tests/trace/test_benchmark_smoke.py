"""The trace-passes benchmark still runs and its variants agree (figures are not asserted)."""

from benchmarks import trace_passes


def test_trace_passes_benchmark_runs(capsys):
    result = trace_passes.main(["--quick"])
    assert result["nodes"]["no passes"] > result["nodes"]["simplifying passes"]
    assert all(seconds > 0 for seconds in result["medians"].values())
    assert "numpy by hand" in capsys.readouterr().out
