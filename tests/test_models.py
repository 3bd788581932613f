"""Models: Sequential (list and add), functional Model with several inputs and outputs,
nesting, subclassing, summary, configs, and errors for bad calls."""

import numpy as np
import pytest

import tape
from tape import losses, optimizers
from tape.layers import Add, Concatenate, Dense, Dropout, Input, Lambda
from tape.models import Model, Sequential


def test_sequential_list_and_add_build_the_same_model():
    tape.random.seed(0)
    a = Sequential([Dense(4, activation="relu", input_dim=3), Dense(2)])
    tape.random.seed(0)
    b = Sequential()
    b.add(Dense(4, activation="relu", input_dim=3))
    b.add(Dense(2))
    assert a.output_shape == b.output_shape == (None, 2)
    assert a.count_params() == b.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    assert [layer.name for layer in a.layers] == [w.name.split("/")[0] for w in a.weights[::2]]


def test_shapes_of_a_model_built_on_inputs_stay_symbolic_after_eager_calls():
    seq = Sequential([Dense(4, input_dim=3), Dense(2)])
    inp = Input(shape=(3,))
    functional = Model(inp, Dense(1)(Dense(4)(inp)))
    for model in (seq, functional):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((10, 3), np.float32), np.ones((10, model.output_shape[-1])),
                  batch_size=4, epochs=1, verbose=0)
        model(np.ones((5, 3), np.float32))
        assert model.input_shape == (None, 3)
        assert model.output_shape[0] is None
        assert all(layer.output_shape[0] is None for layer in model.layers)


def test_a_functional_model_keeps_each_inputs_dtype():
    wide, ids = Input(shape=(2,), dtype="float64"), Input(shape=(2,), dtype="int64")
    model = Model([wide, ids], [Lambda(lambda t: t * 1.0, dtype="float64")(wide),
                                Lambda(lambda t: t + 0)(ids)])
    third = np.full((1, 2), 1 / 3)
    out, index = model([third, np.array([[2**40, 1]])])
    assert out.dtype == np.float64 and out.numpy()[0, 0] == 1 / 3  # not rounded to float32
    assert index.dtype == np.int64 and index.numpy()[0, 0] == 2**40
    narrow = Input(shape=(2,))  # float32 by default: float64 data is cast to it
    assert Model(narrow, Lambda(lambda t: t)(narrow))(third).dtype == np.float32


def test_sequential_takes_an_input_and_builds_lazily_without_one():
    model = Sequential([Input(shape=(5,)), Dense(3)])
    assert model.built and model.output_shape == (None, 3) and len(model.layers) == 1
    lazy = Sequential([Dense(3), Dense(1)])
    assert not lazy.weights
    assert lazy(np.ones((2, 7), np.float32)).shape == (2, 1)
    assert lazy.weights[0].shape == (7, 3)


def test_functional_model_with_two_inputs_and_two_outputs():
    tape.random.seed(0)
    image, meta = Input(shape=(4,), name="image"), Input(shape=(2,), name="meta")
    h = Concatenate()([Dense(6, activation="relu")(image), meta])
    score = Dense(1, name="score")(h)
    label = Dense(3, activation="softmax", name="label")(h)
    model = Model(inputs=[image, meta], outputs=[score, label])
    assert model.output_names == ["score", "label"]
    assert [la.name for la in model.layers][:2] == ["image", "meta"]
    xi, xm = np.ones((5, 4), np.float32), np.ones((5, 2), np.float32)
    out = model.predict([xi, xm], batch_size=2, verbose=0)
    assert isinstance(out, list) and out[0].shape == (5, 1) and out[1].shape == (5, 3)
    by_name = model({"meta": xm, "image": xi})
    np.testing.assert_allclose(by_name[1].numpy(), out[1], rtol=1e-6)
    model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"])
    history = model.fit([xi, xm], [np.ones((5, 1)), np.array([0, 1, 2, 0, 1])], epochs=2,
                        verbose=0)
    assert set(history.history) == {"loss", "score_loss", "label_loss"}


def test_functional_residual_graph_and_nested_models():
    tape.random.seed(0)
    inp = Input(shape=(4,))
    block_in = Input(shape=(4,))
    block = Model(block_in, Add()([block_in, Dense(4)(block_in)]), name="block")
    out = Dense(1)(block(block(inp)))  # a shared nested model
    model = Model(inp, out)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    dense = block.layers[-2] if isinstance(block.layers[-2], Dense) else block.layers[1]
    w, b = dense.kernel.numpy(), dense.bias.numpy()
    h = x + x @ w + b
    h = h + h @ w + b
    head = model.layers[-1]
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               h @ head.kernel.numpy() + head.bias.numpy(), rtol=1e-5)
    assert len(model.trainable_variables) == 4


def test_subclassed_model_trains_and_tracks_its_layers():
    class MLP(Model):
        def __init__(self):
            super().__init__(name="mlp")
            self.hidden = Dense(8, activation="relu")
            self.drop = Dropout(0.5)
            self.out = Dense(1)

        def call(self, x, training=None):
            return self.out(self.drop(self.hidden(x), training=training))

    tape.random.seed(0)
    model = MLP()
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True)
    model.compile(optimizers.Adam(0.02), "mse")
    history = model.fit(x, y, epochs=10, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(model.trainable_variables) == 4 and len(model.layers) == 3
    # inference is deterministic (dropout off), training is not
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_summary_lists_layers_shapes_and_parameter_counts(capsys):
    model = Sequential([Dense(64, activation="relu", input_dim=100), Dense(10)], name="net")
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "net"' in out
    assert "(None, 64)" in out and "(None, 10)" in out
    assert "6,464" in out and "650" in out
    assert "Total params: 7,114" in out and "Trainable params: 7,114" in out
    model.layers[0].trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 6,464" in lines


def test_summary_of_an_unbuilt_model_explains_how_to_build_it():
    with pytest.raises(ValueError, match="not been built"):
        Sequential([Dense(2)]).summary()


def test_config_round_trip_rebuilds_the_architecture():
    tape.random.seed(0)
    seq = Sequential([Dense(4, activation="relu", input_dim=3), Dense(2, name="head")])
    clone = Sequential.from_config(seq.get_config())
    clone.set_weights(seq.get_weights())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), seq.predict(x, verbose=0))
    inp = Input(shape=(3,))
    fn = Model(inp, [Dense(2)(inp), Dense(1)(inp)])
    fn_clone = Model.from_config(fn.get_config())
    fn_clone.set_weights(fn.get_weights())
    for p, q in zip(fn_clone.predict(x, verbose=0), fn.predict(x, verbose=0)):
        np.testing.assert_array_equal(p, q)


def test_bad_calls_are_clear_errors():
    a, b = Input(shape=(2,), name="left"), Input(shape=(3,), name="right")
    model = Model([a, b], Concatenate()([a, b]))
    with pytest.raises(ValueError, match=r"expects 2 inputs \['left', 'right'\]"):
        model(np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"'right'.*expected shape \(None, 3\), got \(1, 4\)"):
        model([np.ones((1, 2), np.float32), np.ones((1, 4), np.float32)])
    with pytest.raises(ValueError, match="missing inputs"):
        model({"left": np.ones((1, 2))})
    other = Input(shape=(2,))
    with pytest.raises(ValueError, match="not among the model's inputs"):
        Model(a, Add()([a, other]))
    with pytest.raises(TypeError, match="KerasTensors"):
        Model(np.ones(2), np.ones(2))


def test_lambda_layers_work_in_models():
    inp = Input(shape=(2,))
    model = Model(inp, Lambda(lambda t: t * 3)(inp))
    model.compile("sgd", losses.MeanSquaredError())
    assert model.predict(np.ones((2, 2)), verbose=0).tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_to_moves_the_model_and_a_missing_gpu_is_a_clear_error():
    model = Sequential([Dense(2, input_dim=3)])
    model.compile("sgd", "mse")
    assert model.to("cpu") is model
    assert model.predict(np.ones((2, 3)), verbose=0).shape == (2, 2)
    if tape.backend.is_gpu_available():
        model.to("gpu")
        assert {w.device for w in model.weights} == {"gpu:0"}
        model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0)
        assert isinstance(model.predict(np.ones((2, 3)), verbose=0), np.ndarray)
    else:
        with pytest.raises(tape.DeviceError, match="gpu"):
            model.to("gpu")
        assert {w.device for w in model.weights} == {"cpu"}


def test_dict_outputs_are_named_by_their_keys():
    tape.random.seed(0)
    inp = Input(shape=(2,))
    model = Model(inp, {"r": Dense(1)(inp), "c": Dense(3, activation="softmax")(inp)})
    assert model.output_names == ["r", "c"]
    model.compile("adam", {"r": "mse", "c": "sparse_categorical_crossentropy"},
                  metrics={"c": ["accuracy"]})
    x = np.ones((8, 2), np.float32)
    history = model.fit(x, {"r": np.ones((8, 1)), "c": np.zeros(8, int)}, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "r_loss", "c_loss", "c_accuracy"]
    out = model.predict(x, verbose=0)
    assert set(out) == {"r", "c"} and out["c"].shape == (8, 3)


def test_build_creates_a_subclassed_models_weights_for_summary(capsys):
    class Two(Model):
        def __init__(self):
            super().__init__(name="two")
            self.a, self.b = Dense(8, activation="relu"), Dense(2)

        def call(self, x):
            return self.b(self.a(x))

    model = Two()
    model.build((None, 5))
    assert [w.shape for w in model.weights] == [(5, 8), (8,), (8, 2), (2,)]
    model.summary()
    out = capsys.readouterr().out
    assert "(None, 8)" in out and "Total params: 66" in out
    assert model(np.ones((3, 5), np.float32)).shape == (3, 2)
