"""tape.keras is Keras 3's namespace over tape's own objects, and says clearly what is not
there."""

import pytest

import tape
from tape import keras
from tape.keras._reach import OutOfReachError


def test_top_level_names_are_tapes_own_objects():
    assert keras.Sequential is tape.models.Sequential
    assert keras.Model is tape.models.Model
    assert keras.Input is tape.layers.Input
    assert keras.Layer is tape.layers.Layer
    assert keras.Variable is tape.Variable
    assert keras.layers.Dense is tape.layers.Dense
    assert keras.layers.LSTM is tape.layers.LSTM
    for name in ("losses", "metrics", "optimizers", "initializers", "regularizers",
                 "activations"):
        assert getattr(keras, name) is getattr(tape, name)
    assert keras.callbacks.EarlyStopping is tape.callbacks.EarlyStopping
    assert keras.models.load_model is tape.models.load_model
    assert tape.keras is keras and tape.tf.keras is keras


def test_keras_import_forms_work():
    from tape.keras.losses import MeanSquaredError
    from tape.keras.optimizers import Adam
    from tape.keras.optimizers.schedules import ExponentialDecay
    from tape.keras.preprocessing.image import img_to_array
    from tape.keras.preprocessing.sequence import pad_sequences
    from tape.keras.utils import to_categorical

    assert MeanSquaredError is tape.losses.MeanSquaredError and Adam is tape.optimizers.Adam
    assert ExponentialDecay is tape.optimizers.schedules.ExponentialDecay
    assert pad_sequences is keras.utils.pad_sequences and to_categorical is not None
    assert img_to_array is keras.utils.img_to_array


@pytest.mark.parametrize("get, words", [
    (lambda: keras.applications, "download"),
    (lambda: keras.datasets.mnist, "download"),
    (lambda: keras.layers.TextVectorization, "preprocessing layers"),
    (lambda: keras.ops.fft, "FFT"),
    (lambda: keras.ops.image, "image"),
    (lambda: keras.utils.get_file, "network"),
    (lambda: keras.callbacks.BackupAndRestore, "ModelCheckpoint"),
    (lambda: keras.preprocessing.text, "Tokenizer"),
    (lambda: keras.random.gamma, "not mapped"),
    (lambda: tape.tf.distribute, "tape.distribute"),
    (lambda: tape.tf.nn.ctc_loss, "not mapped"),
])
def test_out_of_reach_features_say_so(get, words):
    with pytest.raises(NotImplementedError, match="out of reach in tape") as info:
        get()
    assert isinstance(info.value, OutOfReachError) and words in str(info.value)


def test_hasattr_still_answers_false_and_private_names_are_plain_attribute_errors():
    assert not hasattr(keras, "applications")
    with pytest.raises(AttributeError) as info:
        keras.__wrapped__  # noqa: B018 - import machinery and doctest probe such names
    assert not isinstance(info.value, OutOfReachError)


def test_backend_and_config_answer_as_keras():
    assert keras.backend.floatx() == "float32" and keras.config.floatx() == "float32"
    assert keras.backend.image_data_format() == "channels_last"
    assert keras.backend.epsilon() == 1e-7
    with pytest.raises(OutOfReachError, match="channels-last"):
        keras.config.set_image_data_format("channels_first")
    keras.backend.clear_session()
    assert keras.layers.Dense(1).name == "dense"
    assert keras.backend.is_keras_tensor(keras.Input((2,)))


def test_keras_variable_takes_an_initializer_and_a_shape():
    v = keras.Variable(initializer=keras.initializers.Constant(3.0), shape=(2, 2), name="v")
    assert isinstance(v, tape.Variable) and v.numpy().tolist() == [[3.0, 3.0], [3.0, 3.0]]
    w = keras.Variable(keras.initializers.Ones(), shape=(3,), dtype="float64",
                       trainable=False)
    assert w.dtype == "float64" and not w.trainable and w.numpy().tolist() == [1.0, 1.0, 1.0]
    assert keras.Variable([1.0, 2.0]).numpy().tolist() == [1.0, 2.0]
    assert keras.Variable(keras.initializers.Zeros(), (2,)).shape == (2,)  # positional shape
    with pytest.raises(TypeError, match="initial value"):
        keras.Variable()
