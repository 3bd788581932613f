"""The README's `make demo` job: an MLP on scikit-learn's digits reaches >= 0.97 held-out
test accuracy through fit (with its progress output), in well under a minute."""

import time

from tape import demo


def test_demo_reaches_097_test_accuracy_on_digits_quickly(capsys):
    start = time.perf_counter()
    accuracy = demo.main([])
    took = time.perf_counter() - start
    out = capsys.readouterr().out
    assert accuracy >= 0.97
    assert took < 60
    assert f"test accuracy: {accuracy:.4f}" in out
    assert "held-out test" in out
    # Not a terminal here: the progress output is exactly one line per epoch, no bar redraws.
    epoch_lines = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert epoch_lines and "\r" not in out
    assert all("val_accuracy" in line for line in epoch_lines)


def test_demo_data_split_is_held_out_and_stratified():
    (x_train, y_train), (x_test, y_test) = demo.load_data()
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == 360
    assert set(y_test.tolist()) == set(range(10))
    assert x_train.max() <= 1.0 and x_train.dtype.name == "float32"
