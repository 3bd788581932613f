"""Pieces of the hand-written NumPy floor that several workloads share: the softmax
cross-entropy with its gradient, and the SGD update, in place."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    """Mean cross-entropy of integer ``labels`` against ``logits`` (B, K) and its gradient
    with respect to the logits."""
    rows = np.arange(len(labels))
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(total[:, 0]) - shifted[rows, labels])
    grad = exp / total
    grad[rows, labels] -= 1
    grad /= len(labels)
    return loss, grad


def sgd(params: dict, grads: dict, lr: float) -> None:
    """``p -= lr * g`` for every weight, in place."""
    for name, g in grads.items():
        params[name] -= lr * g


def updates(params: dict, init: dict) -> dict:
    """Each weight's change since the start (what the agreement check compares)."""
    return {f"{name} update": params[name].astype(np.float64) - init[name].astype(np.float64)
            for name in params}
