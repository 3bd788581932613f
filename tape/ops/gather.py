"""Row gather and its transpose, the segment sum: an embedding lookup and its gradient.

Both take their integer indices as a tensor *input*, not a parameter (``take`` bakes its
indices into the op's parameters), so that a traced graph reads fresh token ids at every
replay. The indices get no gradient.
"""

from __future__ import annotations

from ._helpers import scatter_add
from .registry import defop


@defop("gather", nin=2)
def gather(xp, params, indices):
    """``params[indices]`` along the first axis (``tf.gather(params, indices)``): the result
    has shape ``indices.shape + params.shape[1:]``. Its gradient is a ``segment_sum`` of the
    upstream gradient into the rows that were used (repeated ids accumulate).

    Example:
        >>> import tape
        >>> table = tape.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
        >>> tape.ops.gather(table, tape.tensor([[2, 0]])).numpy().tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """
    return xp.take(params, indices, axis=0)


@gather.defvjp
def _gather_vjp(ctx, g):
    params, indices = ctx.inputs
    return segment_sum(g, indices, num_segments=params.shape[0]), None


@defop("segment_sum", nin=2)
def segment_sum(xp, data, segment_ids, num_segments):
    """Sums of the slices of ``data`` that share a segment id (TF's
    ``unsorted_segment_sum``): ``out[s] = sum(data[i] for i where segment_ids[i] == s)``,
    where ``i`` runs over ``segment_ids``' positions (the leading axes of ``data``). The
    result has shape ``(num_segments,) + data.shape[segment_ids.ndim:]``; segments no id
    names are zero. It is ``gather``'s VJP, and ``gather`` is its VJP.

    Example:
        >>> import tape
        >>> tape.ops.segment_sum(tape.tensor([1.0, 2.0, 4.0]), tape.tensor([0, 2, 0]),
        ...                      num_segments=3).numpy().tolist()
        [5.0, 0.0, 2.0]
    """
    lead = data.shape[:segment_ids.ndim]
    if lead != segment_ids.shape:
        raise ValueError(f"segment_ids of shape {segment_ids.shape} do not match the leading "
                         f"axes {lead} of data of shape {data.shape}")
    out = xp.zeros((int(num_segments),) + data.shape[segment_ids.ndim:], dtype=data.dtype)
    scatter_add(xp, out, segment_ids, data)
    return out


@segment_sum.defvjp
def _segment_sum_vjp(ctx, g):
    return gather(g, ctx.inputs[1]), None
