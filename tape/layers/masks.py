"""Keras masks: a boolean tensor riding on a layer's output (``Tensor._keras_mask``), e.g.
``Embedding(mask_zero=True)``'s, which masking-aware layers downstream receive."""

from __future__ import annotations

from ..tensor import Tensor


def get_mask(x):
    """The Keras mask a layer attached to ``x`` (e.g. ``Embedding(mask_zero=True)``), or None.

    Example:
        >>> import tape
        >>> from tape.layers import Embedding, get_mask
        >>> get_mask(Embedding(5, 2, mask_zero=True)(tape.tensor([[3, 0]]))).numpy().tolist()
        [[True, False]]
    """
    return getattr(x, "_keras_mask", None)  # it rides on the tensor, as in Keras


def set_mask(x, mask) -> None:
    """Attach ``mask`` to the tensor ``x`` (None detaches it); other values are ignored."""
    if isinstance(x, Tensor):
        x._keras_mask = mask


def attach_masks(outputs, masks) -> None:
    """``set_mask`` on each output: one mask for one tensor, or parallel lists/tuples."""
    if isinstance(outputs, list | tuple):
        masks = masks if isinstance(masks, list | tuple) else [masks] + [None] * (
            len(outputs) - 1)
        for out, m in zip(outputs, masks, strict=False):
            attach_masks(out, m)
    else:
        set_mask(outputs, masks)
