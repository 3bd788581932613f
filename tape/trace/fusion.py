"""Elementwise fusion: a tree of elementwise nodes becomes one ``fused`` node.

``fuse_elementwise`` finds maximal trees of elementwise ops (add, multiply, exp, tanh,
relu, where, comparisons, ...) whose intermediate values nothing outside the tree reads,
and replaces each tree of two or more ops by one node whose op is a ``FusedOp``. A
``FusedOp`` evaluates the whole expression with one of three engines:

- ``"numpy"`` (the CPU default): the members' own op-table forwards, in order, writing
  same-shaped intermediates into the output buffer in place when the buffer pass gave the
  node one. Bit-identical to the unfused graph.
- ``"numexpr"`` (CPU, opt-in: ``cpu_engine="numexpr"`` or ``TAPE_FUSION_CPU=numexpr``):
  one ``numexpr`` call for the whole expression, typed constants bound as 0-d arrays so
  float32 stays float32. Where numexpr cannot express the group exactly (integer dtypes,
  a cast it has no function for) the op uses the ``"numpy"`` engine instead.
- on CuPy: one ``cupy.ElementwiseKernel`` whose source (``op.cuda_source``) is generated
  here, one typed local per member.

The per-op expression templates below restate each op's formula for numexpr and CUDA;
``tests/trace/test_passes.py`` checks every template against the op's own forward.

Example:
    >>> import tape
    >>> f = tape.trace(lambda x, y: tape.tanh(x * y + 1.0))
    >>> _ = f(tape.ones((2,)), tape.ones((2,)))
    >>> [str(n.op) for n in fuse_elementwise(f.graph).nodes]
    ['fused[multiply,add,tanh]']
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from ..ops.registry import REGISTRY, Op
from .graph import Graph, Node

# Each op declares its own lowering beside its forward (``Op.deffusion``): a numexpr
# template, a CUDA one and how the CUDA inputs are typed. ``{0}``.. are the inputs; ``{zero}``,
# ``{half}``, ``{one}`` literals of the member's dtype; ``{T}`` the member's C type.
TEMPLATES = {name: op.fusion for name, op in REGISTRY.items() if op.fusion is not None}
_LITERALS = {"zero": 0.0, "half": 0.5, "one": 1.0}
_C_TYPES = {"float32": "float", "float64": "double", "bool": "bool", "int8": "signed char",
            "int16": "short", "int32": "int", "int64": "long long", "uint8": "unsigned char",
            "uint16": "unsigned short", "uint32": "unsigned int",
            "uint64": "unsigned long long"}
_NUMEXPR_TYPES = {"float32": float, "float64": np.float64, "bool": bool}
MAX_MEMBERS = 32
MAX_INPUTS = 16
_MAX_NUMEXPR_CHARS = 4000  # templates repeat arguments; past this, numexpr is not worth it


@dataclasses.dataclass(frozen=True)
class Member:
    """One op of a fused expression: ``refs`` index the fused node's inputs (0..n-1) and
    then the members before it (n, n+1, ...)."""

    op: object
    refs: tuple
    params: dict
    info: tuple  # (shape, dtype string) of its output


class FusedOp(Op):
    """The op of a fused node: evaluates its members' expression in one call.

    An op record of the graph only (not in the table): ``name`` "fused",
    ``forward(xp, *arrays, out=None)``, no kernel, no VJP; a fresh array always. Not
    ``elementwise`` for the buffer plan: its members write into ``out`` one by one, so
    ``out`` may not be one of its inputs.
    """

    fresh = True

    def __init__(self, members: tuple, in_info: tuple, cpu_engine: str = "numpy"):
        self.name = "fused"
        self.nin = -1
        self.param_names = ()
        self.differentiable = False
        self.vjp = None
        self.kernel = None
        self.walk = None
        self.saves = ()
        self.members = members
        self.in_info = in_info
        self.out_info = members[-1].info
        self.label = f"fused[{','.join(m.op.name for m in members)}]"
        # members never compute float16/bfloat16 (_fusable), so no float32 wrapper
        self._fns = [m.op.runner(np, m.params, in_float32=False) for m in members]
        self._out_fns = [m.op.out_function(np) for m in members]
        self.cuda_kernel_args = _cuda_kernel_args(self)
        self.cuda_source = _cuda_text(self.cuda_kernel_args)
        self._numexpr = _numexpr_program(self) if cpu_engine == "numexpr" else None
        self.engine = "numexpr" if self._numexpr is not None else "numpy"
        self.numpy_forward = functools.partial(self.forward, np)

    @property
    def writes_out(self) -> bool:
        """Whether ``forward(..., out=buffer)`` fills the buffer without an extra copy."""
        return self.engine == "numexpr" or self._out_fns[-1] is not None

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"<FusedOp {self.label} ({self.engine} engine)>"

    def forward(self, xp, *arrays, out=None):
        if xp is np:
            if self._numexpr is not None:
                program, literals = self._numexpr
                return program(*arrays, *literals, out=out, ex_uses_vml=False)
            return self._run_members(arrays, out, self._fns, self._out_fns)
        if self.cuda_kernel_args is not None:
            kernel = _cupy_kernel(self.cuda_kernel_args)
            return kernel(*arrays) if out is None else kernel(*arrays, out)
        return self._run_members(arrays, out,
                                 [m.op.runner(xp, m.params, in_float32=False)
                                  for m in self.members],
                                 [m.op.out_function(xp) for m in self.members])

    def _run_members(self, arrays, out, fns, out_fns):
        """Each member's forward in order. With ``out``, a member whose result has the
        output's shape and dtype writes into it when nothing else lives there, so a chain
        runs in place."""
        env = list(arrays)
        held = None  # env index of the intermediate that lives in ``out``
        for m, fn, out_fn in zip(self.members, fns, out_fns):
            args = [env[r] for r in m.refs]
            if (out is not None and out_fn is not None and m.info == self.out_info
                    and (held is None or held in m.refs)):
                env.append(out_fn(*args, out=out))
                held = len(env) - 1
            else:
                env.append(fn(*args))
                if held in m.refs:  # a tree: the value in ``out`` has its one reader
                    held = None
        result = env[-1]
        if out is not None and held != len(env) - 1:
            out[...] = result
            return out
        return result


def fuse_elementwise(g: Graph, cpu_engine: str | None = None) -> Graph:
    """Replace each maximal tree of two or more elementwise nodes, whose intermediates
    only the tree reads, by one fused node (``cpu_engine``: "numpy" or "numexpr"; default
    from ``TAPE_FUSION_CPU``, else "numpy")."""
    engine = cpu_engine or os.environ.get("TAPE_FUSION_CPU", "numpy")
    if engine not in ("numpy", "numexpr"):
        raise ValueError(f"fuse_elementwise: cpu_engine must be 'numpy' or 'numexpr', "
                         f"got {engine!r}")
    g = g.copy()
    g.buffers = {}
    nodes = g.nodes
    roots = set(g.live_roots())
    producer = {n.out: i for i, n in enumerate(nodes)}
    readers: dict = {}
    for i, n in enumerate(nodes):
        for v in set(n.inputs):
            readers.setdefault(v, []).append(i)
    fusable = [_fusable(g, n) for n in nodes]
    taken: set = set()
    groups = []
    for root in reversed(range(len(nodes))):
        if not fusable[root] or root in taken:
            continue
        members, stack = {root}, [root]
        while stack:
            i = stack.pop()
            for v in nodes[i].inputs:
                p = producer.get(v)
                if (p is None or p in members or p in taken or not fusable[p]
                        or v in roots or readers[v] != [i] or len(members) >= MAX_MEMBERS):
                    continue
                members.add(p)
                stack.append(p)
        if len(members) >= 2:
            group = sorted(members)
            if len(_external_inputs(nodes, group)) <= MAX_INPUTS:
                taken.update(group)
                groups.append(group)
    if not groups:
        return g
    replaced = {}
    for group in groups:
        replaced[group[-1]] = _fused_node(g, group, engine)
    g.nodes = [replaced.get(i, n) for i, n in enumerate(nodes)
               if i in replaced or i not in taken]
    return g


# ---- building a fused node ------------------------------------------------------------


def _fusable(g: Graph, node: Node) -> bool:
    if node.op.fusion is None or g.runs_own_forward(node):
        return False
    for k in node.op.fusion[3]:  # inputs that must be constant scalars (power's exponent)
        value = g.constants.get(node.inputs[k])
        if value is None or np.size(value) != 1:
            return False
    return True


def _external_inputs(nodes: list, group: list) -> list:
    made = {nodes[i].out for i in group}
    seen: list = []
    for i in group:
        for v in nodes[i].inputs:
            if v not in made and v not in seen:
                seen.append(v)
    return seen


def _fused_node(g: Graph, group: list, engine: str) -> Node:
    nodes = g.nodes
    inputs = _external_inputs(nodes, group)
    index = {v: k for k, v in enumerate(inputs)}
    members = []
    for i in group:
        n = nodes[i]
        members.append(Member(n.op, tuple(index[v] for v in n.inputs), dict(n.params),
                              g.info[n.out]))
        index[n.out] = len(inputs) + len(members) - 1
    op = FusedOp(tuple(members), tuple(g.info[v] for v in inputs), engine)
    root = nodes[group[-1]]
    return Node(op, tuple(inputs), {}, root.out, root.where)


# ---- numexpr ----------------------------------------------------------------------------


def _numexpr_program(op: FusedOp):
    """(compiled numexpr program, literal arrays), or None where numexpr cannot express
    the group with NumPy's dtypes."""
    try:
        import numexpr
    except ImportError:
        return None
    dtypes = [d for _, d in op.in_info] + [m.info[1] for m in op.members]
    if any(d not in _NUMEXPR_TYPES for d in dtypes):
        return None
    literals: dict = {}  # (value, dtype) -> name

    def literal(value, dtype):
        return literals.setdefault((value, dtype), f"k{len(literals)}")

    texts = [f"i{k}" for k in range(len(op.in_info))]
    for m in op.members:
        args = [texts[r] for r in m.refs]
        dtype = m.info[1]
        arg_dtypes = [dtypes[r] for r in m.refs]
        template = m.op.fusion[0]
        if template is None:
            return None
        if callable(template):  # the op builds its own text for these dtypes, or cannot
            text = template(args, arg_dtypes, dtype, literal)
            if text is None:
                return None
        else:
            lits = {k: literal(v, dtype) for k, v in _LITERALS.items()
                    if "{" + k + "}" in template}
            text = template.format(*args, **lits)
        texts.append(text)
    expression = texts[-1]
    if len(expression) > _MAX_NUMEXPR_CHARS:
        return None
    names = [f"i{k}" for k in range(len(op.in_info))] + list(literals.values())
    kinds = [_NUMEXPR_TYPES[d] for _, d in op.in_info] + [
        _NUMEXPR_TYPES[d] for _, d in literals]
    used = set(numexpr.necompiler.getExprNames(expression, {})[0])
    # numexpr rejects names the expression does not use (an input read only by a member
    # whose template drops it cannot happen, but a constant folded away could).
    if used != set(names):
        return None
    program = numexpr.NumExpr(expression, signature=list(zip(names, kinds)))
    values = [np.asarray(v, d) for (v, d) in literals]
    probe = program(*[np.zeros((), d) for _, d in op.in_info], *values, ex_uses_vml=False)
    if str(probe.dtype) != op.out_info[1]:
        return None
    return program, values


# ---- CUDA -------------------------------------------------------------------------------


def _cuda_kernel_args(op: FusedOp):
    """(in_params, out_params, operation, name) for ``cupy.ElementwiseKernel``, or None
    when a dtype has no C type here."""
    dtypes = [d for _, d in op.in_info] + [m.info[1] for m in op.members]
    if any(d not in _C_TYPES for d in dtypes):
        return None
    n = len(op.in_info)
    names = [f"in{k}" for k in range(n)] + [f"t{k}" for k in range(len(op.members))]
    lines = []
    for k, m in enumerate(op.members):
        ctype = _C_TYPES[m.info[1]]
        arg_dtypes = [dtypes[r] for r in m.refs]
        _, template, typing, _ = m.op.fusion
        if typing == "common":  # comparisons
            common = _C_TYPES[str(np.result_type(*arg_dtypes))]
            args = [f"(({common}){names[r]})" for r in m.refs]
        elif typing == "condition":  # where
            args = [names[m.refs[0]]] + [f"(({ctype}){names[r]})" for r in m.refs[1:]]
        elif typing == "as_is":
            args = [names[r] for r in m.refs]
        else:
            args = [f"(({ctype}){names[r]})" for r in m.refs]
        lits = {key: f"(({ctype}){value})" for key, value in _LITERALS.items()}
        text = template.format(*args, T=ctype, **lits)
        target = "out0" if k == len(op.members) - 1 else f"{ctype} {names[n + k]}"
        lines.append(f"{target} = {text};")
    in_params = ", ".join(f"{d} in{k}" for k, (_, d) in enumerate(op.in_info))
    out_params = f"{op.out_info[1]} out0"
    name = "tape_fused_" + "_".join(m.op.name for m in op.members)[:48]
    return in_params, out_params, "\n".join(lines), name


def _cuda_text(args) -> str:
    if args is None:
        return ""
    in_params, out_params, operation, name = args
    return f"// {name}\n// in: {in_params}\n// out: {out_params}\n{operation}\n"


@functools.cache
def _cupy_kernel(args):
    import cupy

    in_params, out_params, operation, name = args
    return cupy.ElementwiseKernel(in_params, out_params, operation, name)
