"""The hinge losses, as Keras 3 defines them (Hinge, SquaredHinge, CategoricalHinge): each a
function of per-sample values and its ``Loss`` class."""

from __future__ import annotations

from .. import ops
from .base import _Builtin, _pair


def convert_binary_labels_to_hinge(y_true):
    """Labels that are all 0 or 1 become -1 or 1; other labels are kept (Keras' rule).

    The choice is a tensor ``where``, not Python control flow, so a traced step keeps it."""
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0), ops.equal(y_true, 1)))
    return ops.where(is_binary, ops.subtract(ops.multiply(y_true, 2.0), 1.0), y_true)


def hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``, labels -1/1 (0/1 converted).

    Example:
        >>> from tape import losses
        >>> losses.hinge([[0.0, 1.0]], [[0.5, 0.5]]).numpy().tolist()
        [1.0]
    """
    return ops.mean(_hinge_margin(y_true, y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``, labels as :func:`hinge`."""
    return ops.mean(ops.square(_hinge_margin(y_true, y_pred)), axis=-1)


def _hinge_margin(y_true, y_pred):
    """``maximum(1 - y_true * y_pred, 0)``, labels -1/1 (0/1 converted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    margin = ops.subtract(1.0, ops.multiply(convert_binary_labels_to_hinge(y_true), y_pred))
    return ops.maximum(margin, 0.0)


def categorical_hinge(y_true, y_pred):
    """``maximum(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis (one-hot labels)."""
    y_true, y_pred = _pair(y_true, y_pred)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), 1.0), 0.0)


class Hinge(_Builtin):
    """Hinge loss ``max(1 - y_true * y_pred, 0)`` for labels -1/1 (0/1 labels are converted).

    Example:
        >>> from tape import losses
        >>> losses.Hinge()([[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [2.0, -1.0]]).item()
        1.0
    """

    _fn = staticmethod(hinge)


class SquaredHinge(_Builtin):
    """Squared hinge loss ``max(1 - y_true * y_pred, 0) ** 2``, labels as :class:`Hinge`.

    Example:
        >>> from tape import losses
        >>> losses.SquaredHinge()([[0.0, 1.0]], [[0.5, 0.5]]).item()
        1.25
    """

    _fn = staticmethod(squared_hinge)


class CategoricalHinge(_Builtin):
    """Categorical hinge: the best wrong score minus the true score plus 1, floored at 0.

    Example:
        >>> from tape import losses
        >>> round(losses.CategoricalHinge()([[0.0, 1.0, 0.0]], [[0.3, 0.5, 0.9]]).item(), 4)
        1.4
    """

    _fn = staticmethod(categorical_hinge)
