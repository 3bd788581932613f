"""A survey of bad inputs: what a careless user gets from the Keras API and from ops.

Each probe does one wrong thing. It is counted as a **clear** error (an exception raised on
purpose by tape: a ``raise`` in tape's own code, of a kind other than the raw Python ones
below), **silent** (no error, or no warning where one is expected, or a wrong value), or a
**crash** (a raw ``JSONDecodeError``, ``RecursionError``, ``AttributeError``, ``KeyError``,
``MemoryError``..., or any exception whose innermost frame is not a ``raise`` statement in
tape's code: Python failing inside tape, or NumPy, json or another library raising). For the
clear ones it also counts whether the message names the user's line (this file and the
probe's line), and for warnings whether the warning points at it.

Run: ``python -m benchmarks.error_probes`` (prints the table and one line per probe that is
not a clear error naming the line). ``tests/test_error_probes.py`` asserts every probe.
"""

from __future__ import annotations

import json
import linecache
import os
import sys
import tempfile
import warnings

import numpy as np

import tape
from tape import layers, losses, metrics, models, optimizers

_PACKAGE = os.path.dirname(os.path.abspath(tape.__file__)) + os.sep
RAW = (json.JSONDecodeError, RecursionError, AttributeError, KeyError, MemoryError,
       UnboundLocalError, ZeroDivisionError, NameError, StopIteration, AssertionError)

_FILES = tempfile.TemporaryDirectory(prefix="tape-error-probes-")  # removed at exit
KERAS: list = []  # (name, kind, fn): kind is "error", "warn" or "value"
OPS: list = []


def probe(table, kind="error"):
    def register(fn):
        table.append((fn.__name__, kind, fn))
        return fn

    return register


# ---- helpers -----------------------------------------------------------------------------

def _model(compile=True, loss="mse", units=2):
    tape.random.seed(0)
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(units)])
    if compile:
        model.compile("sgd", loss)
    return model


def _x(n=4, d=3):
    return np.ones((n, d), np.float32)


def _file_with(metadata: dict, tensors=None) -> str:
    """A safetensors file holding ``tensors`` and string ``metadata`` (a crafted file)."""
    from safetensors.numpy import save

    fd, path = tempfile.mkstemp(suffix=".safetensors", dir=_FILES.name)
    with os.fdopen(fd, "wb") as f:
        f.write(save(tensors or {}, metadata=metadata))
    return path


def _model_file(config) -> str:
    text = config if isinstance(config, str) else json.dumps(config)
    return _file_with({"tape_format": "model", "version": "1", "weight_names": "[]",
                       "config": text})


def _saved_model() -> str:
    fd, path = tempfile.mkstemp(suffix=".safetensors", dir=_FILES.name)
    os.close(fd)
    _model().save(path)
    return path


# ---- the Keras API -----------------------------------------------------------------------

@probe(KERAS)
def fit_sparse_labels_out_of_range():
    _model(loss="sparse_categorical_crossentropy").fit(_x(), np.array([0, 1, 2, 5]), verbose=0)


@probe(KERAS)
def fit_sparse_fractional_labels():
    _model(loss="sparse_categorical_crossentropy").fit(_x(), np.array([0.5, 1.5, 0.0, 1.0]),
                                                       verbose=0)


@probe(KERAS, "warn")
def fit_more_steps_than_data():
    _model().fit(_x(8), _x(8, 2), batch_size=4, steps_per_epoch=5, verbose=0)


@probe(KERAS)
def fit_y_with_dataset():
    _model().fit(tape.data.Dataset.from_tensor_slices(_x()).batch(2), _x(d=2), verbose=0)


@probe(KERAS)
def load_model_missing_file():
    models.load_model(os.path.join(tempfile.gettempdir(), "no-such-tape-model.safetensors"))


@probe(KERAS)
def load_model_garbage_bytes():
    fd, path = tempfile.mkstemp(suffix=".safetensors", dir=_FILES.name)
    with os.fdopen(fd, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage}")
    models.load_model(path)


@probe(KERAS)
def load_model_os_system():
    models.load_model(_model_file({"class_name": "os.system", "config": {"command": "true"}}))


@probe(KERAS)
def load_model_sequential_layers_not_a_list():
    models.load_model(_model_file({"class_name": "Sequential", "config": {"layers": 5}}))


@probe(KERAS)
def load_model_flipped_byte():
    path = _saved_model()
    with open(path, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        byte = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0x40]))
    models.load_model(path)


@probe(KERAS)
def load_model_huge_units():
    config = layers.serialize(models.Sequential([layers.Input(shape=(3,)),
                                                 layers.Dense(10_000_000)]))
    path = _file_with({"tape_format": "model", "version": "1",
                       "weight_names": json.dumps(["kernel", "bias"]),
                       "config": json.dumps(config)},
                      {"model/00000": np.ones((3, 2), np.float32),
                       "model/00001": np.ones(2, np.float32)})
    models.load_model(path)


@probe(KERAS)
def load_weights_wrong_shapes():
    path = _saved_model()
    _model(units=3).load_weights(path)


@probe(KERAS)
def load_weights_unbuilt_model():
    path = _saved_model()
    models.Sequential([layers.Dense(2)]).load_weights(path)


@probe(KERAS)
def save_into_missing_folder():
    _model().save(os.path.join(tempfile.gettempdir(), "no-such-dir-tape", "m.safetensors"))


KERAS += [  # one-line probes: (name, "error", the call)
    ("dense_negative_units", "error", lambda: layers.Dense(-1)),
    ("dense_string_units", "error", lambda: layers.Dense("a")),
    ("dense_unknown_activation", "error", lambda: layers.Dense(3, activation="nope")),
    ("dense_unknown_initializer", "error", lambda: layers.Dense(3, kernel_initializer="nope")),
    ("dense_unknown_keyword", "error", lambda: layers.Dense(3, foo=1)),
    ("conv2d_zero_kernel", "error", lambda: layers.Conv2D(4, kernel_size=0)),
    ("dropout_rate_above_one", "error", lambda: layers.Dropout(rate=1.5)),
    ("embedding_zero_vocabulary", "error", lambda: layers.Embedding(0, 4)),
    ("lstm_zero_units", "error", lambda: layers.LSTM(0)),
    ("input_string_shape", "error", lambda: layers.Input(shape="a")),
    ("sequential_of_a_number", "error", lambda: models.Sequential([3])),
    ("functional_model_of_arrays", "error", lambda: models.Model(np.ones(3), np.ones(3))),
    ("compile_unknown_optimizer", "error",
     lambda: _model(compile=False).compile(optimizer="nope", loss="mse")),
    ("compile_unknown_loss", "error",
     lambda: _model(compile=False).compile(optimizer="sgd", loss="nope")),
    ("compile_unknown_metric", "error",
     lambda: _model(compile=False).compile(optimizer="sgd", loss="mse", metrics=["nope"])),
    ("compile_unknown_keyword", "error",
     lambda: _model(compile=False).compile(optimizer="sgd", loss="mse", foo=1)),
    ("compile_metrics_not_a_list", "error",
     lambda: _model(compile=False).compile(optimizer="sgd", loss="mse", metrics=3)),
    ("fit_before_compile", "error", lambda: _model(compile=False).fit(_x(), _x(d=2), verbose=0)),
    ("fit_lengths_differ", "error", lambda: _model().fit(_x(4), _x(5, 2), verbose=0)),
    ("fit_wrong_feature_size", "error", lambda: _model().fit(_x(4, 5), _x(4, 2), verbose=0)),
    ("fit_zero_batch_size", "error", lambda: _model().fit(_x(), _x(d=2), batch_size=0, verbose=0)),
    ("fit_no_samples", "error", lambda: _model().fit(_x(0), _x(0, 2), verbose=0)),
    ("fit_validation_split_above_one", "error",
     lambda: _model().fit(_x(), _x(d=2), validation_split=1.5, verbose=0)),
    ("fit_x_none", "error", lambda: _model().fit(None, _x(d=2), verbose=0)),
    ("fit_scalar_x", "error", lambda: _model().fit(np.float32(1.0), np.float32(1.0), verbose=0)),
    ("evaluate_before_compile", "error",
     lambda: _model(compile=False).evaluate(_x(), _x(d=2), verbose=0)),
    ("evaluate_wrong_feature_size", "error",
     lambda: _model().evaluate(_x(4, 5), _x(4, 2), verbose=0)),
    ("evaluate_no_samples", "error", lambda: _model().evaluate(_x(0), _x(0, 2), verbose=0)),
    ("predict_wrong_feature_size", "error", lambda: _model().predict(_x(4, 5), verbose=0)),
    ("predict_no_samples", "error", lambda: _model().predict(_x(0), verbose=0)),
    ("predict_none", "error", lambda: _model().predict(None, verbose=0)),
    ("add_weight_name_not_a_string", "error", lambda: layers.Dense(2).add_weight(3, (2,))),
    ("add_weight_negative_shape", "error", lambda: layers.Dense(2).add_weight("w", (-1,))),
    ("add_weight_unknown_initializer", "error",
     lambda: layers.Dense(2).add_weight("w", (2,), initializer="nope")),
    ("get_layer_unknown_name", "error", lambda: _model().get_layer("nope")),
    ("set_weights_wrong_count", "error",
     lambda: _model().layers[0].set_weights([np.ones((3, 2))])),
    ("load_model_config_not_json", "error", lambda: models.load_model(_model_file("{not json"))),
    ("load_model_config_deeply_nested", "error",
     lambda: models.load_model(_model_file("[" * 100000 + "]" * 100000))),
    ("load_model_config_a_list", "error", lambda: models.load_model(_model_file([1, 2]))),
    ("load_model_config_of_a_number", "error",
     lambda: models.load_model(_model_file({"class_name": "Dense", "config": 5}))),
    ("load_model_unknown_class", "error",
     lambda: models.load_model(_model_file({"class_name": "NoSuchLayer", "config": {}}))),
    ("optimizers_get_unknown", "error", lambda: optimizers.get("nope")),
    ("losses_get_unknown", "error", lambda: losses.get("nope")),
    ("metrics_get_unknown", "error", lambda: metrics.get("nope")),
    ("deserialize_layer_not_a_dict", "error", lambda: layers.deserialize(5)),
    ("deserialize_optimizer_from_a_list", "error", lambda: optimizers.deserialize([1])),
    ("optimizer_config_of_a_number", "error",
     lambda: optimizers.get({"class_name": "Adam", "config": 5})),
    ("metric_config_of_a_number", "error",
     lambda: metrics.get({"class_name": "Mean", "config": 5})),
    ("loss_config_without_a_class_name", "error", lambda: losses.get({"config": {}})),
]


# ---- ops ---------------------------------------------------------------------------------

def _t(*shape):
    return tape.ones(shape)


@probe(OPS, "warn")
def numpy_fft_under_a_tape():
    x = tape.Variable(np.ones(8, np.float32))
    with tape.GradientTape():
        np.fft.fft(x)


@probe(OPS)
def second_gradient_of_a_spent_tape():
    x = tape.Variable(1.0)
    with tape.GradientTape() as g:
        y = x * x
    g.gradient(y, x)
    g.gradient(y, x)


@probe(OPS, "value")
def float16_mean_of_many_ones():
    return tape.mean(tape.ones((100_000,), dtype="float16")).item(), 1.0


@probe(OPS, "value")
def float16_mean_of_large_values():
    return tape.mean(tape.full((1000,), 100.0, dtype="float16")).item(), 100.0


@probe(OPS, "value")
def float16_mean_down_a_long_axis():
    return tape.mean(tape.ones((70_000, 2), dtype="float16"), axis=0).numpy().tolist(), [1, 1]


OPS += [  # one-line probes: (name, "error", the call)
    ("add_shapes_that_do_not_broadcast", "error", lambda: tape.add(_t(2, 3), _t(4))),
    ("matmul_inner_sizes_differ", "error", lambda: tape.matmul(_t(2, 3), _t(4, 5))),
    ("reshape_to_another_size", "error", lambda: tape.reshape(_t(2, 3), (4,))),
    ("sum_axis_out_of_range", "error", lambda: tape.sum(_t(2, 3), axis=5)),
    ("mean_axis_out_of_range", "error", lambda: tape.mean(_t(2, 3), axis=5)),
    ("concatenate_mismatched", "error", lambda: tape.concatenate([_t(2, 3), _t(2, 4)], axis=0)),
    ("stack_mismatched", "error", lambda: tape.stack([_t(2, 3), _t(2, 4)])),
    ("transpose_repeated_axis", "error", lambda: tape.transpose(_t(2, 3), (0, 0))),
    ("broadcast_to_smaller", "error", lambda: tape.broadcast_to(_t(2, 3), (3,))),
    ("one_hot_negative_depth", "error", lambda: tape.one_hot(tape.tensor([0, 1]), -1)),
    ("one_hot_zero_depth", "error", lambda: tape.one_hot(tape.tensor([0, 1]), 0)),
    ("exp_of_strings", "error", lambda: tape.exp(np.array(["a", "b"]))),
    ("embedding_negative_id", "error", lambda: layers.Embedding(10, 4)(tape.tensor([[1, -1]]))),
    ("embedding_id_past_the_table", "error",
     lambda: layers.Embedding(10, 4)(tape.tensor([[1, 10]]))),
    ("gather_past_the_table", "error", lambda: tape.gather(_t(3, 2), tape.tensor([3]))),
    ("index_past_the_end", "error", lambda: _t(2, 3)[5]),
    ("softmax_axis_out_of_range", "error", lambda: tape.nn.softmax(_t(2, 3), axis=3)),
    ("cast_to_unknown_dtype", "error", lambda: tape.cast(_t(2), "nope")),
    ("split_uneven", "error", lambda: tape.split(_t(5), 2)),
    ("einsum_bad_subscripts", "error", lambda: tape.einsum("ij,jk->iz", _t(2, 3), _t(3, 4))),
    ("cumsum_of_a_scalar_along_an_axis", "error", lambda: tape.cumsum(tape.tensor(1.0), axis=0)),
    ("conv2d_channels_differ", "error", lambda: tape.nn.conv2d(_t(1, 4, 4, 3), _t(3, 3, 2, 5))),
]


# ---- running -----------------------------------------------------------------------------

def _raised_on_purpose(error: BaseException) -> bool:
    """True when the innermost frame of the traceback is a ``raise`` statement in tape's own
    code (not Python failing inside tape, nor NumPy, json or another library raising)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    filename = tb.tb_frame.f_code.co_filename
    source = linecache.getline(filename, tb.tb_lineno).strip()
    return filename.startswith(_PACKAGE) and source.startswith("raise")


def run_one(name: str, kind: str, fn) -> dict:
    """``{'name', 'outcome': clear|silent|crash, 'line': bool, 'detail'}`` for one probe."""
    line = fn.__code__.co_firstlineno
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except Exception as error:  # noqa: BLE001 - the survey classifies whatever comes
            message = f"{type(error).__name__}: {error}"
            if isinstance(error, RAW) or not _raised_on_purpose(error):
                outcome = "crash"
            else:
                outcome = "clear"
            named = "error_probes.py:" in str(error)
            return {"name": name, "outcome": outcome, "line": named, "detail": message[:300],
                    "first_line": line}
    if kind == "value":
        got, expected = result
        ok = np.allclose(got, expected, rtol=1e-3)
        return {"name": name, "outcome": "clear" if ok else "silent", "line": ok,
                "detail": f"got {got}, expected {expected}"}
    relevant = [w for w in caught if not issubclass(w.category, DeprecationWarning)]
    if kind == "warn" and relevant:
        named = any(os.path.basename(w.filename) == "error_probes.py" for w in relevant)
        return {"name": name, "outcome": "clear", "line": named,
                "detail": f"{relevant[0].category.__name__}: {relevant[0].message}"[:300]}
    return {"name": name, "outcome": "silent", "line": False,
            "detail": "no error" + (f" (warnings: {[str(w.message)[:80] for w in relevant]})"
                                    if relevant else "")}


def survey(table) -> list[dict]:
    return [run_one(*entry) for entry in table]


def summary(results: list[dict]) -> dict:
    count = {"tried": len(results)}
    for outcome in ("clear", "silent", "crash"):
        count[outcome] = sum(r["outcome"] == outcome for r in results)
    count["line named"] = sum(r["outcome"] == "clear" and r["line"] for r in results)
    return count


def main() -> int:
    np.seterr(all="ignore")
    print("| category | tried | clear error | silent wrong | crash | clear and naming the "
          "user's line |\n|---|---|---|---|---|---|")
    details = []
    for label, table in (("Keras API", KERAS), ("ops", OPS)):
        results = survey(table)
        c = summary(results)
        print(f"| {label} | {c['tried']} | {c['clear']} | {c['silent']} | {c['crash']} | "
              f"{c['line named']} |")
        details += [r for r in results if not (r["outcome"] == "clear" and r["line"])]
    print()
    for r in details:
        print(f"- {r['name']}: {r['outcome']}{'' if r['line'] else ' (no line)'}: "
              f"{r['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
