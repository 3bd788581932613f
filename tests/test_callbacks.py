"""Callbacks: EarlyStopping (restoring the best weights even when patience never ran out),
ModelCheckpoint (writes only on improvement), the progress output per verbose mode,
learning-rate callbacks, CSVLogger, TerminateOnNaN, LambdaCallback, unknown monitor keys."""

import io
import sys
import warnings

import numpy as np
import pytest

import tape
from tape import callbacks, optimizers
from tape.layers import Dense
from tape.models import Sequential


def data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, x @ np.array([[1.0], [-2.0], [0.5]], np.float32)


def regressor(lr=0.05):
    tape.random.seed(0)
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizers.SGD(lr), "mse")
    return model


class Scripted(callbacks.Callback):
    """Puts a scripted 'score' into the epoch logs and records the weights of each epoch
    (it must come before the callbacks that read the score)."""

    def __init__(self, scores):
        super().__init__()
        self.scores, self.weights = scores, []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.weights.append(self.model.get_weights())


def test_early_stopping_restores_best_weights_when_patience_never_runs_out():
    x, y = data()
    model = regressor()
    script = Scripted([3.0, 1.0, 2.0, 2.5])
    stop = callbacks.EarlyStopping(monitor="score", patience=10, restore_best_weights=True)
    history = model.fit(x, y, epochs=4, callbacks=[script, stop], verbose=0)
    assert len(history.epoch) == 4 and stop.stopped_epoch == 0
    for a, b in zip(model.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(script.weights[1][0], script.weights[3][0])


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    x, y = data()
    model = regressor()
    script = Scripted([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    stop = callbacks.EarlyStopping(monitor="score", patience=2)
    history = model.fit(x, y, epochs=6, callbacks=[script, stop], verbose=0)
    assert history.epoch == [0, 1, 2]
    # Without restore_best_weights the last weights stay.
    np.testing.assert_array_equal(model.get_weights()[0], script.weights[2][0])


def test_early_stopping_mode_auto_maximizes_accuracy_like_keys():
    assert callbacks.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert callbacks.EarlyStopping(monitor="val_loss").mode == "min"


def test_unknown_monitor_warns_once_listing_the_keys():
    x, y = data()
    model = regressor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, verbose=0,
                  callbacks=[callbacks.EarlyStopping(monitor="val_los", patience=0)])
    messages = [str(w.message) for w in caught if "val_los" in str(w.message)]
    assert len(messages) == 1
    assert "['loss']" in messages[0]


def test_model_checkpoint_writes_only_on_improvement(tmp_path):
    x, y = data()
    model = regressor()
    script = Scripted([3.0, 1.0, 2.0, 0.5, 0.7])
    pattern = str(tmp_path / "ckpt-{epoch:02d}.safetensors")
    best = tmp_path / "best.weights.npz"
    model.fit(x, y, epochs=5, verbose=0, callbacks=[
        script,
        callbacks.ModelCheckpoint(pattern, monitor="score", save_best_only=True,
                                  save_weights_only=True),
        callbacks.ModelCheckpoint(str(best), monitor="score", save_best_only=True,
                                  save_weights_only=True)])
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ckpt"))
    assert written == ["ckpt-01.safetensors", "ckpt-02.safetensors", "ckpt-04.safetensors"]
    fresh = regressor()
    fresh.load_weights(str(best))
    for a, b in zip(fresh.get_weights(), script.weights[3]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_every_epoch_saves_whole_models(tmp_path):
    x, y = data()
    model = regressor()
    path = tmp_path / "model.safetensors"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(str(path))])
    loaded = tape.models.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _fit_output(capsys, verbose, epochs=3, tty=False, monkeypatch=None):
    x, y = data(64)
    model = regressor()
    if tty:
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        stream = Terminal()
        monkeypatch.setattr(sys, "stdout", stream)
        model.fit(x, y, epochs=epochs, batch_size=8, verbose=verbose)
        return stream.getvalue()
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=verbose)
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_verbose_auto_off_a_terminal_prints_exactly_one_line_per_epoch(capsys):
    out = _fit_output(capsys, "auto")
    lines = out.splitlines()
    assert len(lines) == 3 and "\r" not in out
    assert lines[0].startswith("Epoch 1/3") and "loss: " in lines[0]


def test_verbose_2_is_one_line_per_epoch_and_0_is_silent(capsys):
    assert len(_fit_output(capsys, 2).splitlines()) == 3
    assert _fit_output(capsys, 0) == ""


def test_verbose_auto_on_a_terminal_draws_a_live_bar(capsys, monkeypatch):
    out = _fit_output(capsys, "auto", epochs=2, tty=True, monkeypatch=monkeypatch)
    assert out.count("\r") > 2  # tqdm redraws the line as batches finish
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "8/8" in out and "loss: " in out


def test_learning_rate_scheduler_sets_and_logs_the_rate():
    x, y = data()
    model = regressor()
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.1 / 3],
                               rtol=1e-6)


def test_reduce_lr_on_plateau_cuts_the_rate_after_patience():
    x, y = data()
    model = regressor(lr=0.1)
    script = Scripted([1.0, 1.0, 1.0, 1.0, 1.0])
    model.fit(x, y, epochs=5, verbose=0, callbacks=[
        script, callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=2)])
    # epoch 0 sets the best; epochs 1 and 2 do not improve -> halve; 3, 4 -> halve again
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.025)


def test_csv_logger_writes_a_header_and_a_row_per_epoch(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    regressor().fit(x, y, epochs=3, validation_split=0.25, verbose=0,
                    callbacks=[callbacks.CSVLogger(str(path))])
    rows = path.read_text().splitlines()
    assert rows[0] == "epoch,loss,val_loss"
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    x, y = data()
    x[0, 0] = np.nan
    batches = []
    model = regressor()
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[
        callbacks.TerminateOnNaN(),
        callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))])
    assert batches == [0]
    assert "terminating" in capsys.readouterr().out


def test_lambda_callback_hooks_run_in_order():
    x, y = data(16)
    events = []
    regressor().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[
        callbacks.LambdaCallback(
            on_train_begin=lambda logs: events.append("begin"),
            on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, "loss" in logs)),
            on_train_end=lambda logs: events.append("end"))])
    assert events == ["begin", ("epoch", 0, True), ("epoch", 1, True), "end"]
    with pytest.raises(ValueError, match="on_epoch_ending"):
        callbacks.LambdaCallback(on_epoch_ending=print)


def test_model_checkpoint_filepath_with_an_unknown_key_lists_the_keys(tmp_path):
    x, y = data()
    with pytest.raises(KeyError, match=r"val_loss.*\['epoch', 'loss'\]"):
        regressor().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(
            str(tmp_path / "m-{val_loss:.2f}.safetensors"))])
