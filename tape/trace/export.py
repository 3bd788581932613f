"""ONNX export of a traced inference graph: placeholders become graph inputs (a None size
a symbolic dimension), Variables and constants initializers, and each op-table node one
or a few ONNX nodes (opset 18).

A graph that assigns Variables (a training step), returns a Python value, or holds an op
with no ONNX form here is refused with an error that names it. Needs the ``onnx`` package
(``pip install 'tape[onnx]'``).

Example:
    >>> import tape
    >>> from tape.trace import export_onnx
    >>> w = tape.Variable(tape.ones((3, 2)))
    >>> f = tape.trace(lambda x: tape.relu(x @ w),
    ...                input_signature=[tape.TensorSpec((None, 3), "float32")])
    >>> _ = f(tape.ones((4, 3)))
    >>> model = export_onnx(f)
    >>> [n.op_type for n in model.graph.node], model.graph.input[0].name
    (['MatMul', 'Relu'], 'x')
    >>> [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    ['x_dim0', 2]
"""

from __future__ import annotations

import re

import numpy as np

from ..backend import is_gpu_array, to_device
from ..errors import TraceError
from .graph import Graph, PyValue

OPSET = 18

# Ops that are one ONNX node with the same inputs and no attributes.
_SAME = {
    "add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "negative": "Neg",
    "exp": "Exp", "log": "Log", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
    "sqrt": "Sqrt", "abs": "Abs", "sin": "Sin", "cos": "Cos", "power": "Pow",
    "maximum": "Max", "minimum": "Min", "where": "Where", "greater": "Greater",
    "greater_equal": "GreaterOrEqual", "less": "Less", "less_equal": "LessOrEqual",
    "equal": "Equal", "logical_and": "And", "logical_or": "Or", "logical_not": "Not",
    "matmul": "MatMul", "identity": "Identity", "stop_gradient": "Identity",
    "floor": "Floor", "ceil": "Ceil", "sign": "Sign", "erf": "Erf", "softplus": "Softplus",
}
_REDUCE = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd",
           "logsumexp": "ReduceLogSumExp", "mean": "ReduceMean"}


def export_onnx(fn_or_graph, path=None, *, name: str | None = None):
    """The ONNX model of a traced function's last graph (or of a ``Graph``), written to
    ``path`` when given. See the module docstring for what is exported."""
    try:
        import onnx
        from onnx import helper
    except ImportError as e:
        raise ImportError("export_onnx needs the onnx package: pip install 'tape[onnx]' "
                          "(or pip install onnx)") from e
    graph = _inference_graph(fn_or_graph)
    builder = _Builder(graph, helper)
    model = builder.model(name or graph.name)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model


def _inference_graph(fn_or_graph) -> Graph:
    from . import passes

    if isinstance(fn_or_graph, Graph):
        graph = fn_or_graph
    else:
        graph = getattr(fn_or_graph, "unoptimized_graph", None)
        if graph is None:
            raise TraceError(f"export_onnx: {getattr(fn_or_graph, 'name', fn_or_graph)!r} is "
                             "not a traced function that has been called, nor a Graph")
        graph = passes.optimize(graph, fuse=False, buffers=False)
    if graph.updates:
        names = ", ".join(repr(var.name) for var, _ in graph.updates)
        raise TraceError(f"export_onnx: {graph.name} assigns Variables ({names}); ONNX "
                         "export takes an inference function (a predict step, not a "
                         "training step)")
    if any(isinstance(v, PyValue) for v in graph.flat_outputs):
        raise TraceError(f"export_onnx: {graph.name} returns a Python value; export a "
                         "function that returns only tensors")
    return graph


class _Builder:
    def __init__(self, graph: Graph, helper):
        self.g = graph
        self.h = helper
        self.nodes: list = []
        self.initializers: list = []
        self.names: dict = {}  # vid -> ONNX value name
        self._taken: set = set()
        self._count = 0

    # ---- names and tensors ----------------------------------------------------------------
    def _unique(self, text: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", text) or "value"
        name, k = base, 1
        while name in self._taken:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        return name

    def _temp(self) -> str:
        self._count += 1
        return self._unique(f"t{self._count}")

    def _initializer(self, array, text: str) -> str:
        from onnx import numpy_helper

        name = self._unique(text)
        if is_gpu_array(array):  # a model that lives on a GPU exports its weights from there
            array = to_device(array, "cpu")
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def _ints(self, values, text: str) -> str:
        return self._initializer(np.asarray(values, np.int64), text)

    def _value_info(self, name: str, vid: int, label: str):
        shape, dtype = self.g.info[vid]
        dims = [f"{label}_dim{i}" if d is None else d for i, d in enumerate(shape)]
        return self.h.make_tensor_value_info(
            name, self.h.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)

    def _emit(self, op_type: str, inputs: list, output: str | None = None, **attrs) -> str:
        output = output or self._temp()
        self.nodes.append(self.h.make_node(op_type, inputs, [output], **attrs))
        return output

    # ---- the model ------------------------------------------------------------------------
    def model(self, graph_name: str):
        g, h = self.g, self.h
        inputs = []
        for p in g.placeholders:
            self.names[p.vid] = self._unique(p.name)
            inputs.append(self._value_info(self.names[p.vid], p.vid, self.names[p.vid]))
        for vid, var in g.variables.items():
            self.names[vid] = self._initializer(var.numpy(), var.name)
        for vid, array in g.constants.items():
            self.names[vid] = self._initializer(array, f"c{vid}")
        # A node's result that is returned is named as the output; anything else returned
        # (an input, an initializer, a value returned twice) goes through an Identity.
        made = {n.out for n in g.nodes}
        self.output_names: dict = {}
        for k, vid in enumerate(g.flat_outputs):
            if vid in made and vid not in self.output_names:
                self.output_names[vid] = self._unique(f"output_{k}")
        for node in g.nodes:
            self._node(node)
        free_sizes = any(None in p.shape for p in g.placeholders)
        outputs, named = [], set()
        for k, vid in enumerate(g.flat_outputs):
            name = self.output_names.get(vid)
            if name is None or name in named:
                name = self._emit("Identity", [self.names[vid]], self._unique(f"output_{k}"))
            named.add(name)
            if free_sizes:  # traced sizes need not hold: let shape inference say
                outputs.append(h.make_tensor_value_info(
                    name, h.np_dtype_to_tensor_dtype(np.dtype(g.info[vid][1])), None))
            else:
                outputs.append(self._value_info(name, vid, name))
        graph = h.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)],
                             producer_name="tape")
        if free_sizes:
            import onnx

            model = onnx.shape_inference.infer_shapes(model)
        return model

    def _node(self, node) -> None:
        members = getattr(node.op, "members", None)
        out = self.output_names.get(node.out)
        if members is not None:  # a fused node: its members, one by one
            refs = [self.names[v] for v in node.inputs]
            for k, m in enumerate(members):
                last = k == len(members) - 1
                refs.append(self._op(m.op.name, [refs[r] for r in m.refs], m.params, node,
                                     out if last else self._temp()))
            self.names[node.out] = refs[-1]
            return
        self.names[node.out] = self._op(node.op.name, [self.names[v] for v in node.inputs],
                                        node.params, node, out)

    def _op(self, name: str, ins: list, params: dict, node, out: str | None = None) -> str:
        out = out or self._unique(f"v{node.out}")
        if name in _SAME and not params:
            return self._emit(_SAME[name], ins, out)
        if name == "square":
            return self._emit("Mul", [ins[0], ins[0]], out)
        if name == "not_equal":
            return self._emit("Not", [self._emit("Equal", ins)], out)
        if name in ("softmax", "log_softmax"):
            op_type = "Softmax" if name == "softmax" else "LogSoftmax"
            return self._emit(op_type, ins, out, axis=int(params.get("axis", -1)))
        if name == "reshape":
            return self._emit("Reshape", [ins[0], self._ints(params["shape"], "shape")], out)
        if name == "broadcast_to":
            return self._emit("Expand", [ins[0], self._ints(params["shape"], "shape")], out)
        if name == "transpose":
            axes = params.get("axes")
            if axes is None:
                return self._emit("Transpose", ins, out)
            return self._emit("Transpose", ins, out, perm=[int(a) for a in axes])
        if name == "mean" and np.dtype(self.g.info[node.inputs[0]][1]).kind not in "fc":
            float32 = self.h.np_dtype_to_tensor_dtype(np.dtype("float32"))
            ins = [self._emit("Cast", ins, to=float32)]  # tape averages integers to float32
        if name in _REDUCE:
            return self._reduce(_REDUCE[name], ins[0], params, node, out)
        if name == "concatenate":
            return self._emit("Concat", ins, out, axis=int(params.get("axis", 0)))
        if name == "cast":
            to = self.h.np_dtype_to_tensor_dtype(np.dtype(params["dtype"]))
            return self._emit("Cast", ins, out, to=to)
        if name == "clip":
            dtype = np.dtype(self.g.info[node.inputs[0]][1]) if node.inputs else None
            bounds = [self._initializer(np.asarray(params[k], dtype), k) if
                      params.get(k) is not None else "" for k in ("min", "max")]
            return self._emit("Clip", [ins[0], *bounds], out)
        if name == "getitem":
            return self._getitem(ins[0], params["index"], node, out)
        if name == "bias_act":  # Dense: act(x + bias)
            return self._bias_act(ins, params.get("activation", "relu"), out)
        if name == "layer_norm":
            return self._emit("LayerNormalization", ins, out, axis=-1,
                              epsilon=float(params.get("epsilon", 1e-3)))
        raise TraceError(
            f"export_onnx: {self.g.name} uses op {name!r} (at {node.where or 'unknown'}), "
            f"which has no ONNX form here" + (f" with parameters {params}" if params else ""))

    def _bias_act(self, ins: list, activation: str, out: str) -> str:
        z = self._emit("Add", ins)
        if activation in ("relu", "tanh", "sigmoid"):
            return self._emit(activation.capitalize(), [z], out)
        if activation == "silu":
            return self._emit("Mul", [z, self._emit("Sigmoid", [z])], out)
        raise TraceError(f"export_onnx: {self.g.name} uses bias_act with activation "
                         f"{activation!r}, which opset {OPSET} has no node for")

    def _reduce(self, op_type: str, x: str, params: dict, node, out: str) -> str:
        axis = params.get("axis")
        keepdims = int(bool(params.get("keepdims", False)))
        if axis is None:
            return self._emit(op_type, [x], out, keepdims=keepdims)
        axes = [axis] if isinstance(axis, int | np.integer) else list(axis)
        return self._emit(op_type, [x, self._ints(axes, "axes")], out, keepdims=keepdims)

    def _getitem(self, x: str, index: tuple, node, out: str) -> str:
        """Basic indexing: slices (Slice), integers (Slice, then Squeeze), None
        (Unsqueeze) and one Ellipsis."""
        ndim = len(self.g.info[node.inputs[0]][0])
        if index.count(Ellipsis) > 1 or not all(
                isinstance(i, slice | int | np.integer) or i is None or i is Ellipsis
                for i in index):
            raise TraceError(f"export_onnx: {self.g.name} indexes with arrays "
                             f"(at {node.where or 'unknown'}); only basic indexing "
                             "(slices, integers, None) has an ONNX form here")
        if Ellipsis in index:
            k = index.index(Ellipsis)
            used = sum(1 for i in index if i is not None and i is not Ellipsis)
            index = index[:k] + (slice(None),) * (ndim - used) + index[k + 1:]
        starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
        axis = 0
        for position, item in enumerate(index):
            if item is None:
                unsqueeze.append(position)
                continue
            if isinstance(item, slice):
                step = 1 if item.step is None else int(item.step)
                big = np.iinfo(np.int64).max
                start = item.start if item.start is not None else (0 if step > 0 else -1)
                stop = item.stop if item.stop is not None else (big if step > 0 else -big)
                if (item.start, item.stop, step) != (None, None, 1):
                    starts.append(int(start))
                    ends.append(int(stop))
                    axes.append(axis)
                    steps.append(step)
            else:
                i = int(item)
                starts.append(i)
                ends.append(i + 1 if i != -1 else np.iinfo(np.int64).max)
                axes.append(axis)
                steps.append(1)
                squeeze.append(axis)
            axis += 1
        value = x
        if starts:
            value = self._emit("Slice", [value, self._ints(starts, "starts"),
                                         self._ints(ends, "ends"), self._ints(axes, "axes"),
                                         self._ints(steps, "steps")])
        if squeeze:
            value = self._emit("Squeeze", [value, self._ints(squeeze, "axes")])
        if unsqueeze:
            # positions counted in the result: integers before each None are gone
            kept = [p - sum(1 for q, it in enumerate(index) if q < p and it is not None
                            and not isinstance(it, slice)) for p in unsqueeze]
            value = self._emit("Unsqueeze", [value, self._ints(kept, "axes")])
        return self._emit("Identity", [value], out)
