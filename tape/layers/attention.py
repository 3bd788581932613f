"""MultiHeadAttention with Keras' weights and call signature, on
``tape.nn.scaled_dot_product_attention``'s weights."""

from __future__ import annotations

import numpy as np

from .. import initializers, nn, ops, regularizers
from ..errors import ShapeError, user_line
from ..ops.creation import constant_like
from ._nest import serialize_object
from .base import Layer
from .call_inputs import build_device
from .core import Dropout, _positive_int
from .masks import get_mask


def _shape_of(x) -> tuple | None:
    if x is None:
        return None
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al.), as ``keras.layers.MultiHeadAttention``.

    ``query (B, T, dim)`` attends over ``value (B, S, dim_v)`` (and ``key``, default
    ``value``): each of ``num_heads`` heads projects them to ``key_dim`` (``value_dim``)
    features, takes ``softmax(q k^T / sqrt(key_dim))`` weights (masked where the mask is
    False), averages the values, and the heads are projected back to ``output_shape``
    (default ``dim``). Weights, in Keras' order and shapes: ``query/kernel (dim, H, key_dim)``,
    ``query/bias (H, key_dim)``, the same for key and value, ``attention_output/kernel
    (H, value_dim, out)`` and ``attention_output/bias (out,)``.

    Args:
        num_heads, key_dim: Heads and their query/key size.
        value_dim: Per-head value size (default ``key_dim``).
        dropout: Dropout rate on the attention weights while training.
        use_bias: Whether the projections add biases.
        output_shape: Output feature size (an int or a 1-tuple); default the query's.
        attention_axes: Only None (attend over the time axis) is supported.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, seed: As
            in Keras.

    Call: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``. The
    ``attention_mask`` is boolean, broadcastable to ``(B, T, S)`` (True: may attend); masks
    that ``Embedding(mask_zero=True)`` attached to the query and value apply too. With
    ``return_attention_scores`` the result is ``(output, scores)``, scores ``(B, H, T, S)``.

    Example:
        >>> import tape
        >>> from tape.layers import MultiHeadAttention
        >>> layer = MultiHeadAttention(num_heads=2, key_dim=4)
        >>> x = tape.ones((3, 5, 8))
        >>> out, scores = layer(x, x, return_attention_scores=True, use_causal_mask=True)
        >>> out.shape, scores.shape, [round(v, 2) for v in scores.numpy()[0, 0, 1].tolist()]
        ((3, 5, 8), (3, 2, 5, 5), [0.5, 0.5, 0.0, 0.0, 0.0])
    """

    supports_masking = True  # the output keeps the query's mask

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "num_heads", "MultiHeadAttention")
        self.key_dim = _positive_int(key_dim, "key_dim", "MultiHeadAttention")
        self.value_dim = _positive_int(value_dim if value_dim is not None else key_dim,
                                       "value_dim", "MultiHeadAttention")
        if isinstance(output_shape, list | tuple):
            if len(output_shape) != 1:
                raise ValueError("MultiHeadAttention: only a feature size (an int or a 1-tuple) "
                                 f"is supported as output_shape. Received: {output_shape!r}")
            output_shape = output_shape[0]
        self.output_dim = None if output_shape is None else _positive_int(
            output_shape, "output_shape", "MultiHeadAttention")
        if attention_axes not in (None, 1, (1,), [1]):
            raise ValueError("MultiHeadAttention: only attention over the time axis "
                             f"(attention_axes=None) is supported. Received: {attention_axes!r}")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.seed = seed
        self._dropout_layer = Dropout(self.dropout, seed=seed, dtype=self.dtype_policy)
        self._symbolic_value_shape = None
        self._return_scores = False

    # ---- weights ------------------------------------------------------------------------
    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the weights for query, value and key shapes ``(batch, time, features)``."""
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        for what, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ShapeError(f"MultiHeadAttention layer '{self.name}': {what} must be "
                                 f"(batch, time, features) with known features, received "
                                 f"shape {tuple(shape)} [at {user_line()}]")
        self._dims = {"query": query_shape[-1], "value": value_shape[-1], "key": key_shape[-1]}
        heads, out_dim = self.num_heads, self.output_dim or query_shape[-1]
        self._projections = {}
        for what, size in (("query", self.key_dim), ("key", self.key_dim),
                           ("value", self.value_dim)):
            self._projections[what] = self._dense(what, (self._dims[what], heads, size),
                                                  (heads, size))
        self._projections["attention_output"] = self._dense(
            "attention_output", (heads, self.value_dim, out_dim), (out_dim,))
        self.built = True

    def _dense(self, prefix, kernel_shape, bias_shape) -> tuple:
        kernel = self.add_weight(f"{prefix}/kernel", kernel_shape, self.kernel_initializer,
                                 self.kernel_regularizer)
        bias = self.add_weight(f"{prefix}/bias", bias_shape, self.bias_initializer,
                               self.bias_regularizer) if self.use_bias else None
        return kernel, bias

    # ---- calls --------------------------------------------------------------------------
    def __call__(self, query, value, key=None, attention_mask=None,
                 return_attention_scores=False, training=None, use_causal_mask=False,
                 **kwargs):
        if not self.built:
            with build_device(query):  # weights beside a GPU query
                self.build(_shape_of(query), _shape_of(value), _shape_of(key))
        for name, x in (("query_mask", query), ("value_mask", value), ("key_mask", key)):
            if kwargs.get(name) is None and get_mask(x) is not None:
                kwargs[name] = get_mask(x)
        for name, v in (("key", key), ("attention_mask", attention_mask)):
            if v is not None:
                kwargs[name] = v
        if return_attention_scores:
            kwargs["return_attention_scores"] = True
        if use_causal_mask:
            kwargs["use_causal_mask"] = True
        # Read by compute_output_spec during a symbolic (functional API) call.
        self._symbolic_value_shape, self._return_scores = _shape_of(value), bool(
            return_attention_scores)
        return super().__call__(query, value, training=training, **kwargs)

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False,
             training=None, use_causal_mask=False, query_mask=None, value_mask=None,
             key_mask=None):
        query = ops.convert(query)  # host value, key and masks go where the query is
        value = ops.convert(value, like=query)
        key = value if key is None else ops.convert(key, like=query)
        self._check_inputs(query, value, key)
        q = self._project(query, "query")  # (B, H, T, key_dim)
        k = self._project(key, "key")
        v = self._project(value, "value")
        mask = self._attention_mask(query, value, attention_mask, use_causal_mask,
                                    query_mask, value_mask, key_mask)
        scores = nn.attention_weights(q, k, mask=mask)  # (B, H, T, S)
        attended = ops.matmul(self._dropout_layer(scores, training=training), v)
        batch, heads, steps, _ = attended.shape
        merged = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (batch, steps, -1))
        kernel, bias = self._projections["attention_output"]
        out = ops.matmul(merged, ops.reshape(kernel, (heads * self.value_dim, -1)))
        if bias is not None:
            out = ops.add(out, bias)
        return (out, scores) if return_attention_scores else out

    def _project(self, x, what):
        """``x (B, L, dim)`` -> ``(B, H, L, size)`` through ``what``'s kernel and bias."""
        kernel, bias = self._projections[what]
        size = kernel.shape[-1]
        out = ops.matmul(x, ops.reshape(kernel, (kernel.shape[0], -1)))
        if bias is not None:
            out = ops.add(out, ops.reshape(bias, (-1,)))
        out = ops.reshape(out, (x.shape[0], x.shape[1], self.num_heads, size))
        return ops.transpose(out, (0, 2, 1, 3))

    def _check_inputs(self, query, value, key) -> None:
        where = f"MultiHeadAttention layer '{self.name}'"
        shapes = {"query": query.shape, "value": value.shape, "key": key.shape}
        for what, shape in shapes.items():
            if len(shape) != 3 or shape[-1] != self._dims[what]:
                raise ShapeError(f"{where}: {what} must have shape (batch, time, "
                                 f"{self._dims[what]}), received {shape} (query {query.shape}, "
                                 f"value {value.shape}, key {key.shape}) [at {user_line()}]")
        if key.shape[:2] != value.shape[:2] or query.shape[0] != value.shape[0]:
            raise ShapeError(f"{where}: key {key.shape} and value {value.shape} need the same "
                             f"batch and length, and query {query.shape} the same batch "
                             f"[at {user_line()}]")

    def _attention_mask(self, query, value, attention_mask, use_causal_mask, query_mask,
                        value_mask, key_mask):
        """A bool mask broadcastable to ``(B, H, T, S)``, or None (Keras' combination of the
        explicit mask, the query/value/key masks and the causal mask)."""
        batch, steps, length = query.shape[0], query.shape[1], value.shape[1]
        mask = None

        def both(a, b):
            return b if a is None else ops.logical_and(a, b)

        for what, m, expand, expected in (("query_mask", query_mask, -1, (batch, steps)),
                                          ("value_mask", value_mask, -2, (batch, length)),
                                          ("key_mask", key_mask, -2, (batch, length))):
            if m is not None:
                m = nn._as_bool(m, like=query)
                if tuple(m.shape) != expected:
                    raise ShapeError(f"MultiHeadAttention layer '{self.name}': {what} of shape "
                                     f"{m.shape} should be {expected} for query {query.shape} "
                                     f"and value {value.shape} [at {user_line()}]")
                mask = both(mask, ops.expand_dims(m, expand))
        if use_causal_mask:
            causal = np.tril(np.ones((steps, length), dtype=bool))
            mask = both(mask, constant_like(causal, query))
        if attention_mask is not None:
            attention_mask = nn._as_bool(attention_mask, like=query)
            target = (batch, steps, length)
            try:
                fits = attention_mask.ndim <= 3 and np.broadcast_shapes(
                    attention_mask.shape, target) == target
            except ValueError:
                fits = False
            if not fits:
                raise ShapeError(f"MultiHeadAttention layer '{self.name}': attention_mask of "
                                 f"shape {attention_mask.shape} does not broadcast to (batch, "
                                 f"query time, value time) = {target} [at {user_line()}]")
            mask = both(mask, attention_mask)
        return None if mask is None else ops.expand_dims(mask, -3)

    # ---- shapes and config ------------------------------------------------------------
    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return (*tuple(query_shape)[:-1], self.output_dim or query_shape[-1])

    def compute_output_spec(self, input_shape, input_dtypes):
        out = self.compute_output_shape(input_shape)
        if not self._return_scores:
            return out, [self.compute_dtype]
        value_shape = self._symbolic_value_shape or input_shape
        scores = (input_shape[0], self.num_heads, input_shape[1], value_shape[1])
        return (out, scores), [self.compute_dtype, self.compute_dtype]

    def get_config(self) -> dict:
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_dim,
                "kernel_initializer": serialize_object(self.kernel_initializer),
                "bias_initializer": serialize_object(self.bias_initializer),
                "kernel_regularizer": serialize_object(self.kernel_regularizer),
                "bias_regularizer": serialize_object(self.bias_regularizer), "seed": self.seed}
