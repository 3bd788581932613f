"""Real Keras and TF2 scripts (keras-io guides and examples, re-typed in their flow) run on
tape with their imports renamed and nothing else, but where each script's docstring says
(downloads replaced by local_data of the same shapes, fast settings, and the few changes it
lists). Each run is checked for what the script computes, not only that it ends."""

from __future__ import annotations

import ast
import runpy
from pathlib import Path

import numpy as np
import pytest

import tape

HERE = Path(__file__).resolve().parent

# The renaming contract: the only ways a script may name tape.
ALLOWED = {("tape", ("keras",)), ("tape", ("tf",)), ("tape", ("keras", "tf"))}


def run(name: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    tape.random.seed(0)
    np.random.seed(0)
    return runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")


SCRIPTS = sorted(p.stem for p in HERE.glob("*.py")
                 if p.stem not in ("__init__", "local_data", "test_scripts",
                                   "compare_with_keras"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_name_tape_only_through_the_renamed_imports(name):
    tree = ast.parse((HERE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "tape" for a in node.names), name
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tape":
            names = tuple(sorted(a.name for a in node.names))
            assert (node.module, names) in ALLOWED or node.module.startswith("tape.keras"), (
                f"{name}: 'from {node.module} import {names}' is not a renamed Keras import")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # `tape.gradient(...)` is TF's GradientTape named tape: the only use allowed.
            if node.value.id == "tape":
                assert node.attr in ("gradient", "watch", "jacobian"), (name, node.attr)


@pytest.mark.slow
def test_mnist_convnet(tmp_path, monkeypatch):
    out = run("mnist_convnet", tmp_path, monkeypatch)
    assert out["x_train"].shape[1:] == (28, 28, 1) and out["y_train"].shape[1] == 10
    loss, accuracy = out["score"]
    assert accuracy > 0.7 and loss < 1.0  # real digits; chance is 0.1


def test_functional_api(tmp_path, monkeypatch):
    out = run("functional_api", tmp_path, monkeypatch)
    assert out["test_scores"][1] > 0.6
    assert out["reloaded_scores"] == pytest.approx(out["test_scores"], rel=1e-6)
    assert set(out["ticket_history"].history) == {"loss", "priority_loss",
                                                  "department_loss"}
    assert '"title"' in (tmp_path / "multi_input_and_output_model.dot").read_text()
    assert type(out["new_model"].layers[1]).__name__ == "CustomDense"


@pytest.mark.slow
def test_custom_train_step(tmp_path, monkeypatch):
    out = run("custom_train_step", tmp_path, monkeypatch)
    for key in ("first_history", "lower_history", "weighted_history"):
        history = out[key].history
        assert set(history) == {"loss", "mae"}, key  # the compiled "mae" is not lost
        assert history["loss"][-1] < history["loss"][0], key
    assert len(out["evaluation"]) == 2
    gan = out["gan_history"].history
    assert set(gan) == {"d_loss", "g_loss"} and all(np.isfinite(gan["d_loss"]))


def test_custom_training_loop(tmp_path, monkeypatch):
    out = run("custom_training_loop", tmp_path, monkeypatch)
    assert out["eager_val_acc"] > 0.8 and out["traced_val_acc"] > 0.8
    assert np.isfinite(float(out["regularized_loss"]))


def test_subclassing(tmp_path, monkeypatch):
    out = run("subclassing", tmp_path, monkeypatch)
    assert out["sum_after_two_calls"].tolist() == [4.0, 4.0]
    assert out["mlp_weight_count"] == 6
    dropped, kept = out["dropped"].numpy(), out["kept"].numpy()
    assert set(np.unique(dropped)) <= {0.0, 2.0} and np.all(kept == 1.0)
    losses = out["vae_history"].history["loss"]
    assert losses[-1] < losses[0]


def test_serialization_and_saving(tmp_path, monkeypatch):
    out = run("serialization_and_saving", tmp_path, monkeypatch)
    reconstructed = out["reconstructed"]
    assert reconstructed.compiled and reconstructed._losses[0].fn is out["custom_loss"]
    assert reconstructed.layers[2].activation is out["custom_fn"]
    assert out["wrapped_again"].layers[1].sublayer.name == "inner"
    for f in ("my_model.keras", "custom_model.keras", "simple.weights.h5"):
        assert (tmp_path / f).exists()


def test_writing_callbacks(tmp_path, monkeypatch):
    out = run("writing_callbacks", tmp_path, monkeypatch)
    calls = out["calls"]
    assert calls[0] == "train_begin" and "train_end" in calls and "predict_end" in calls
    assert ("epoch_end", ("loss", "mean_absolute_error", "val_loss",
                          "val_mean_absolute_error")) in calls
    assert out["final_learning_rate"] == pytest.approx(0.05)  # the schedule's epoch-3 value


@pytest.mark.slow
def test_timeseries_classification(tmp_path, monkeypatch):
    out = run("timeseries_classification", tmp_path, monkeypatch)
    assert (tmp_path / "best_model.keras").exists()
    assert len(out["history"].history["loss"]) == out["epochs"]
    assert 0.0 <= out["test_acc"] <= 1.0 and np.isfinite(out["test_loss"])


def test_text_classification_transformer(tmp_path, monkeypatch):
    out = run("text_classification_transformer", tmp_path, monkeypatch)
    assert out["x_train"].shape == (600, 80)
    history = out["history"].history
    assert history["val_accuracy"][-1] > 0.65  # the rule is learnable; chance is 0.5
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.slow
def test_bidirectional_lstm_imdb(tmp_path, monkeypatch):
    out = run("bidirectional_lstm_imdb", tmp_path, monkeypatch)
    # 20000 * 128 embeddings + 2 * 2 * 4 * 64 * (128 + 64 + 1) LSTM weights + 129 dense
    assert out["model"].count_params() == 2_757_761
    history = out["history"].history
    assert history["loss"][-1] < history["loss"][0]


def test_sequential_model(tmp_path, monkeypatch):
    out = run("sequential_model", tmp_path, monkeypatch)
    assert out["layers_after_pop"] == 2 and out["dense_weight_count"] == 2
    assert out["weights_after_call"] == 6
    assert out["convnet_output_shape"] == (None, 10)
    # 250 -> conv 5/2: 123 -> conv 3: 121 -> conv 3: 119 (valid padding, as Keras)
    assert [tuple(f.shape) for f in out["features"]] == [(1, 123, 123, 32), (1, 121, 121, 32),
                                                         (1, 119, 119, 32)]
    assert tuple(out["intermediate"].shape) == (1, 121, 121, 32)
    before, after = out["frozen_before"], out["frozen_after"]
    assert all(np.array_equal(a, b) for a, b in zip(before[:-2], after[:-2]))  # frozen
    assert not np.array_equal(before[-2], after[-2])  # the last Dense trained
