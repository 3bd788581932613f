"""Embedding: the lookup against NumPy indexing, its gradient (a scatter-add into the used rows)
against jax.grad, mask_zero, symbolic shapes, training, saving and bad ids."""

import contextlib
import sys

import numpy as np
import pytest

import tape
from tape.layers import Dense, Embedding, Flatten, Input, get_mask
from tape.models import Model, Sequential, load_model

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("ids_shape", [(), (4,), (2, 3), (2, 2, 2)])
def test_lookup_matches_numpy_indexing(ids_shape):
    layer = Embedding(6, 3)
    ids = RNG.integers(0, 6, size=ids_shape)
    out = layer(ids)
    table = layer.get_weights()[0]
    assert out.shape == ids_shape + (3,) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), table[ids])


def test_float_ids_are_cast_like_keras():
    layer = Embedding(4, 2)
    np.testing.assert_array_equal(layer(np.array([[1.0, 3.0]])).numpy(),
                                  layer.get_weights()[0][[[1, 3]]])


def test_gradient_is_a_scatter_add_into_the_used_rows_like_jax():
    layer = Embedding(7, 3, dtype="float64")
    ids = np.array([[1, 4, 1], [4, 4, 0]])  # repeats accumulate; rows 2, 3, 5, 6 unused
    layer(ids)
    table = layer.get_weights()[0]
    v = RNG.normal(size=(2, 3, 3))
    with tape.GradientTape() as g:
        loss = tape.sum(layer(ids) * v)
    (got,) = g.gradient(loss, layer.trainable_weights)
    want = jax.grad(lambda t: jnp.sum(jnp.take(t, ids, axis=0) * v))(jnp.asarray(table))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    np.testing.assert_array_equal(got.numpy()[[2, 3, 5, 6]], 0.0)
    # The older `take` (ids as a parameter) scatter-adds the same way.
    t = tape.Tensor(table)
    with tape.GradientTape() as g:
        g.watch(t)
        loss = tape.sum(tape.take(t, ids, axis=0) * v)
    np.testing.assert_allclose(g.gradient(loss, t).numpy(), want, rtol=1e-12)


def test_sgd_step_changes_only_the_used_rows():
    model = Sequential([Embedding(5, 2, input_shape=(2,)), Flatten(), Dense(1)])
    model.compile(optimizer=tape.optimizers.SGD(0.1), loss="mse")
    before = model.layers[0].get_weights()[0].copy()
    model.fit(np.array([[1, 3]]), np.array([[1.0]]), epochs=1, verbose=0)
    after = model.layers[0].get_weights()[0]
    changed = np.any(after != before, axis=1)
    np.testing.assert_array_equal(changed, [False, True, False, True, False])


def test_mask_zero_attaches_ids_not_equal_zero():
    ids = np.array([[2, 0, 1], [0, 0, 3]])
    out = Embedding(4, 2, mask_zero=True)(ids)
    np.testing.assert_array_equal(get_mask(out).numpy(), ids != 0)
    assert get_mask(Embedding(4, 2)(ids)) is None
    assert Embedding(4, 2).compute_mask(ids) is None


def test_symbolic_output_is_float_with_the_embedding_axis():
    inputs = Input(shape=(5,), dtype="int32")
    out = Embedding(10, 4)(inputs)
    assert out.shape == (None, 5, 4) and out.dtype == np.float32


def test_regularizer_and_config_round_trip(tmp_path):
    layer = Embedding(4, 2, embeddings_regularizer=tape.regularizers.L2(0.5),
                      embeddings_initializer="ones", mask_zero=True, name="words")
    layer(np.array([[1]]))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(layer.losses[0].numpy(), 0.5 * 8)  # 0.5 * sum of 8 ones
    clone = Embedding.from_config(layer.get_config())
    assert (clone.input_dim, clone.output_dim, clone.mask_zero, clone.name) == (4, 2, True,
                                                                                "words")
    inputs = Input(shape=(3,), dtype="int32")
    model = Model(inputs, Dense(1)(Flatten()(Embedding(6, 2)(inputs))))
    model.save(tmp_path / "embed.safetensors")
    loaded = load_model(tmp_path / "embed.safetensors")
    ids = RNG.integers(0, 6, size=(4, 3))
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))


@pytest.mark.parametrize("bad", [3, -1, -4, 100])
def test_ids_outside_the_table_are_an_error(bad):
    # -1 gave row 2 (NumPy takes a negative index from the end); tf.gather refuses it on CPU.
    # On a GPU the check runs on the device and raises at the next host read (numpy()).
    layer = Embedding(3, 2, name="small_vocab")
    with pytest.raises(tape.IndexOutOfRangeError,
                       match=rf"small_vocab.*\[0, 3\).*received {bad}.*test_embedding.py"):
        layer(np.array([[0, bad]])).numpy()
    np.testing.assert_array_equal(layer(np.array([2])).numpy(), layer.embeddings.numpy()[2:])


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_a_bad_id_in_a_later_batch_of_fit_is_an_error(run_eagerly):
    # fit traces its step on the first batch: the check is a graph op, so replays check too
    model = Sequential([Input(shape=(2,), dtype="int32"), Embedding(5, 3), Flatten(), Dense(1)])
    model.compile("sgd", "mse", run_eagerly=run_eagerly)
    ids = np.array([[0, 1], [2, 3], [4, 0], [1, -1]])
    with pytest.raises(tape.IndexOutOfRangeError, match=r"\[0, 5\).*received -1"):
        model.fit(ids, np.zeros((4, 1), np.float32), batch_size=2, shuffle=False, verbose=0)
    with pytest.raises(tape.IndexOutOfRangeError, match=r"received 5"):
        model.predict(np.array([[0, 1], [5, 0]]), batch_size=1, verbose=0)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 2)
    with pytest.raises(ValueError, match="output_dim"):
        Embedding(3, 2.5)


@pytest.mark.gpu
def test_on_the_gpu_ids_are_checked_there_and_reported_at_the_next_read():
    """Reading the ids on the host would wait for the device at every step: the GPU lookup
    checks them on the device (no copy back, where the CuPy double counts copies), and a bad
    id raises at the next read of a value on the host."""
    double = sys.modules.get("cupy_double")
    ids = np.array([[1, 5], [0, 2]])
    layer = Embedding(6, 3, name="vocab6")
    with tape.device("gpu"):
        good, bad = tape.tensor(ids), tape.tensor([[1, 6]])
        with (double.count_transfers() if double else contextlib.nullcontext()) as transfers:
            got = layer(good)
            looked_up = layer(bad)
    assert got.device.startswith("gpu")
    if double is not None:
        assert transfers.d2h == 0, transfers.log
    with pytest.raises(tape.IndexOutOfRangeError,
                       match=r"vocab6.*\[0, 6\).*received 6.*test_embedding.py"):
        looked_up.numpy()
    np.testing.assert_array_equal(got.to("cpu").numpy(), layer.embeddings.to("cpu").numpy()[ids])
