"""Callbacks for ``fit``/``evaluate``/``predict``: the ``Callback`` hooks, ``CallbackList``,
``History``, the tqdm progress bar (``ProgbarLogger``), ``EarlyStopping``, ``ModelCheckpoint``,
``LearningRateScheduler``, ``ReduceLROnPlateau``, ``CSVLogger``, ``TerminateOnNaN`` and
``LambdaCallback``. A callback reaches its model at run time (``self.model``), never by import.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings

import numpy as np

from .tensor import Tensor

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ModelCheckpoint", "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger",
           "TerminateOnNaN", "LambdaCallback"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class: override the ``on_*`` hooks you need. ``self.model`` and ``self.params``
    (``epochs``, ``steps``, ``verbose``) are set before training starts. A callback with
    ``chief_only = True`` (one that writes files or prints) runs on rank 0 only in a
    data-parallel ``fit`` (``tape.distribute``)."""

    chief_only = False

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class CallbackList:
    """Calls every hook on each callback in order; adds History and the progress bar for
    ``fit`` (the bar first, History last, as Keras)."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 mode="train", **params):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {cb!r}")
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.insert(0, ProgbarLogger(mode=mode))
        if add_history:
            history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
            if history is None:
                history = History()
                self.callbacks.append(history)
            if model is not None:
                model.history = history
        params = {"verbose": params.pop("verbose", "auto"), **params}
        if params["verbose"] not in ("auto", 0, 1, 2, None):
            raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {params['verbose']!r}")
        for cb in self.callbacks:
            if model is not None:
                cb.set_model(model)
            cb.set_params(dict(params))

    def _call(self, hook: str, *args) -> None:
        # Every hook gets its logs argument (a dict), so LambdaCallback functions may take it.
        needed = 2 if ("batch" in hook or "epoch" in hook) else 1
        args = args + tuple({} for _ in range(needed - len(args)))
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def __getattr__(self, hook: str):
        if hook not in _HOOKS:
            raise AttributeError(hook)
        return lambda *args: self._call(hook, *args)

    def __iter__(self):
        return iter(self.callbacks)


class History(Callback):
    """Records the logs of every epoch: ``history[key]`` lists, ``epoch`` their indices.
    ``fit`` adds one and returns it (also as ``model.history``)."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _interactive(stream) -> bool:
    if "ipykernel" in sys.modules:  # a notebook: tqdm.auto draws a widget
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def _format_logs(logs: dict) -> str:
    parts = []
    for k, v in logs.items():
        if isinstance(v, float | int | np.floating | np.integer):
            parts.append(f"{k}: {float(v):.4f}")
    return " - ".join(parts)


class ProgbarLogger(Callback):
    """Progress output through tqdm.

    ``verbose='auto'`` (the default) is a live bar per epoch with the running metrics when
    stdout is a terminal or a notebook, and exactly one line per epoch otherwise (a log file
    gets no line per batch); ``1`` always the bar; ``2`` one line per epoch; ``0`` nothing.
    For evaluate, 'auto' and 2 print one summary line when not on a terminal; predict
    prints nothing then.
    """

    chief_only = True  # writes or prints: rank 0 only in a data-parallel fit

    def __init__(self, mode: str = "train"):
        super().__init__()
        self.mode = mode
        self._bar = None
        self._start = 0.0
        self._epoch = 0

    def _style(self) -> int:
        verbose = self.params.get("verbose", "auto")
        stream = sys.stdout
        if verbose == "auto":
            return 1 if _interactive(stream) else 2
        return int(verbose)

    def _open(self, desc: str) -> None:
        self._start = time.perf_counter()
        if self._style() == 1:
            if "ipykernel" in sys.modules:
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
            self._bar = tqdm(total=self.params.get("steps"), desc=desc, file=sys.stdout,
                             unit="step", dynamic_ncols=True, leave=True)

    def _close(self, prefix: str, logs) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None
        elif self._style() == 2:
            took = time.perf_counter() - self._start
            print(f"{prefix}{took:.1f}s - {_format_logs(logs or {})}", file=sys.stdout,
                  flush=True)

    def _advance(self, logs) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if logs:
                self._bar.set_postfix_str(_format_logs(logs), refresh=False)

    # fit
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        epochs = self.params.get("epochs")
        self._open(f"Epoch {epoch + 1}/{epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._advance(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._close(f"Epoch {epoch + 1}/{self.params.get('epochs')} - ", logs)

    def on_train_end(self, logs=None):
        if self._bar is not None:  # stopped mid-epoch
            self._bar.close()
            self._bar = None

    # evaluate / predict
    def on_test_begin(self, logs=None):
        if self.mode == "test":
            self._open("Evaluate")

    def on_test_batch_end(self, batch, logs=None):
        if self.mode == "test":
            self._advance(logs)

    def on_test_end(self, logs=None):
        if self.mode == "test":
            self._close("Evaluate - ", logs)

    def on_predict_begin(self, logs=None):
        if self._style() == 1:
            self._open("Predict")

    def on_predict_batch_end(self, batch, logs=None):
        self._advance(None)

    def on_predict_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Monitor(Callback):
    """Shared by the callbacks that watch one logged value: mode, min_delta, and a warning
    (once) when the key is missing."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', "
                             f"got {mode!r}")
        self.monitor = monitor
        if mode == "auto":
            mode = "max" if any(w in monitor for w in ("acc", "auc", "precision", "recall")) \
                and "loss" not in monitor else "min"
        self.mode = mode
        self.min_delta = abs(min_delta)
        self._warned = False

    def _value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned:
                self._warned = True
                warnings.warn(f"{type(self).__name__} is monitoring '{self.monitor}', which is "
                              f"not in the logs; available keys: {sorted(logs)}", stacklevel=3)
            return None
        return float(value)

    def _better(self, value: float, best: float | None) -> bool:
        if best is None:
            return not math.isnan(value)
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best_weights=True`` the weights of the best epoch are restored at the end
    of training, whether or not patience ran out.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (or only its weights) after epochs: every epoch, or with
    ``save_best_only`` only when ``monitor`` improved. ``filepath`` may hold format fields:
    ``'ckpt-{epoch:02d}-{val_loss:.2f}.safetensors'``. ``save_freq=N`` (an int) saves after
    every N training batches instead, counted across epochs, with the batch's logs (and
    ``{batch}``, from 1, in the file name), as Keras does.

    Example:
        >>> from tape.callbacks import ModelCheckpoint
        >>> ModelCheckpoint("ckpt-{epoch}-{batch}.safetensors", save_freq=100).save_freq
        100
    """

    chief_only = True  # writes or prints: rank 0 only in a data-parallel fit

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode)
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError("ModelCheckpoint: save_freq must be 'epoch' or a positive number "
                             f"of batches. Received: save_freq={save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._epoch, self._batches_seen = 0, 0

    def on_train_begin(self, logs=None):
        self._batches_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen >= self.save_freq:
            self._batches_seen = 0
            self._save(self._epoch, logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch, logs, batch=None):
        logs = logs or {}
        fields = {"epoch": epoch + 1, **({} if batch is None else {"batch": batch + 1}), **logs}
        try:
            path = self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} uses {error}, which is "
                           f"not in the logs; available keys: {sorted(fields)}") from None
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not self._better(value, self.best):
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                      f"{value:.5f}, saving model to {path}")
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """At each epoch start, ``optimizer.learning_rate = schedule(epoch, lr)`` (or
    ``schedule(epoch)``); the rate is logged as ``learning_rate``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        new = float(np.asarray(new))
        if not math.isfinite(new):
            raise ValueError(f"LearningRateScheduler: schedule returned {new} at epoch {epoch}")
        self.model.optimizer.learning_rate = new
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (not below ``min_lr``; then wait ``cooldown`` epochs)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        if logs is not None:
            logs["learning_rate"] = lr
        value = self._value(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(value, self.best):
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience and lr > self.min_lr:
            new = max(lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new
            if self.verbose:
                print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
            self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Write each epoch's logs as a CSV row (``epoch`` first) to ``filename``."""

    chief_only = True  # writes or prints: rank 0 only in a data-parallel fit

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = self._writer = None
        self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(
            self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._keys = None
        self._has_header = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self._keys],
                                          delimiter=self.separator, extrasaction="ignore")
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``
    (``on_train_begin``/``on_train_end`` take ``logs``; batch hooks take ``batch, logs``)."""

    def __init__(self, **hooks):
        super().__init__()
        unknown = sorted(set(hooks) - set(_HOOKS))
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {unknown}; valid: {list(_HOOKS)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


def python_logs(logs) -> dict:
    """A step's logs as callbacks receive them: tensors become Python floats (arrays of
    more than one value stay arrays), and a metric's dict result is spread into its entries."""
    out = {}
    for k, v in (logs or {}).items():
        if isinstance(v, dict):  # a metric whose result is a dict: its entries, as Keras
            out.update(python_logs(v))
            continue
        if isinstance(v, Tensor | np.ndarray | np.generic):
            v = np.asarray(v)
            v = float(v) if v.size == 1 else v
        out[k] = v
    return out
