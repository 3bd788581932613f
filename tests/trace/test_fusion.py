"""Elementwise fusion: which nodes become one fused node, and that each engine computes
what the unfused nodes compute (NumPy exactly; numexpr to rounding; the CUDA source,
compiled for the host by nvcc, to rounding)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import numpy as np
import pytest
from graph_builder import Builder, assert_same_results, names, replay

import tape
from tape.ops import REGISTRY
from tape.trace.fusion import TEMPLATES, FusedOp, Member, fuse_elementwise

needs_numexpr = pytest.mark.skipif(importlib.util.find_spec("numexpr") is None,
                                   reason="numexpr is not installed (pip install numexpr)")


def _chain(dtype="float64"):
    b = Builder()
    x, y = b.placeholder((4, 3), dtype), b.placeholder((3,), dtype)
    t = b.op("tanh", b.op("add", b.op("multiply", x, y), b.constant(1.0, dtype)))
    return b, b.outputs(b.op("sum", t, axis=0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_chain_becomes_one_node_that_computes_the_same_arrays(dtype):
    b, g = _chain(dtype)
    out = fuse_elementwise(g)
    assert names(out) == ["fused[multiply,add,tanh]", "sum"]
    fused = out.nodes[0]
    assert fused.op.name == "fused" and fused.op.engine == "numpy"
    assert fused.out == g.nodes[2].out and len(fused.inputs) == 3
    assert "fused[multiply,add,tanh](x0, x1, c3)" in str(out)
    assert_same_results(g, out, b.new_inputs())  # the numpy engine: bit for bit


def test_values_read_outside_the_tree_or_returned_stay_out_of_it():
    b = Builder()
    x = b.placeholder((5,))
    shared = b.op("exp", x)  # also read by sum: not an intermediate of the tree
    returned = b.op("negative", x)  # an output itself
    t = b.op("tanh", b.op("multiply", shared, b.constant(2.0)))
    r = b.op("add", returned, b.constant(1.0))
    g = b.outputs(t, b.op("sum", shared), returned, r)
    out = fuse_elementwise(g)
    assert names(out) == ["exp", "negative", "fused[multiply,tanh]", "add", "sum"]
    assert_same_results(g, out, b.new_inputs())


def test_single_ops_and_non_elementwise_ops_are_not_fused():
    b = Builder()
    x, w = b.placeholder((2, 3)), b.placeholder((3, 3))
    m = b.op("matmul", b.op("exp", x), w)  # exp alone: matmul is not elementwise
    g = b.outputs(b.op("log", b.op("sum", m, axis=1)))
    out = fuse_elementwise(g)
    assert names(out) == names(g) == ["exp", "matmul", "sum", "log"]


def test_power_fuses_only_with_a_constant_scalar_exponent():
    b = Builder()
    x, e = b.placeholder((3,)), b.placeholder((3,))
    scalar = b.op("exp", b.op("power", x, b.constant(3.0)))
    array = b.op("exp", b.op("power", x, e))
    g = b.outputs(scalar, array)
    out = fuse_elementwise(g)
    assert names(out) == ["fused[power,exp]", "power", "exp"]
    assert_same_results(g, out, b.new_inputs())


def test_a_variable_update_can_be_the_root_of_a_fused_node():
    w = tape.Variable(np.ones((3, 2)))
    b = Builder()
    grad, lr = b.placeholder((3, 2)), b.placeholder(())
    wv = b.variable(w)
    b.update(w, b.op("subtract", wv, b.op("multiply", grad, lr)))
    g = b.outputs()
    out = fuse_elementwise(g)
    assert names(out) == ["fused[multiply,subtract]"] and out.updates[0][1] == out.nodes[0].out
    grad_value = np.arange(6.0).reshape(3, 2)
    replay(out, [grad_value, np.asarray(0.5)])
    np.testing.assert_array_equal(w.numpy(), 1.0 - grad_value * 0.5)


def test_the_numpy_engine_runs_a_chain_in_place_in_the_given_buffer():
    b, g = _chain()
    op = fuse_elementwise(g).nodes[0].op
    arrays = [*b.new_inputs(), np.asarray(1.0)]
    want = np.tanh(arrays[0] * arrays[1] + 1.0)
    out = np.empty((4, 3))
    assert op.forward(np, *arrays, out=out) is out
    np.testing.assert_array_equal(out, want)
    assert op.writes_out


def test_the_numpy_engine_never_puts_two_live_intermediates_in_the_buffer():
    b = Builder()
    x, y = b.placeholder((3,)), b.placeholder((3,))
    left, right = b.op("multiply", x, y), b.op("subtract", x, y)
    g = b.outputs(b.op("add", left, right))  # both branches have the output's shape
    op = fuse_elementwise(g).nodes[0].op
    x_value, y_value = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    out = np.empty(3)
    op.forward(np, x_value, y_value, out=out)
    np.testing.assert_array_equal(out, x_value * y_value + (x_value - y_value))


def test_a_root_without_out_writes_a_copy_and_says_so():
    b = Builder()
    x = b.placeholder((4,))
    g = b.outputs(b.op("relu", b.op("add", x, b.constant(-1.0))))
    op = fuse_elementwise(g).nodes[0].op
    assert op.label == "fused[add,relu]" and not op.writes_out  # relu has no out=
    out = np.empty(4)
    x_value = np.array([0.0, 0.5, 1.5, 3.0])
    assert op.forward(np, x_value, np.asarray(-1.0), out=out) is out
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.5, 2.0])


def test_an_unknown_engine_is_an_error():
    _, g = _chain()
    with pytest.raises(ValueError, match="cpu_engine must be 'numpy' or 'numexpr'"):
        fuse_elementwise(g, "numba")


# ---- numexpr ------------------------------------------------------------------------------


@needs_numexpr
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-6)])
def test_the_numexpr_engine_matches_numpy_to_rounding_with_broadcasting(dtype, rtol):
    b = Builder()
    x, bias, g_in = (b.placeholder(shape, dtype) for shape in ((6, 4), (4,), (6, 4)))
    act = b.op("sigmoid", b.op("relu", b.op("add", x, b.op("negative", bias))))
    mask = b.op("greater", b.op("multiply", x, g_in), b.constant(0.2, dtype))
    picked = b.op("where", mask, b.op("tanh_grad", act, g_in), b.constant(0.0, dtype))
    root = b.op("maximum", b.op("exp", b.op("square", picked)),
                b.op("sqrt", b.op("log1p", bias)))
    g = b.outputs(root)
    out = fuse_elementwise(g, "numexpr")
    assert names(out) == ["fused[negative,add,relu,sigmoid,multiply,greater,tanh_grad,"
                          "where,square,exp,log1p,sqrt,maximum]"]
    assert out.nodes[0].op.engine == "numexpr"
    arrays = b.new_inputs(seed=3)
    arrays[0] -= 1.2  # both signs, so relu and where choose both ways
    (want,), (got,) = replay(g, arrays), replay(out, arrays)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol)


@needs_numexpr
def test_numexpr_falls_back_to_numpy_where_it_cannot_keep_the_dtypes():
    b = Builder()
    i = b.placeholder((3,), "int64")
    x = b.placeholder((3,), "float64")
    ints = b.op("multiply", b.op("add", i, i), i)  # integers: numexpr's rules differ
    narrowed = b.op("exp", b.op("cast", x, dtype=np.dtype("float32")))  # no f64 -> f32
    g = b.outputs(ints, narrowed)
    out = fuse_elementwise(g, "numexpr")
    assert [n.op.engine for n in out.nodes] == ["numpy", "numpy"]
    assert_same_results(g, out, [np.array([1, 2, 3]), np.array([0.5, 1.0, 2.0])])


def _single(name, dtype, rng):
    """A FusedOp of one member ``name``, with inputs in its domain."""
    op = REGISTRY[name]
    x = rng.uniform(0.1, 2.0, (5, 3)).astype(dtype)
    y = rng.uniform(-2.0, 2.0, (3,)).astype(dtype)  # broadcasts
    bools = rng.uniform(size=(5, 3)) > 0.5
    params = {}
    if name in ("relu", "maximum", "minimum"):  # NaN propagates, as in NumPy
        x[0, 0] = y[1] = np.nan
    if name == "where":
        arrays = [bools, x, y]
    elif name in ("logical_and", "logical_or"):
        arrays = [bools, bools[::-1]]
    elif name == "logical_not":
        arrays = [bools]
    elif name == "cast":
        arrays, params = [bools], {"dtype": np.dtype(dtype)}
    elif name == "power":
        arrays = [x, np.asarray(2.5, dtype)]
    elif op.nin == 2:
        arrays = [x - 1.0 if name not in ("divide",) else x, y]
    else:
        arrays = [x - 1.0 if name in ("relu", "negative", "abs", "tanh", "sigmoid") else x]
    want = np.asarray(op.forward(np, *arrays, **params))
    member = Member(op, tuple(range(len(arrays))), params, (want.shape, str(want.dtype)))
    in_info = tuple((a.shape, str(a.dtype)) for a in arrays)
    return member, in_info, arrays, want


@needs_numexpr
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-6)])
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_numexpr_template_computes_the_op_forward(name, dtype, rtol):
    member, in_info, arrays, want = _single(name, dtype, np.random.default_rng(0))
    op = FusedOp((member,), in_info, "numexpr")
    assert op.engine == "numexpr", f"{name} fell back to the numpy engine"
    got = op.forward(np, *arrays)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


def _c_literal(value) -> str:
    if isinstance(value, np.bool_):
        return str(int(value))
    return "NAN" if np.isnan(value) else repr(float(value))


# ---- CUDA -----------------------------------------------------------------------------------


def test_the_cuda_source_has_one_typed_statement_per_member():
    b, g = _chain("float32")
    op = fuse_elementwise(g).nodes[0].op
    in_params, out_params, operation, name = op.cuda_kernel_args
    assert in_params == "float32 in0, float32 in1, float32 in2"
    assert out_params == "float32 out0" and name == "tape_fused_multiply_add_tanh"
    assert operation.splitlines() == [
        "float t0 = ((float)in0) * ((float)in1);",
        "float t1 = ((float)t0) + ((float)in2);",
        "out0 = tanh(((float)t1));",
    ]
    assert operation in op.cuda_source


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_every_cuda_template_compiles_with_nvcc_and_computes_the_op_on_the_host(tmp_path):
    """The kernel bodies go into ``__host__ __device__`` functions: nvcc checks them as
    device code, and the host build runs them on the same inputs as the op forwards."""
    rng = np.random.default_rng(1)
    cases, functions, calls = [], [], []
    for name in sorted(TEMPLATES):
        for dtype in ("float32", "float64"):
            member, in_info, arrays, want = _single(name, dtype, rng)
            op = FusedOp((member,), in_info)
            in_params, out_params, operation, _ = op.cuda_kernel_args
            ctype = {"float32": "float", "float64": "double", "bool": "bool"}
            params = [f"{ctype[d]} in{j}" for j, (_, d) in enumerate(in_info)]
            params.append(f"{ctype[op.out_info[1]]} &out0")
            fn = f"f{len(cases)}"
            functions.append(f"__host__ __device__ void {fn}({', '.join(params)}) {{\n"
                             f"{operation}\n}}")
            flat = [np.broadcast_to(a, want.shape).ravel() for a in arrays]
            for i in range(want.size):
                args = ", ".join(_c_literal(a[i]) for a in flat)
                calls.append(f'  {{ {ctype[op.out_info[1]]} r; {fn}({args}, r); '
                             f'printf("%.17g\\n", (double)r); }}')
            cases.append((name, dtype, want))
    source = ("#include <cmath>\n#include <cstdio>\nusing namespace std;\n"
              + "\n".join(functions) + "\nint main() {\n" + "\n".join(calls) + "\n}\n")
    (tmp_path / "fused.cu").write_text(source)
    build = subprocess.run(["nvcc", "-O0", "-arch=sm_80", "-o", str(tmp_path / "fused"),
                            str(tmp_path / "fused.cu")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(tmp_path / "fused")], capture_output=True, text=True,
                         check=True)
    values = iter(float(v) for v in run.stdout.split())
    for name, dtype, want in cases:
        got = np.array([next(values) for _ in range(want.size)]).reshape(want.shape)
        rtol = 1e-12 if dtype == "float64" else 1e-6
        np.testing.assert_allclose(got, want.astype(np.float64), rtol=rtol,
                                   err_msg=f"{name} {dtype}")
