"""Data that used to train silently wrong: no samples, fractional sparse labels, more steps
per epoch than the data holds. Each is an error or Keras' warning, naming the user's line."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import tape
from tape.data import Dataset
from tape.layers import Dense, Input
from tape.models import Sequential


def _model(loss="mse", units=2):
    tape.random.seed(0)
    model = Sequential([Input(shape=(3,)), Dense(units)])
    model.compile("sgd", loss)
    return model


def _line_after() -> int:
    return sys._getframe(1).f_lineno + 1


X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)


@pytest.mark.parametrize("api", ["fit", "evaluate", "predict"])
def test_no_samples_is_an_error_naming_the_call_and_line(api):
    # fit did nothing and returned {}; Keras raises ("Unexpected result of train_function
    # (Empty logs)")
    model = _model()
    args = (X[:0],) if api == "predict" else (X[:0], np.zeros((0, 2), np.float32))
    with pytest.raises(ValueError, match=rf"^{api}: the data has 0 samples") as e:
        line = _line_after()
        getattr(model, api)(*args, verbose=0)
    assert f"{__file__}:{line}" in str(e.value)


def test_fractional_sparse_labels_are_an_error():
    # 0.5 and 1.5 were truncated to 0 and 1 by the traced step
    model = _model("sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"integer class indices.*2 with a fractional part"
                                         r".*e\.g\. 0\.5.*test_training_bad_data.py"):
        model.fit(X[:4], np.array([0.5, 1.5, 0.0, 1.0], np.float32), verbose=0)
    with pytest.raises(ValueError, match="fractional"):
        model.evaluate(X[:4], np.array([0.0, 1.0, 0.25, 1.0]), verbose=0)


def test_whole_float_sparse_labels_train_as_their_integers():
    # Keras casts float labels to int: 1.0 is class 1. The same weights as integer labels.
    floats, ints = _model("sparse_categorical_crossentropy"), _model(
        "sparse_categorical_crossentropy")
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    floats.fit(X, labels.astype(np.float32), batch_size=4, shuffle=False, verbose=0)
    ints.fit(X, labels, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(floats.get_weights(), ints.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_more_steps_than_batches_warns_once_like_keras_and_runs_the_batches_there_are():
    model = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _line_after()
        model.fit(X, np.zeros((8, 2), np.float32), batch_size=4, steps_per_epoch=5, epochs=3,
                  verbose=0)
    ran_out = [w for w in caught if "ran out of data" in str(w.message)]
    assert len(ran_out) == 1, [str(w.message) for w in caught]
    assert "5 steps per epoch" in str(ran_out[0].message)
    assert "gives 2 batches" in str(ran_out[0].message)
    assert (ran_out[0].filename, ran_out[0].lineno) == (__file__, line)
    assert int(model.optimizer.iterations.numpy()) == 3 * 2  # 2 batches in each of 3 epochs


def test_more_steps_than_a_datasets_batches_warns_too():
    model = _model()
    data = Dataset.from_tensor_slices((X, np.zeros((8, 2), np.float32))).batch(4)
    with pytest.warns(UserWarning, match="ran out of data.*gives 2 batches"):
        model.fit(data, steps_per_epoch=3, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2


def test_steps_within_the_data_do_not_warn():
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, np.zeros((8, 2), np.float32), batch_size=4, steps_per_epoch=1, epochs=2,
                  verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
