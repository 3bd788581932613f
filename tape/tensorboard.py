"""The ``TensorBoard`` callback: Keras' scalar logs written as real TensorBoard event files
through the ``tensorboard`` package's own writer (``pip install 'tape[tensorboard]'``).

Layout as Keras 3: ``log_dir/train`` holds ``epoch_loss``, ``epoch_<metric>`` and
``epoch_learning_rate``; ``log_dir/validation`` holds the ``val_*`` values under the same
tags (``epoch_loss``...); with ``update_freq='batch'`` or ``N``, ``batch_<name>`` every N
batches in ``train``. ``tensorboard --logdir log_dir`` shows them.
"""

from __future__ import annotations

import os
import time

from .callbacks import Callback

__all__ = ["TensorBoard"]


def _event_writer(folder: str):
    try:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ImportError("The TensorBoard callback writes through the tensorboard package: "
                          "pip install tensorboard (or 'tape[tensorboard]')") from None
    return EventFileWriter(folder)


class TensorBoard(Callback):
    """Write the logged scalars to TensorBoard event files under ``log_dir``.

    Args:
        log_dir: The folder (``train`` and ``validation`` are made inside).
        update_freq: ``'epoch'``; ``'batch'`` or an int N also writes ``batch_*`` scalars
            every N training batches.
        histogram_freq, write_graph, write_images, profile_batch, embeddings_freq: Keras'
            arguments; histograms, images, profiles and embeddings are not written (a
            non-zero ``histogram_freq``/``embeddings_freq``/``profile_batch`` is an error).

    Example:
        >>> import tempfile
        >>> from tape.tensorboard import TensorBoard
        >>> TensorBoard(log_dir=tempfile.mkdtemp()).update_freq
        'epoch'
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        unsupported = {"histogram_freq": histogram_freq, "profile_batch": profile_batch,
                       "embeddings_freq": embeddings_freq}
        asked = {k: v for k, v in unsupported.items() if v}
        if asked:
            raise NotImplementedError(f"TensorBoard: tape writes scalars only; {asked} asks "
                                      "for histograms/profiles/embeddings. Pass 0 for them")
        if update_freq != "epoch" and update_freq != "batch" and not (
                isinstance(update_freq, int) and update_freq > 0):
            raise ValueError("TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"int. Received: update_freq={update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict = {}
        self._step = 0

    def _writer(self, which: str):
        if which not in self._writers:
            folder = os.path.join(self.log_dir, which)
            os.makedirs(folder, exist_ok=True)
            self._writers[which] = _event_writer(folder)
        return self._writers[which]

    def _write(self, which: str, scalars: dict, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=tag, simple_value=float(v)) for tag, v in scalars.items()]
        if values:
            self._writer(which).add_event(Event(wall_time=time.time(), step=int(step),
                                                summary=Summary(value=values)))

    def on_train_begin(self, logs=None):
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.update_freq != "epoch" and self._step % self.update_freq == 0:
            self._write("train", {f"batch_{k}": v for k, v in _scalars(logs).items()},
                        self._step)

    def on_epoch_end(self, epoch, logs=None):
        scalars = _scalars(logs)
        train = {f"epoch_{k}": v for k, v in scalars.items() if not k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and "epoch_learning_rate" not in train:
            try:
                train["epoch_learning_rate"] = float(optimizer.learning_rate)
            except (TypeError, ValueError):
                pass
        self._write("train", train, epoch)
        self._write("validation", {f"epoch_{k[4:]}": v for k, v in scalars.items()
                                   if k.startswith("val_")}, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _scalars(logs) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out
