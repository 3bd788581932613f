"""The op table's test rows: one explicit row per differentiable op and public composite.

A row says how to call the tape function, which JAX function is its oracle, the input
shapes to draw from, the input domain, how to draw parameters, and which registry ops
its gradient check exercises. ``test_op_table.py`` runs every row; nothing here is hidden
behind a factory: to see what is checked for an op, read its row.

Shapes come from a small pool (JAX compiles its oracle once per new shape); values come
from a NumPy generator seeded by hypothesis, kept inside each op's smooth domain (away
from abs/relu at 0, max ties, clip bounds, mod's jumps). Ties and kinks are tested on
purpose, with fixed inputs, in ``test_op_table.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tape
from tape.ops.math import sigmoid_grad, tanh_grad
from tape.ops.shape import index_add, index_add_into, sum_to

# ---- shape pools ----------------------------------------------------------------------------

POOL = ((), (1,), (3,), (2, 3), (1, 3), (2, 1, 3))
UNARY = tuple((s,) for s in POOL)
UNARY_ND = tuple((s,) for s in POOL if s)  # rank >= 1 (an axis to act on)
BINARY = (  # pairs that broadcast together, size-1 dims and 0-d included
    ((), ()),
    ((3,), (3,)),
    ((2, 3), (2, 3)),
    ((2, 3), ()),
    ((), (2, 3)),
    ((2, 3), (3,)),
    ((1,), (2, 3)),
    ((2, 3), (1, 3)),
    ((2, 1, 3), (2, 3)),
    ((1, 3), (2, 1, 3)),
)
MATMUL = (
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((2, 3), (3, 2)),
    ((1, 3), (3, 1)),
    ((2, 2, 3), (3, 2)),
    ((1, 2, 3), (2, 3, 2)),
    ((2, 3), (2, 3, 1)),
)


# ---- wide shapes, for the finite-difference sweep (no compile cost): draw -> shapes -------


def wide_unary(min_dims=0, min_side=1):
    """One shape of up to 4 dims, sides up to 4."""
    shape = hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=min_side, max_side=4)
    return lambda draw: (draw(shape),)


def wide_broadcasting(num_shapes=2, min_dims=0):
    """Shapes that broadcast together (size-1 dims, missing leading dims)."""
    shapes = hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims,
                                               max_dims=4, max_side=4)
    return lambda draw: draw(shapes).input_shapes


def wide_same(draw):
    """One to three copies of one shape (stack)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    return (shape,) * draw(st.integers(1, 3))


def wide_concatenate(draw):
    """One to three shapes equal except along one axis."""
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    axis = draw(st.integers(0, len(base) - 1))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        base[axis] = draw(st.integers(1, 3))
        shapes.append(tuple(base))
    return tuple(shapes)


def wide_matmul(draw):
    """Vector/matrix operands with broadcasting batch dims."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    bx, by = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2,
                                                    max_side=3)).input_shapes
    x = draw(st.sampled_from([(k,), bx + (n, k)]))
    y = draw(st.sampled_from([(k,), by + (k, m)]))
    return x, y


def wide_mod(draw):
    """(x, y) with y broadcasting to x's shape, as mod_values needs."""
    x = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    y = x[draw(st.integers(0, len(x))):]
    return x, tuple(1 if draw(st.booleans()) else n for n in y)


def wide_pair(draw):
    """Two independent shapes (outer flattens both)."""
    shape = hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)
    return draw(shape), draw(shape)


def wide_einsum(subscripts):
    """Shapes for ``subscripts``: a random size per label, and ellipsis dims that
    broadcast (each operand takes a suffix of them, some set to 1)."""
    terms = subscripts.split("->")[0].split(",")

    def draw_shapes(draw):
        labels = sorted(set("".join(terms)) - {"."})
        sizes = {c: draw(st.integers(1, 4)) for c in labels}
        ellipsis = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        shapes = []
        for term in terms:
            before, dots, after = term.partition("...")
            dims = [sizes[c] for c in before]
            if dots:
                tail = ellipsis[draw(st.integers(0, len(ellipsis))):]
                dims += [1 if draw(st.booleans()) else n for n in tail]
            shapes.append(tuple(dims + [sizes[c] for c in after]))
        return tuple(shapes)

    return draw_shapes


# ---- input domains: (rng, shape) -> float64 array -----------------------------------------


def real(lo=-2.0, hi=2.0):
    """Uniform on ``[lo, hi)``."""
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def positive(lo=0.5, hi=2.0):
    """Uniform on ``[lo, hi)`` with ``lo > 0`` (log, sqrt, a power's base, a divisor)."""
    return real(lo, hi)


def nonzero(lo=0.2, hi=2.0):
    """``|x|`` uniform on ``[lo, hi)`` with a random sign: away from a kink at 0."""
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(gap=0.3):
    """Values at least ``gap / 3`` apart (a max or min never ties)."""

    def draw(rng, shape):
        size = math.prod(shape)
        base = rng.permutation(size) * gap - size * gap / 2
        return (base + rng.uniform(-gap / 3, gap / 3, size)).reshape(shape)

    return draw


def with_zeros(lo=-2.0, hi=2.0, p=0.3):
    """Uniform, with about a fraction ``p`` of exact zeros (prod's special case)."""
    return lambda rng, shape: np.where(rng.random(shape) < p, 0.0, rng.uniform(lo, hi, shape))


def interleaved(parity):
    """Odd (``parity=1``) or even (``parity=0``) multiples of 0.25 in [-2, 2): drawn for
    the two inputs of maximum/minimum they never tie, nor come within a finite-difference
    step of a tie, yet either side can be the larger."""
    return lambda rng, shape: (2 * rng.integers(-4, 4, shape) + parity) * 0.25


def each(*domains):
    """One domain per input (or a single domain for all of them)."""

    def draw(rng, shapes):
        ds = domains if len(domains) == len(shapes) else domains * len(shapes)
        return [np.asarray(d(rng, s), dtype=np.float64) for d, s in zip(ds, shapes)]

    return draw


def mod_values(rng, shapes):
    """``x`` and ``y`` with ``x / y`` at least 0.1 away from an integer (mod jumps there);
    ``y`` broadcasts to ``x``'s shape in every MOD_SHAPES pair."""
    x_shape, y_shape = shapes
    y = rng.uniform(0.5, 2.0, y_shape) * rng.choice([-1.0, 1.0], y_shape)
    quotient = rng.integers(-3, 3, x_shape) + rng.uniform(0.1, 0.9, x_shape)
    return [np.asarray(quotient * y, dtype=np.float64), np.asarray(y, dtype=np.float64)]


# ---- parameter drawers: (draw, shapes) -> dict ----------------------------------------------


def no_params(draw, shapes):
    return {}


def _axis(draw, ndim):
    """None, an int (negative too), or a tuple of distinct axes (possibly empty)."""
    kinds = ["none", "tuple"] + (["int"] if ndim else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim)) if ndim else []
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


def reduce_params(draw, shapes):
    return {"axis": _axis(draw, len(shapes[0])), "keepdims": draw(st.booleans())}


def _reduced_count(shape, axis):
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes)


def var_params(draw, shapes):
    params = reduce_params(draw, shapes)
    many = _reduced_count(shapes[0], params["axis"]) > 1
    params["ddof"] = draw(st.sampled_from([0, 1])) if many else 0
    return params


def std_params(draw, shapes):
    """Like var_params, but over at least two elements: std of one value is sqrt(0)."""
    params = var_params(draw, shapes)
    if _reduced_count(shapes[0], params["axis"]) < 2:
        params["axis"] = None  # STD shapes all hold at least two elements
    return params


def softmax_params(draw, shapes):
    ndim = len(shapes[0])
    axis = draw(st.one_of(st.integers(-ndim, ndim - 1), st.just(tuple(range(ndim)))))
    return {"axis": axis}


def int_axis_params(draw, shapes):
    ndim = len(shapes[0])
    return {"axis": draw(st.integers(-ndim, ndim - 1))}


def cumsum_params(draw, shapes):
    ndim = len(shapes[0])
    return {"axis": draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1)) if ndim
                         else st.none())}


def sort_params(draw, shapes):
    ndim = len(shapes[0])
    return {"axis": draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1))),
            "descending": draw(st.booleans())}


def top_k_params(draw, shapes):
    return {"k": draw(st.integers(0, shapes[0][-1]))}


def triangle_params(draw, shapes):
    rows, cols = shapes[0][-2:]
    return {"k": draw(st.integers(-rows, cols))}


def clip_params(draw, shapes):
    bounds = draw(st.sampled_from([(-0.5, 0.7), (None, 0.7), (-0.5, None), (-1.5, 1.2)]))
    return {"min": bounds[0], "max": bounds[1]}


def where_params(draw, shapes):
    full = np.broadcast_shapes(*shapes)
    cond_shape = draw(st.sampled_from([(), full, full[-1:]]))
    return {"condition": draw(hnp.arrays(np.bool_, cond_shape))}


def _factorings(size, max_ndim=3):
    dims = [d for d in range(1, size + 1) if size % d == 0]
    return [s for n in range(max_ndim + 1) for s in itertools.product(dims, repeat=n)
            if math.prod(s) == size]


def reshape_params(draw, shapes):
    target = list(draw(st.sampled_from(_factorings(math.prod(shapes[0])))))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return {"shape": tuple(target)}


def transpose_params(draw, shapes):
    ndim = len(shapes[0])
    if draw(st.booleans()):
        return {"axes": None}
    perm = draw(st.permutations(range(ndim)))
    return {"axes": tuple(a - ndim if draw(st.booleans()) else a for a in perm)}


def broadcast_to_params(draw, shapes):
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    body = tuple(draw(st.sampled_from([1, 2])) if n == 1 else n for n in shapes[0])
    return {"shape": lead + body}


def sum_to_params(draw, shapes):
    """A shape that broadcasts to the input's: some leading dims dropped, some set to 1."""
    shape = shapes[0]
    kept = shape[draw(st.integers(0, len(shape))):]
    target = tuple(1 if draw(st.booleans()) else n for n in kept)
    return {"shape": target if target != shape else shape[1:]}  # something to sum


def _sum_to_oracle(g, shape):
    """broadcast_to's transpose, from JAX's own VJP of broadcast_to."""
    _, vjp = jax.vjp(lambda x: jnp.broadcast_to(x, g.shape), jnp.zeros(shape, g.dtype))
    return vjp(g)[0]


def concatenate_params(draw, shapes):
    ndim = len(shapes[0])
    differ = [a for a in range(ndim) if len({s[a] for s in shapes}) > 1]
    axis = differ[0] if differ else draw(st.integers(0, ndim - 1))
    return {"axis": axis - ndim if draw(st.booleans()) else axis}


def stack_params(draw, shapes):
    ndim = len(shapes[0])
    return {"axis": draw(st.integers(-ndim - 1, ndim))}


def split_params(draw, shapes):
    ndim = len(shapes[0])
    axis = draw(st.integers(-ndim, ndim - 1))
    n = shapes[0][axis]
    if draw(st.booleans()):
        sections = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    else:
        sections = sorted(draw(st.lists(st.integers(0, n), min_size=1, max_size=3)))
    return {"indices_or_sections": sections, "axis": axis}


def pad_params(draw, shapes):
    ndim = len(shapes[0])
    form = draw(st.sampled_from(["per_axis", "pair", "int"]))
    if form == "int":
        width = draw(st.integers(0, 2))
    elif form == "pair":
        width = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    else:
        width = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    return {"pad_width": width, "constant_values": draw(st.sampled_from([0.0, 1.5]))}


def flip_params(draw, shapes):
    return {"axis": _axis(draw, len(shapes[0]))}


def tile_params(draw, shapes):
    if draw(st.booleans()):
        return {"reps": draw(st.integers(1, 3))}
    return {"reps": tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))}


def _basic_item(draw, n):
    kind = draw(st.sampled_from(["all", "int", "slice"]))
    if kind == "all":
        return slice(None)
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    start = draw(st.one_of(st.none(), st.integers(-n, n)))
    stop = draw(st.one_of(st.none(), st.integers(-n, n)))
    return slice(start, stop, draw(st.sampled_from([None, 1, 2, -1])))


def basic_index_params(draw, shapes):
    """Slices (any step), ints (negative too), None and an Ellipsis."""
    shape = shapes[0]
    items = [_basic_item(draw, n) for n in shape]
    if items and draw(st.booleans()):  # drop the leading items behind an Ellipsis
        items = [Ellipsis] + items[draw(st.integers(1, len(items))):]
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    return {"index": tuple(items)}


def _int_array(draw, n, shape):
    # Few distinct values, so repeated indices (a scatter-add in the VJP) are common.
    return draw(hnp.arrays(np.int64, shape, elements=st.integers(-n, n - 1)))


def advanced_index_params(draw, shapes):
    """Integer arrays (repeats, negatives, 2-d) on one axis, on two axes, beside an int or
    a None, or split by a slice (NumPy then moves the indexed axes to the front)."""
    shape = shapes[0]
    ndim = len(shape)
    forms = ["one_axis", "with_none"]
    forms += ["two_axes", "with_int"] if ndim > 1 else []
    forms += ["split_by_slice"] if ndim > 2 else []
    form = draw(st.sampled_from(forms))
    if form in ("one_axis", "with_none"):
        axis = draw(st.integers(0, ndim - 1))
        idx_shape = draw(st.sampled_from([(4,), (2, 2), (1,)]))
        index = (slice(None),) * axis + (_int_array(draw, shape[axis], idx_shape),)
        return {"index": index + (None,) if form == "with_none" else index}
    if form == "two_axes":
        return {"index": (_int_array(draw, shape[0], (3,)), _int_array(draw, shape[1], (3,)))}
    if form == "with_int":
        return {"index": (draw(st.integers(-shape[0], shape[0] - 1)),
                          _int_array(draw, shape[1], (4,)))}
    return {"index": (_int_array(draw, shape[0], (3,)), slice(None),
                      _int_array(draw, shape[2], (3,)))}


def boolean_index_params(draw, shapes):
    """A mask over the whole tensor, over its leading axis, or after an int."""
    shape = shapes[0]
    if len(shape) > 1 and draw(st.booleans()):
        row = draw(st.integers(-shape[0], shape[0] - 1))
        return {"index": (row, draw(hnp.arrays(np.bool_, shape[1:2])))}
    mask_shape = draw(st.sampled_from([shape, shape[:1]]))
    return {"index": draw(hnp.arrays(np.bool_, mask_shape))}


def take_params(draw, shapes):
    shape = shapes[0]
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    n = math.prod(shape) if axis is None else shape[axis]
    idx_shape = draw(st.sampled_from([(), (4,), (2, 2)]))
    return {"indices": draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, n - 1))),
            "axis": axis}


def take_along_axis_params(draw, shapes):
    shape = shapes[0]
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    idx_shape = list(shape)
    idx_shape[axis] = draw(st.integers(1, 4))
    if len(shape) > 1 and draw(st.booleans()):  # a size-1 index dim broadcasts
        other = draw(st.sampled_from([a for a in range(len(shape)) if a != axis % len(shape)]))
        idx_shape[other] = 1
    elements = st.integers(0, shape[axis] - 1)
    return {"indices": draw(hnp.arrays(np.int64, tuple(idx_shape), elements=elements)),
            "axis": axis}


def repeat_params(draw, shapes):
    shape = shapes[0]
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    n = math.prod(shape) if axis is None else shape[axis]
    if draw(st.booleans()):
        return {"repeats": draw(st.integers(0, 3)), "axis": axis}
    return {"repeats": draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3))),
            "axis": axis}


def moveaxis_params(draw, shapes):
    ndim = len(shapes[0])
    k = draw(st.integers(1, ndim))
    source = draw(st.permutations(range(ndim)))[:k]
    destination = draw(st.permutations(range(ndim)))[:k]
    if k == 1 and draw(st.booleans()):
        return {"source": source[0] - ndim, "destination": destination[0]}
    return {"source": tuple(source), "destination": tuple(destination)}


def swapaxes_params(draw, shapes):
    ndim = len(shapes[0])
    return {"axis1": draw(st.integers(-ndim, ndim - 1)),
            "axis2": draw(st.integers(-ndim, ndim - 1))}


def squeeze_params(draw, shapes):
    ones = [a for a, n in enumerate(shapes[0]) if n == 1]
    choice = draw(st.sampled_from(["none", "int", "tuple"] if ones else ["none"]))
    if choice == "none":
        return {"axis": None}
    if choice == "int":
        return {"axis": draw(st.sampled_from(ones)) - len(shapes[0])}
    return {"axis": tuple(draw(st.lists(st.sampled_from(ones), unique=True, min_size=1)))}


def expand_dims_params(draw, shapes):
    ndim = len(shapes[0])
    if draw(st.booleans()):
        return {"axis": draw(st.integers(-ndim - 1, ndim))}
    # Two new axes: the result has rank ndim + 2, so positions up to ndim + 1 are valid.
    return {"axis": tuple(draw(st.lists(st.integers(0, ndim + 1), unique=True, min_size=2,
                                        max_size=2)))}


# tensordot: the axes that fit each shape pair.
TENSORDOT_AXES = {
    ((2, 3), (3, 2)): [1, ([1], [0]), ([0], [1]), 0],
    ((2, 3), (2, 3)): [2, ([0, 1], [0, 1]), ([1, 0], [1, 0])],
    ((2, 1, 3), (1, 3, 2)): [2, ([-1], [1]), 0],
    ((3,), (2, 3)): [([0], [1]), 0],
}


def tensordot_params(draw, shapes):
    return {"axes": draw(st.sampled_from(TENSORDOT_AXES[shapes]))}


def leaky_relu_params(draw, shapes):
    return {"alpha": draw(st.sampled_from([0.2, 0.01, 1.5]))}


def _jax_layer_norm(x, gamma, beta, epsilon):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + epsilon) * gamma + beta


def wide_layer_norm(draw):
    """``x`` of rank 1 to 4 and ``gamma``/``beta`` over its last axis."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    return (shape, shape[-1:], shape[-1:])


def layer_norm_params(draw, shapes):
    return {"epsilon": draw(st.sampled_from([1e-3, 0.1, 1.0]))}


def _philox_mask(shape, key, rate):
    """The CPU dropout mask as the random module documents it, written out here: NumPy's
    Philox keyed by the seed, the stream in the third counter word, float32 uniforms."""
    bits = np.random.Philox(key=int(key[0]), counter=[0, 0, int(key[1]), 0])
    return np.random.Generator(bits).random(size=shape, dtype=np.float32) >= rate


DROPOUT_KEY = np.array([7, 3], dtype=np.uint64)


def _dropout_fn(x, rate):
    return tape.random.dropout(x, rate, key=tape.tensor(DROPOUT_KEY))


def _jax_dropout(x, rate):
    return jnp.where(_philox_mask(x.shape, DROPOUT_KEY, rate), x / (1 - rate), 0.0)


def elu_params(draw, shapes):
    return {"alpha": draw(st.sampled_from([1.0, 0.5]))}


def gelu_params(draw, shapes):
    return {"approximate": draw(st.booleans())}


def sparse_labels_params(draw, shapes):
    shape = shapes[0]
    return {"labels": draw(hnp.arrays(np.int64, shape[:-1],
                                      elements=st.integers(0, shape[-1] - 1)))}


def cast_params(draw, shapes):
    return {"dtype": draw(st.sampled_from([np.dtype(np.float32), np.dtype(np.float16)]))}


# index_add(g, shape, index): the cases, keyed by g's shape (x[index].shape == g.shape).
INDEX_ADD_CASES = {
    (): {"shape": (3,), "index": (1,)},
    (3,): {"shape": (2,), "index": (np.array([0, 1, 0]),)},
    (2, 3): {"shape": (4, 3), "index": (np.array([1, 1]),)},
    (1, 3): {"shape": (2, 3), "index": (slice(0, 1),)},
    (2, 1, 3): {"shape": (2, 3), "index": (slice(None), None)},
}


def index_add_params(draw, shapes):
    return dict(INDEX_ADD_CASES[shapes[0]])


# index_add_into(base, g, index): the same cases, keyed by (base's shape, g's shape).
INDEX_ADD_INTO_CASES = {(case["shape"], g): case["index"] for g, case in INDEX_ADD_CASES.items()}


# ---- helpers the rows call ------------------------------------------------------------------


@tape.custom_gradient
def softplus_with_custom_gradient(x):
    """softplus whose gradient, sigmoid, is supplied by hand (a custom_gradient row)."""

    def grad_fn(g):
        return tape.multiply(g, tape.sigmoid(x))

    return tape.softplus(x), grad_fn


def _jax_sigmoid_xent(labels, logits):
    # The TF formula, independent of ours: max(x, 0) - x * z + log1p(exp(-|x|)).
    return jnp.maximum(logits, 0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def _jax_sparse_xent(logits, labels):
    picked = jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], axis=-1)
    return -picked[..., 0]


def _jax_sparse_xent_grad(logits, g, labels):
    return jax.vjp(lambda z: _jax_sparse_xent(z, labels), logits)[1](g)[0]


# ---- the table ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Row:
    """One gradient-checked function.

    ``fn(*tensors, **params)`` is the tape function, ``ref(*arrays, **params)`` its JAX
    oracle. ``shapes`` lists the input-shape tuples to draw from, ``values(rng, shapes)``
    makes float64 inputs in the op's domain, ``params(draw, shapes)`` draws the keyword
    arguments. ``wide(draw)`` draws input shapes beyond the pool for the finite-difference
    sweep (None: that sweep draws from ``shapes`` too). ``covers`` names the registry ops
    whose VJP the first-order check runs; ``covers2`` those whose VJP only the
    second-order check runs (VJP-of-a-VJP ops such as tanh_grad). A test verifies both
    by watching which VJPs actually run. Rows are second-order checked (a Hessian-vector
    product) unless ``second_order=False``; ``dtypes`` adds the row to the dtype test.
    """

    name: str
    fn: Callable
    ref: Callable
    shapes: tuple
    values: Callable = each(real())
    params: Callable = no_params
    covers: tuple = ()
    covers2: tuple = ()
    second_order: bool = True
    dtypes: bool = False
    wide: Callable | None = None

    def __repr__(self) -> str:  # hypothesis prints failing examples with it
        return f"<row {self.name}>"


ROWS = (
    # ---- elementwise arithmetic (ops/math.py) ----
    Row("add", tape.add, jnp.add, BINARY, wide=wide_broadcasting(),
        covers=("add",), dtypes=True),
    Row("subtract", tape.subtract, jnp.subtract, BINARY, wide=wide_broadcasting(),
        covers=("subtract",)),
    Row("multiply", tape.multiply, jnp.multiply, BINARY, wide=wide_broadcasting(),
        covers=("multiply",), dtypes=True),
    Row("divide", tape.divide, jnp.divide, BINARY, wide=wide_broadcasting(),
        values=each(real(), nonzero(0.5, 2.0)), covers=("divide",), dtypes=True),
    Row("negative", tape.negative, jnp.negative, UNARY, wide=wide_unary(),
        covers=("negative",)),
    Row("power", tape.power, jnp.power, BINARY, wide=wide_broadcasting(),
        values=each(positive(), real()), covers=("power",), dtypes=True),
    Row("mod", tape.mod, jnp.mod,
        (((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), ()), ((2, 1, 3), (1, 3))),
        wide=wide_mod, values=mod_values, covers=("mod",)),
    Row("square", tape.square, jnp.square, UNARY, wide=wide_unary(),
        covers=("square",)),
    Row("abs", tape.abs, jnp.abs, UNARY, wide=wide_unary(),
        values=each(nonzero()), covers=("abs",)),
    Row("maximum", tape.maximum, jnp.maximum, BINARY, wide=wide_broadcasting(),
        values=each(interleaved(1), interleaved(0)), covers=("maximum",), dtypes=True),
    Row("minimum", tape.minimum, jnp.minimum, BINARY, wide=wide_broadcasting(),
        values=each(interleaved(1), interleaved(0)), covers=("minimum",)),
    Row("where", lambda x, y, condition: tape.where(condition, x, y),
        lambda x, y, condition: jnp.where(condition, x, y), BINARY, wide=wide_broadcasting(),
        params=where_params, covers=("where",)),
    Row("clip", tape.clip, lambda x, min, max: jnp.clip(x, min, max), UNARY, wide=wide_unary(),
        params=clip_params, covers=("clip",)),
    # ---- transcendental ----
    Row("exp", tape.exp, jnp.exp, UNARY, wide=wide_unary(),
        covers=("exp",), dtypes=True),
    Row("expm1", tape.expm1, jnp.expm1, UNARY, wide=wide_unary(),
        covers=("expm1",)),
    Row("log", tape.log, jnp.log, UNARY, wide=wide_unary(),
        values=each(positive(0.2, 3.0)), covers=("log",), dtypes=True),
    Row("log1p", tape.log1p, jnp.log1p, UNARY, wide=wide_unary(),
        values=each(real(-0.5, 2.0)), covers=("log1p",)),
    Row("sqrt", tape.sqrt, jnp.sqrt, UNARY, wide=wide_unary(),
        values=each(positive(0.2, 3.0)), covers=("sqrt",), dtypes=True),
    Row("sin", tape.sin, jnp.sin, UNARY, wide=wide_unary(),
        covers=("sin",)),
    Row("cos", tape.cos, jnp.cos, UNARY, wide=wide_unary(),
        covers=("cos",)),
    Row("tan", tape.tan, jnp.tan, UNARY, wide=wide_unary(),
        values=each(real(-1.2, 1.2)), covers=("tan",)),
    Row("tanh", tape.tanh, jnp.tanh, UNARY, wide=wide_unary(),
        covers=("tanh",), covers2=("tanh_grad",), dtypes=True),
    Row("sigmoid", tape.sigmoid, jax.nn.sigmoid, UNARY, wide=wide_unary(),
        values=each(real(-4.0, 4.0)), covers=("sigmoid",), covers2=("sigmoid_grad",),
        dtypes=True),
    Row("erf", tape.erf, jsp.erf, UNARY, wide=wide_unary(),
        covers=("erf",), dtypes=True),
    # ---- internal ops, called directly (tanh_grad's and sigmoid_grad's VJPs also run in
    # the tanh and sigmoid rows' second order, index_add's in the getitem rows') ----
    Row("tanh_grad", tanh_grad, lambda y, g: g * (1 - y * y), BINARY, wide=wide_broadcasting(),
        values=each(real(-1.0, 1.0), real()), covers=("tanh_grad",)),
    Row("sigmoid_grad", sigmoid_grad, lambda y, g: g * (y * (1 - y)), BINARY,
        wide=wide_broadcasting(), values=each(real(0.0, 1.0), real()),
        covers=("sigmoid_grad",)),
    Row("index_add", index_add,
        lambda g, shape, index: jnp.zeros(shape, g.dtype).at[index].add(g),
        tuple((s,) for s in INDEX_ADD_CASES),
        params=index_add_params, covers=("index_add",)),
    Row("index_add_into", index_add_into, lambda base, g, index: base.at[index].add(g),
        tuple(INDEX_ADD_INTO_CASES),
        params=lambda draw, shapes: {"index": INDEX_ADD_INTO_CASES[tuple(shapes)]},
        covers=("index_add_into",)),
    Row("cast", tape.cast, lambda x, dtype: x.astype(dtype), UNARY, wide=wide_unary(),
        params=cast_params, covers=("cast",)),
    Row("identity", tape.identity, lambda x: x, UNARY, wide=wide_unary(),
        covers=("identity",)),
    Row("custom_gradient", softplus_with_custom_gradient, jax.nn.softplus, UNARY,
        wide=wide_unary(), covers=("custom_gradient",)),
    # ---- nn primitives (ops/nn.py) ----
    Row("relu", tape.relu, jax.nn.relu, UNARY, wide=wide_unary(),
        values=each(nonzero()), covers=("relu",), dtypes=True),
    Row("softplus", tape.softplus, jax.nn.softplus, UNARY, wide=wide_unary(),
        values=each(real(-3.0, 3.0)), covers=("softplus",)),
    Row("mish", tape.nn.mish, jax.nn.mish, UNARY, wide=wide_unary(),
        values=each(real(-3.0, 3.0)), covers=("mish",), dtypes=True),
    Row("softmax", tape.softmax, jax.nn.softmax, UNARY_ND, wide=wide_unary(1),
        params=softmax_params, covers=("softmax",), dtypes=True),
    Row("log_softmax", tape.log_softmax, jax.nn.log_softmax, UNARY_ND, wide=wide_unary(1),
        params=softmax_params, covers=("log_softmax",), dtypes=True),
    Row("layer_norm", tape.ops.layer_norm, _jax_layer_norm,
        (((3,), (3,), (3,)), ((2, 3), (3,), (3,)), ((2, 1, 3), (3,), (3,))),
        wide=wide_layer_norm, params=layer_norm_params, covers=("layer_norm",), dtypes=True),
    Row("dropout", _dropout_fn, _jax_dropout, UNARY, wide=wide_unary(),
        params=lambda draw, shapes: {"rate": draw(st.sampled_from([0.0, 0.3, 0.5]))},
        covers=("dropout",)),
    Row("to_device", lambda x: x.to("cpu"), lambda x: x, UNARY, wide=wide_unary(),
        covers=("to_device",)),
    # ---- reductions (ops/reduce.py) ----
    Row("sum", tape.sum, jnp.sum, UNARY, wide=wide_unary(),
        params=reduce_params, covers=("sum",), dtypes=True),
    Row("max", tape.max, jnp.max, UNARY, wide=wide_unary(),
        values=each(distinct()), params=reduce_params, covers=("max",), dtypes=True),
    Row("min", tape.min, jnp.min, UNARY, wide=wide_unary(),
        values=each(distinct()), params=reduce_params, covers=("min",)),
    Row("prod", tape.prod, jnp.prod, UNARY, wide=wide_unary(),
        values=each(with_zeros()), params=reduce_params, covers=("prod",), dtypes=True),
    Row("logsumexp", tape.logsumexp, jsp.logsumexp, UNARY, wide=wide_unary(),
        params=reduce_params, covers=("logsumexp",), dtypes=True),
    Row("mean", tape.mean, jnp.mean, UNARY, wide=wide_unary(),
        params=reduce_params, covers=("mean",), dtypes=True),
    Row("var", tape.var, jnp.var, UNARY, wide=wide_unary(),
        params=var_params, covers=("mean", "square"), dtypes=True),
    Row("std", tape.std, jnp.std, (((3,),), ((2, 3),), ((1, 3),), ((2, 1, 3),)),
        wide=wide_unary(1, 2), params=std_params, covers=("sqrt", "mean")),
    Row("cumsum", tape.cumsum, jnp.cumsum, UNARY, wide=wide_unary(),
        params=cumsum_params, covers=("cumsum",), dtypes=True),
    # ---- sorting (ops/sorting.py): gathers through take_along_axis ----
    Row("sort", tape.sort,
        lambda x, axis, descending: jnp.sort(x, axis=axis, descending=descending),
        UNARY_ND, wide=wide_unary(1), values=each(distinct()), params=sort_params,
        covers=("getitem",)),
    Row("top_k", lambda x, k: tape.top_k(x, k).values, lambda x, k: jax.lax.top_k(x, k)[0],
        UNARY_ND, wide=wide_unary(1), values=each(distinct()), params=top_k_params,
        covers=("getitem",)),
    # ---- linear algebra (ops/linalg.py) ----
    Row("tril", tape.tril, jnp.tril, (((2, 3),), ((3, 3),), ((2, 1, 3),), ((1, 3),)),
        wide=wide_unary(2), params=triangle_params, covers=("where",)),
    Row("triu", tape.triu, jnp.triu, (((2, 3),), ((3, 3),), ((2, 1, 3),), ((1, 3),)),
        wide=wide_unary(2), params=triangle_params, covers=("where",)),
    Row("matmul", tape.matmul, jnp.matmul, MATMUL, wide=wide_matmul,
        covers=("matmul",), dtypes=True),
    Row("tensordot", tape.tensordot, jnp.tensordot, tuple(TENSORDOT_AXES),
        params=tensordot_params, covers=("einsum",)),
    Row("dot", tape.dot, jnp.dot,
        (((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 2)), ((), (2, 3)), ((2, 3), (2, 3, 2))),
        covers=()),  # matmul, multiply or einsum, depending on the ranks
    Row("outer", tape.outer, jnp.outer, (((3,), (2,)), ((2, 3), (3,)), ((), (3,))),
        wide=wide_pair, covers=("multiply", "reshape")),
    # einsum: one row per subscripts.
    *(
        Row(f"einsum[{subscripts}]",
            lambda *xs, subscripts: tape.einsum(subscripts, *xs),
            lambda *xs, subscripts: jnp.einsum(subscripts, *xs),
            (shapes,), wide=wide_einsum(subscripts),
            params=lambda draw, shapes, s=subscripts: {"subscripts": s},
            covers=("einsum",), dtypes=subscripts == "ij,jk->ik")
        for subscripts, shapes in (
            ("ij,jk->ik", ((2, 3), (3, 2))),
            ("ij,jk", ((2, 3), (3, 1))),  # implicit output
            ("i,i", ((3,), (3,))),  # implicit scalar output
            ("ji", ((2, 3),)),  # implicit output: a transpose
            ("ii->i", ((3, 3),)),  # diagonal
            ("ii", ((3, 3),)),  # trace
            ("iij->j", ((2, 2, 3),)),  # diagonal summed, another label kept
            ("ij,k->k", ((2, 3), (3,))),  # i, j summed in one operand only
            ("ij->", ((2, 3),)),
            ("bij,bjk->bik", ((2, 2, 3), (2, 3, 1))),
            ("...ij,...jk->...ik", ((2, 1, 2, 3), (3, 3, 2))),  # ellipsis, size-1 broadcast
            ("...i,...i->...", ((2, 3), (3,))),  # ellipsis of different ranks
            ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 2))),  # three operands
            ("i,j,k->ijk", ((2,), (3,), (1,))),  # three-operand outer product
        )
    ),
    # ---- shape primitives (ops/shape.py) ----
    Row("reshape", tape.reshape, jnp.reshape, UNARY, wide=wide_unary(),
        params=reshape_params, covers=("reshape",)),
    Row("transpose", tape.transpose, jnp.transpose, UNARY, wide=wide_unary(),
        params=transpose_params, covers=("transpose",)),
    Row("broadcast_to", tape.broadcast_to, jnp.broadcast_to, UNARY, wide=wide_unary(),
        params=broadcast_to_params, covers=("broadcast_to",)),
    Row("sum_to", sum_to, _sum_to_oracle, UNARY_ND, wide=wide_unary(1), params=sum_to_params,
        covers=("sum_to",)),
    Row("concatenate", lambda *xs, axis: tape.concatenate(xs, axis=axis),
        lambda *xs, axis: jnp.concatenate(xs, axis=axis),
        (((2, 3), (1, 3)), ((2, 3), (2, 1)), ((3,), (1,), (2,)), ((2, 1, 3), (2, 2, 3)),
         ((1, 3), (1, 3))),
        wide=wide_concatenate, params=concatenate_params, covers=("concatenate",)),
    Row("getitem_basic", tape.getitem, lambda x, index: x[index], UNARY, wide=wide_unary(),
        params=basic_index_params, covers=("getitem",), covers2=("index_add",)),
    Row("getitem_advanced", tape.getitem, lambda x, index: x[index], UNARY_ND,
        wide=wide_unary(1), params=advanced_index_params, covers=("getitem",),
        covers2=("index_add",)),
    Row("getitem_boolean", tape.getitem, lambda x, index: x[index], UNARY_ND,
        wide=wide_unary(1), params=boolean_index_params, covers=("getitem",),
        covers2=("index_add",)),
    Row("pad", tape.pad,
        lambda x, pad_width, constant_values: jnp.pad(x, pad_width,
                                                      constant_values=constant_values),
        UNARY_ND, wide=wide_unary(1), params=pad_params, covers=("pad",)),
    Row("flip", tape.flip, jnp.flip, UNARY, wide=wide_unary(),
        params=flip_params, covers=("flip",)),
    Row("tile", tape.tile, jnp.tile, UNARY, wide=wide_unary(),
        params=tile_params, covers=("tile",)),
    # ---- shape composites ----
    Row("stack", lambda *xs, axis: tape.stack(xs, axis=axis),
        lambda *xs, axis: jnp.stack(xs, axis=axis),
        (((3,), (3,)), ((), ()), ((2, 3), (2, 3), (2, 3)), ((1, 3), (1, 3))),
        wide=wide_same, params=stack_params, covers=("concatenate", "reshape")),
    Row("split", tape.split, jnp.split, (((3,),), ((2, 3),), ((2, 1, 3),), ((4, 2),)),
        wide=wide_unary(1), params=split_params, covers=("getitem",)),
    Row("take", tape.take, jnp.take, UNARY_ND, wide=wide_unary(1),
        params=take_params, covers=("getitem",)),
    Row("take_along_axis", tape.take_along_axis, jnp.take_along_axis, UNARY_ND,
        wide=wide_unary(1), params=take_along_axis_params, covers=("getitem",)),
    Row("repeat", tape.repeat, jnp.repeat, UNARY_ND, wide=wide_unary(1),
        params=repeat_params, covers=("getitem",)),
    Row("moveaxis", tape.moveaxis, jnp.moveaxis, UNARY_ND, wide=wide_unary(1),
        params=moveaxis_params, covers=("transpose",)),
    Row("swapaxes", tape.swapaxes, jnp.swapaxes, UNARY_ND, wide=wide_unary(1),
        params=swapaxes_params, covers=("transpose",)),
    Row("squeeze", tape.squeeze, jnp.squeeze, UNARY, wide=wide_unary(),
        params=squeeze_params, covers=("reshape",)),
    Row("expand_dims", tape.expand_dims, jnp.expand_dims, UNARY, wide=wide_unary(),
        params=expand_dims_params, covers=("reshape",)),
    Row("flatten", tape.flatten, jnp.ravel, UNARY, wide=wide_unary(),
        covers=("reshape",)),
    # ---- tape.nn functions (tape/nn.py) ----
    Row("nn.leaky_relu", tape.nn.leaky_relu,
        lambda x, alpha: jax.nn.leaky_relu(x, negative_slope=alpha), UNARY, wide=wide_unary(),
        values=each(nonzero()), params=leaky_relu_params, covers=("where", "multiply")),
    Row("nn.elu", tape.nn.elu, jax.nn.elu, UNARY, wide=wide_unary(),
        values=each(nonzero()), params=elu_params, covers=("where", "expm1")),
    Row("nn.gelu", tape.nn.gelu, jax.nn.gelu, UNARY, wide=wide_unary(),
        params=gelu_params, covers=("multiply", "add"), dtypes=True),
    Row("nn.silu", tape.nn.silu, jax.nn.silu, UNARY, wide=wide_unary(),
        covers=("multiply", "sigmoid")),
    Row("nn.softmax_cross_entropy_with_logits",
        lambda labels, logits, axis: tape.nn.softmax_cross_entropy_with_logits(
            labels, logits, axis=axis),
        lambda labels, logits, axis: -jnp.sum(labels * jax.nn.log_softmax(logits, axis=axis),
                                              axis=axis),
        (((3,), (3,)), ((2, 3), (2, 3)), ((2, 1, 3), (2, 1, 3)), ((1, 3), (2, 3))),
        wide=wide_broadcasting(min_dims=1),
        params=lambda draw, shapes: {"axis": draw(st.sampled_from([-1, 0]))},
        covers=("log_softmax", "sum", "multiply")),
    Row("nn.sparse_softmax_cross_entropy_with_logits",
        lambda logits, labels: tape.nn.sparse_softmax_cross_entropy_with_logits(
            labels, logits),
        _jax_sparse_xent, UNARY_ND, wide=wide_unary(1),
        params=sparse_labels_params, covers=("sparse_softmax_xent",),
        covers2=("sparse_softmax_xent_grad",)),
    Row("sparse_softmax_xent_grad",
        lambda logits, g, labels: tape.ops.sparse_softmax_xent_grad(labels, logits, g),
        _jax_sparse_xent_grad, tuple((s, s[:-1]) for (s,) in UNARY_ND),
        params=sparse_labels_params, covers=("sparse_softmax_xent_grad",)),
    Row("nn.sigmoid_cross_entropy_with_logits", tape.nn.sigmoid_cross_entropy_with_logits,
        _jax_sigmoid_xent, BINARY, wide=wide_broadcasting(),
        covers=("softplus", "multiply", "subtract")),
)

from .rows_gpu import ROWS as _GPU_ROWS  # noqa: E402

ROWS += _GPU_ROWS

from .rows_seq import ROWS as _SEQ_ROWS  # noqa: E402

ROWS += _SEQ_ROWS

from .rows_conv import ROWS as _CONV_ROWS  # noqa: E402

ROWS += _CONV_ROWS

ROWS_BY_NAME = {row.name: row for row in ROWS}
assert len(ROWS_BY_NAME) == len(ROWS), "row names must be unique"
