"""Tests marked ``mpi`` need the ranks of ``mpiexec -n 2`` (``make test`` runs them so:
``mpiexec -n 2 python -m pytest -p no:xdist tests/distribute -m mpi``). A plain pytest run
deselects them (they are not skipped-as-passed: they are not collected), and an MPI run
deselects the rest, which the plain run covers."""

from __future__ import annotations

from tape.distribute.comm import launched


def pytest_collection_modifyitems(config, items):
    under_mpi = launched()
    kept, dropped = [], []
    for item in items:
        is_mpi = item.get_closest_marker("mpi") is not None
        (kept if is_mpi == under_mpi else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
