"""The op table and the NumPy-named functions built on it.

Importing this package declares every primitive (``registry.REGISTRY``) and binds this
namespace as the late-bound hook that Tensor dunders call.
"""

from .. import tensor as _tensor
from . import random
from .creation import (
    arange,
    constant,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .fused import (
    bias_act,
    bias_act_grad,
    softmax_xent,
    softmax_xent_grad,
    sparse_softmax_xent,
    sparse_softmax_xent_grad,
)
from .interop import array_function, array_ufunc
from .linalg import dot, einsum, matmul, outer, tensordot, tril, triu
from .math import (
    CUSTOM,
    abs,
    add,
    cast,
    ceil,
    clip,
    cos,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floor_divide,
    greater,
    greater_equal,
    identity,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    power,
    round,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    stop_gradient,
    subtract,
    tan,
    tanh,
    to_device,
    where,
)
from .nn import (
    layer_norm,
    layer_norm_grad,
    log_softmax,
    log_softmax_grad,
    mish,
    relu,
    softmax,
    softmax_grad,
    softplus,
)
from .reduce import (
    all,
    any,
    argmax,
    argmin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from .registry import REGISTRY, LowPrecisionWarning, Op, convert, defop
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    flip,
    getitem,
    moveaxis,
    one_hot,
    pad,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    sum_to,
    swapaxes,
    take,
    take_along_axis,
    tile,
    transpose,
)
from .sorting import TopK, argsort, sort, top_k

true_divide = divide
absolute = abs

# The public NumPy-named functions re-exported as tape.*; internals (REGISTRY,
# sum_to, the interop hooks) stay reachable as tape.ops.<name>.
__all__ = [
    "abs", "absolute", "add", "all", "any", "arange", "argmax", "argmin", "broadcast_to",
    "cast", "ceil", "clip", "concatenate", "constant", "cos", "divide", "dot", "einsum",
    "equal", "erf", "exp", "expand_dims", "expm1", "eye", "flatten", "flip", "floor",
    "floor_divide", "full", "full_like", "getitem", "greater", "greater_equal", "identity",
    "isfinite", "isinf", "isnan", "less", "less_equal", "linspace", "log", "log1p",
    "log_softmax", "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp",
    "matmul", "max", "maximum", "mean", "min", "minimum", "mod", "moveaxis", "multiply",
    "negative", "not_equal", "one_hot", "ones", "ones_like", "outer", "pad", "power", "prod",
    "relu", "repeat", "reshape", "round", "sigmoid", "sign", "sin", "softmax", "softplus",
    "split", "sqrt", "square", "squeeze", "stack", "std", "subtract", "sum", "swapaxes",
    "take", "take_along_axis", "tan", "tanh", "tensor", "tensordot", "tile", "transpose",
    "true_divide", "var", "where", "zeros", "zeros_like",
]

# tf.gather (take along axis 0) and Embedding's id check (tape.ops.check_index only)
from .shape import check_index, gather  # noqa: E402, F401

__all__ += ["gather"]
__all__ += ["argsort", "cumsum", "sort", "top_k", "tril", "triu"]

# Convolution and pooling primitives (their public forms are in tape.nn).
from . import conv, pool  # noqa: E402

_tensor.bind_ops(__import__(__name__, fromlist=["_"]))

