"""``keras.callbacks``: tape's callbacks (the same classes) and ``TensorBoard``.

Example:
    >>> from tape.keras import callbacks
    >>> callbacks.EarlyStopping(patience=2).patience
    2
"""

from ..callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from ..tensorboard import TensorBoard
from ._reach import missing

__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger",
           "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]


def __getattr__(name):
    raise missing("keras.callbacks", name, {
        "BackupAndRestore": "fault-tolerant restarts are not implemented; use ModelCheckpoint",
        "RemoteMonitor": "tape makes no network requests",
        "SwapEMAWeights": "optimizer EMA weights are not implemented"})
