"""The op record is the only place an op's facts live (DESIGN.md, STYLE A14): every field
of every record is consistent with the others and has the test that checks it, and no module
of tape keeps a side table keyed by op names or branches on an op's name."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

# tests/ is on sys.path (the rootdir of the ops and kernels test packages)
from kernels.test_kernels_emulated import GENERATED, HAND_WRITTEN  # noqa: I001

import tape
from tape.ops import REGISTRY, Op
from tape.ops.gpu import ElementwiseKernel

OPS = sorted(REGISTRY.values(), key=lambda op: op.name)
TAPE = pathlib.Path(tape.__file__).parent
# The ONNX exporter translates op names to ONNX node types (as torch.onnx's symbolic
# registry does): a format's vocabulary, owned by the exporter, which fails loudly on an
# op it has no translation for.
EXPORTER = TAPE / "trace" / "export.py"
# tape.testing (the fuzzer's vocabulary of public functions) is test tooling, as tests/ is:
# it chooses what to exercise, and holds no fact that the rest of tape reads.
TESTING = TAPE / "testing"


def _ids(op: Op) -> str:
    return op.name


def test_every_op_with_a_gpu_kernel_has_its_kernel_test():
    with_kernel = {op.name for op in OPS if op.kernel is not None}
    assert with_kernel == set(HAND_WRITTEN) | set(GENERATED)
    for name in GENERATED:
        assert isinstance(REGISTRY[name].kernel, ElementwiseKernel), name


@pytest.mark.parametrize("op", [op for op in OPS if op.out is not None], ids=_ids)
def test_each_out_function_computes_exactly_the_op_forward(op):
    """What replay writes into a buffer (``out=``) is what the op computes, bit for bit."""
    rng = np.random.default_rng(0)
    if op.name == "matmul":
        args = [rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (4, 2))]
    else:
        args = [rng.uniform(0.5, 2, (3, 4)) for _ in range(op.nin)]
    for dtype in ("float32", "float64"):
        arrays = [a.astype(dtype) for a in args]
        want = op.forward(np, *arrays)
        out = np.empty_like(want)
        got = op.out_function(np)(*arrays, out=out)
        assert got is out
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("op", OPS, ids=_ids)
def test_the_fields_of_each_record_agree(op):
    if op.out is not None:
        assert callable(getattr(np, op.out)), f"{op.name}: numpy has no {op.out}"
        assert op.fresh, f"{op.name}: writes into buffers, so its result is never a view"
    if op.elementwise and op.out is not None:
        assert op.nin >= 1
    if op.fusion is not None:
        assert op.elementwise, f"{op.name}: fuses, so it must be elementwise"
        assert all(0 <= k < op.nin for k in op.fusion[3])
    if op.unit is not None or op.commutative:
        assert op.nin == 2 and op.unit is not None, op.name
    if op.noop_if_same:
        assert op.nin == 1, op.name
    if op.stateful:
        assert not op.differentiable, f"{op.name}: a random stream has no gradient"
    if op.in_place is not None:
        assert op.accumulator and op.in_place.accumulator, op.name
        assert op.in_place.name not in REGISTRY  # graph-only: an op never changes its inputs
        assert op.in_place.nin == op.nin
    if op.walk is not None:
        assert op.vjp is not None, f"{op.name}: a walk hook replaces a VJP it must have"
    if op.differentiable:
        assert op.vjp is not None or op.name == "custom_gradient", op.name
    assert op.low_precision in ("native", "float32", "float32_on_numpy", "cast_up"), op.name
    if op.low_precision != "native":  # every path (eager, replay) runs the float32 wrapper
        assert op.numpy_forward.__wrapped__ is op.forward, op.name
        assert op.forward.__wrapped__ is op.__wrapped__, op.name


def _op_names_in(node) -> list[str]:
    elements = node.keys if isinstance(node, ast.Dict) else node.elts
    return [e.value for e in elements if isinstance(e, ast.Constant)
            and isinstance(e.value, str)]


def _side_tables(path: pathlib.Path) -> list[str]:
    """Collections of two or more op names, and comparisons of an op's name with a
    constant, in one module of tape (``__all__`` lists aside)."""
    tree = ast.parse(path.read_text())
    exports = {id(node.value) for node in ast.walk(tree)
               if isinstance(node, ast.Assign | ast.AugAssign)
               and any(getattr(t, "id", None) == "__all__"
                       for t in getattr(node, "targets", [getattr(node, "target", None)]))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict | ast.Set | ast.List | ast.Tuple) and id(node) not in exports:
            names = _op_names_in(node)
            if len(names) >= 2 and all(n in REGISTRY for n in names):
                found.append(f"{path.name}:{node.lineno} {names}")
        if isinstance(node, ast.Compare) and ast.unparse(node.left).endswith("name"):
            for c in node.comparators:
                names = ([c.value] if isinstance(c, ast.Constant) else _op_names_in(c)
                         if isinstance(c, ast.Tuple | ast.Set | ast.List) else [])
                if names and all(n in REGISTRY for n in names):
                    found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_module_keeps_a_side_table_of_op_names():
    found = [row for path in sorted(TAPE.rglob("*.py"))
             if path != EXPORTER and TESTING not in path.parents
             for row in _side_tables(path)]
    assert not found, ("facts about ops belong on their records (tape.ops.Op), not in tables "
                       f"or branches on op names: {found}")


def test_the_side_table_check_finds_one():
    source = ('_IN_PLACE_OPS = ("add", "subtract")\n'
              'def f(node):\n    return node.op.name == "getitem"\n')
    path = pathlib.Path(__file__).with_name("_side_table_sample.py")
    path.write_text(source)
    try:
        found = _side_tables(path)
    finally:
        path.unlink()
    assert len(found) == 2, found
