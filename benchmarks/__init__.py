"""Benchmarks, run side by side in one process; see RESULTS.md for the latest figures."""
