"""Every ``Example:`` in a public docstring runs and prints what it claims (doctest)."""

import doctest
import importlib
import pkgutil

import pytest

import tape

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(tape.__path__, "tape.")
    if name not in ("tape.demo", "tape.kernels")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_public_ops_have_docstrings():
    missing = [name for name in tape.ops.__all__ if not (getattr(tape, name).__doc__ or "").strip()]
    assert not missing, f"public functions without a docstring: {missing}"
