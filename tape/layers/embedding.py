"""Embedding: integer ids to rows of a trainable table (``gather``: a getitem whose gradient
is a scatter-add into the rows used), with Keras' ``mask_zero``."""

from __future__ import annotations

from .. import initializers, ops, regularizers
from ._nest import serialize_object
from .base import Layer
from .call_inputs import cast_float
from .core import _positive_int


class Embedding(Layer):
    """Maps integer ids in ``[0, input_dim)`` to vectors of size ``output_dim``: inputs of any
    shape ``s`` give outputs of shape ``s + (output_dim,)``. Float ids are cast to int32 (as
    Keras does); an id outside ``[0, input_dim)``, -1 included, is an
    IndexOutOfRangeError, in traced steps too (``tape.check_index``). On a GPU the ids are
    checked on the device (reading them back would wait for it at every step), and the
    error is raised at the next read of a value on the host (a loss, ``numpy()``).

    Args:
        input_dim: Vocabulary size (rows of the table).
        output_dim: Size of each vector.
        embeddings_initializer: Default ``'uniform'`` (U[-0.05, 0.05]), as Keras.
        embeddings_regularizer: Anything ``tape.regularizers.get`` takes.
        mask_zero: Id 0 is padding: the layer attaches the mask ``ids != 0`` to its output,
            and the layers after it that support masks (RNNs, attention, normalization) skip
            those positions. Then id 0 cannot be a word, so use ``input_dim = vocab + 1``.

    Example:
        >>> import tape
        >>> from tape.layers import Embedding, get_mask
        >>> layer = Embedding(10, 4, mask_zero=True)
        >>> y = layer(tape.tensor([[1, 5, 0]]))
        >>> y.shape, get_mask(y).numpy().tolist()
        ((1, 3, 4), [[True, True, False]])
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = _positive_int(input_dim, "input_dim", "Embedding")
        self.output_dim = _positive_int(output_dim, "output_dim", "Embedding")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer, autocast=False)
        self.built = True

    def call(self, inputs):
        ids = ops.convert(inputs)
        if ids.dtype.kind not in "iu":
            ids = ops.cast(ids, "int32")
        ids = ops.check_index(ids, size=self.input_dim,
                              what=f"Embedding '{self.name}' (input_dim={self.input_dim})")
        rows = ops.gather(self.embeddings, ids)  # only the rows read go to the compute dtype
        return cast_float(rows, self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(ops.convert(inputs), 0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def compute_output_spec(self, input_shape, input_dtypes):
        return self.compute_output_shape(input_shape), [self.compute_dtype]

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": serialize_object(self.embeddings_initializer),
                "embeddings_regularizer": serialize_object(self.embeddings_regularizer),
                "mask_zero": self.mask_zero}
