"""tape.initializers: shapes, dtypes, seeds, Keras' fans, the statistics of large draws,
Orthogonal, get() and its errors."""

import math

import numpy as np
import pytest

import tape
from tape import initializers

ALL = [
    initializers.GlorotUniform, initializers.GlorotNormal, initializers.HeNormal,
    initializers.HeUniform, initializers.LecunNormal, initializers.LecunUniform,
    initializers.Zeros, initializers.Ones, initializers.Constant, initializers.RandomNormal,
    initializers.RandomUniform, initializers.TruncatedNormal, initializers.Orthogonal,
    initializers.VarianceScaling,
]
RANDOM = [cls for cls in ALL if issubclass(cls, initializers.RandomInitializer)]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shape_and_dtype(cls, dtype):
    out = cls()((3, 2, 4, 5), dtype=dtype)
    assert isinstance(out, tape.Tensor)
    assert out.shape == (3, 2, 4, 5) and out.dtype == np.dtype(dtype)
    assert cls()((6, 4)).dtype == np.float32  # the default


@pytest.mark.parametrize("cls", RANDOM, ids=lambda c: c.__name__)
def test_seeded_is_reproducible_and_seeds_differ(cls):
    a = cls(seed=7)((20, 10)).numpy()
    np.testing.assert_array_equal(a, cls(seed=7)((20, 10)).numpy())
    np.testing.assert_array_equal(a, cls(seed=7)((20, 10)).numpy())
    init = cls(seed=7)
    np.testing.assert_array_equal(init((20, 10)).numpy(), init((20, 10)).numpy())
    assert not np.array_equal(a, cls(seed=8)((20, 10)).numpy())


@pytest.mark.parametrize("cls", RANDOM, ids=lambda c: c.__name__)
def test_unseeded_follows_tape_random_seed(cls):
    init = cls()
    tape.random.seed(3)
    a, b = init((8, 8)).numpy(), init((8, 8)).numpy()
    assert not np.array_equal(a, b)  # fresh values at each call
    tape.random.seed(3)
    np.testing.assert_array_equal(a, init((8, 8)).numpy())


def test_fans_like_keras():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((20, 30)) == (20, 30)
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)  # conv2d kernel
    assert initializers.compute_fans((5, 8, 4)) == (40, 20)  # conv1d kernel


UNIFORM_LIMITS = [
    (initializers.GlorotUniform, lambda fi, fo: math.sqrt(6 / (fi + fo))),
    (initializers.HeUniform, lambda fi, fo: math.sqrt(6 / fi)),
    (initializers.LecunUniform, lambda fi, fo: math.sqrt(3 / fi)),
]


@pytest.mark.parametrize("cls,limit", UNIFORM_LIMITS, ids=lambda c: getattr(c, "__name__", ""))
def test_uniform_limits_and_std(cls, limit):
    shape = (3, 3, 64, 128)
    fi, fo = 9 * 64, 9 * 128  # receptive field x channels, by hand
    w = cls(seed=0)(shape, dtype="float64").numpy()
    lim = limit(fi, fo)
    assert np.abs(w).max() <= lim and np.abs(w).max() > 0.99 * lim
    assert abs(w.mean()) < 0.01 * lim
    assert w.std() == pytest.approx(lim / math.sqrt(3), rel=0.01)


NORMAL_STDS = [
    (initializers.GlorotNormal, lambda fi, fo: math.sqrt(2 / (fi + fo))),
    (initializers.HeNormal, lambda fi, fo: math.sqrt(2 / fi)),
    (initializers.LecunNormal, lambda fi, fo: math.sqrt(1 / fi)),
]


@pytest.mark.parametrize("cls,std", NORMAL_STDS, ids=lambda c: getattr(c, "__name__", ""))
def test_truncated_normal_std_and_bounds(cls, std):
    shape = (300, 400)
    w = cls(seed=1)(shape, dtype="float64").numpy()
    s = std(300, 400)
    assert w.std() == pytest.approx(s, rel=0.01)  # the truncation is corrected for
    assert abs(w.mean()) < 0.01 * s
    bound = 2 * s / 0.87962566103423978
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_random_normal_uniform_truncated():
    w = initializers.RandomNormal(1.0, 2.0, seed=0)((200_000,), "float64").numpy()
    assert w.mean() == pytest.approx(1.0, abs=0.02) and w.std() == pytest.approx(2.0, rel=0.01)
    u = initializers.RandomUniform(-3.0, 1.0, seed=0)((200_000,), "float64").numpy()
    assert u.min() >= -3.0 and u.max() < 1.0 and u.mean() == pytest.approx(-1.0, abs=0.02)
    t = initializers.TruncatedNormal(0.5, 0.1, seed=0)((200_000,), "float64").numpy()
    assert t.min() >= 0.3 and t.max() <= 0.7 and t.mean() == pytest.approx(0.5, abs=1e-3)
    assert t.std() == pytest.approx(0.1 * 0.87962566103423978, rel=0.01)  # truncated std
    defaults = initializers.RandomNormal(seed=0)((100_000,), "float64").numpy()
    assert defaults.std() == pytest.approx(0.05, rel=0.02)  # Keras' default stddev


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (3, 3, 4, 8)])
def test_orthogonal(shape):
    q = initializers.Orthogonal(gain=2.0, seed=0)(shape, dtype="float64").numpy()
    flat = q.reshape(-1, shape[-1])
    if flat.shape[0] >= flat.shape[1]:
        np.testing.assert_allclose(flat.T @ flat, 4.0 * np.eye(flat.shape[1]), atol=1e-10)
    else:
        np.testing.assert_allclose(flat @ flat.T, 4.0 * np.eye(flat.shape[0]), atol=1e-10)
    with pytest.raises(ValueError, match="rank >= 2"):
        initializers.Orthogonal()((5,))


def test_constants():
    assert initializers.Zeros()((2, 3)).numpy().tolist() == [[0.0] * 3] * 2
    assert initializers.Ones()((2,), dtype="int32").numpy().tolist() == [1, 1]
    assert initializers.Constant(3.5)((2,)).numpy().tolist() == [3.5, 3.5]


def test_bad_arguments():
    with pytest.raises(ValueError, match="float dtype"):
        initializers.HeNormal()((2, 2), dtype="int32")
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sideways")
    with pytest.raises(ValueError, match="seed"):
        initializers.GlorotUniform(seed="0")


@pytest.mark.parametrize("name,cls", [
    ("glorot_uniform", initializers.GlorotUniform), ("glorot_normal", initializers.GlorotNormal),
    ("he_normal", initializers.HeNormal), ("he_uniform", initializers.HeUniform),
    ("lecun_normal", initializers.LecunNormal), ("lecun_uniform", initializers.LecunUniform),
    ("zeros", initializers.Zeros), ("ones", initializers.Ones),
    ("orthogonal", initializers.Orthogonal), ("truncated_normal", initializers.TruncatedNormal),
    ("random_normal", initializers.RandomNormal), ("random_uniform", initializers.RandomUniform),
    ("GlorotUniform", initializers.GlorotUniform), ("constant", initializers.Constant),
])
def test_get_resolves_keras_names(name, cls):
    assert type(initializers.get(name)) is cls


def test_get_other_identifiers_and_errors():
    init = initializers.HeNormal(seed=3)
    assert initializers.get(init) is init
    assert type(initializers.get(initializers.Ones)) is initializers.Ones
    fn = lambda shape, dtype=None: tape.zeros(shape)  # noqa: E731
    assert initializers.get(fn) is fn
    assert initializers.get(None) is None
    with pytest.raises(ValueError, match="glorot_uniform") as info:
        initializers.get("glorot_uniformm")
    assert "he_normal" in str(info.value)


def test_config_round_trip():
    for init in (initializers.HeNormal(seed=3), initializers.RandomUniform(-1.0, 2.0, seed=1),
                 initializers.Orthogonal(gain=0.5, seed=2), initializers.Constant(4.0),
                 initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=5)):
        again = initializers.get({"class_name": type(init).__name__,
                                  "config": init.get_config()})
        assert type(again) is type(init) and again.get_config() == init.get_config()
        np.testing.assert_array_equal(again((4, 5)).numpy(), init((4, 5)).numpy())
