"""The hinge and further regression losses (tape/losses/hinge.py, regression.py) against
formulas written out here in NumPy and against scikit-learn: per-sample values, every
reduction with sample weights, float64 gradients away from kinks, Keras names and configs."""

import numpy as np
import pytest
import sklearn.metrics as skm

import tape
from tape import losses
from tape.testing import check_gradients

RNG = np.random.default_rng(7)
N, C = 6, 4
SIGNS = RNG.choice([-1.0, 1.0], size=(N, C))
BINARY = (SIGNS + 1) / 2  # the same labels as 0/1
# Scores whose margins 1 - y * p are at least 0.1 away from the hinge's kink at 0.
MARGINS = RNG.choice([-1.0, 1.0], size=(N, C)) * RNG.uniform(0.1, 0.9, size=(N, C))
SCORES = SIGNS * (1 - MARGINS)
ONE_HOT = np.eye(C)[RNG.integers(0, C, size=N)]
REAL_TRUE = RNG.normal(size=(N, C))
REAL_PRED = REAL_TRUE + RNG.choice([-1.0, 1.0], size=(N, C)) * RNG.uniform(0.2, 3.0, size=(N, C))
POS_TRUE = RNG.uniform(0.5, 3.0, size=(N, C))  # away from MAPE's and MSLE's floors
POS_PRED = RNG.uniform(0.5, 3.0, size=(N, C))
COUNTS = RNG.poisson(2.0, size=(N, C)).astype(np.float64)
EPS = 1e-7


def value(t):
    return np.asarray(t.numpy(), dtype=np.float64)


# ---- the formulas, written out independently of tape ----------------------------------
def np_hinge(y, p):
    return np.maximum(1 - y * p, 0).mean(-1)


def np_squared_hinge(y, p):
    return (np.maximum(1 - y * p, 0) ** 2).mean(-1)


def np_categorical_hinge(y, p):
    pos = (y * p).sum(-1)
    neg = ((1 - y) * p).max(-1)
    return np.maximum(neg - pos + 1, 0)


def np_log_cosh(y, p):
    return np.log(np.cosh(p - y)).mean(-1)


def np_msle(y, p):
    return ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(y, EPS))) ** 2).mean(-1)


def np_mape(y, p):
    return 100 * np.abs((y - p) / np.maximum(np.abs(y), EPS)).mean(-1)


def np_cosine(y, p, axis=-1):
    num = (y * p).sum(axis)
    return -num / (np.linalg.norm(y, axis=axis) * np.linalg.norm(p, axis=axis))


def np_poisson(y, p):
    return (p - y * np.log(p + EPS)).mean(-1)


# name, Loss, the per-sample function, its NumPy formula, y_true, y_pred (kink-free)
CASES = [
    ("hinge", losses.Hinge, losses.hinge, np_hinge, SIGNS, SCORES),
    ("squared_hinge", losses.SquaredHinge, losses.squared_hinge, np_squared_hinge, SIGNS, SCORES),
    ("categorical_hinge", losses.CategoricalHinge, losses.categorical_hinge,
     np_categorical_hinge, ONE_HOT, REAL_PRED),
    ("log_cosh", losses.LogCosh, losses.log_cosh, np_log_cosh, REAL_TRUE, REAL_PRED),
    ("msle", losses.MeanSquaredLogarithmicError, losses.mean_squared_logarithmic_error, np_msle,
     POS_TRUE, POS_PRED),
    ("mape", losses.MeanAbsolutePercentageError, losses.mean_absolute_percentage_error, np_mape,
     REAL_TRUE, REAL_PRED),
    ("cosine_similarity", losses.CosineSimilarity, losses.cosine_similarity, np_cosine,
     REAL_TRUE, REAL_PRED),
    ("poisson", losses.Poisson, losses.poisson, np_poisson, COUNTS, POS_PRED),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,cls,fn,reference,y_true,y_pred", CASES, ids=IDS)
def test_per_sample_values_match_numpy(name, cls, fn, reference, y_true, y_pred):
    np.testing.assert_allclose(value(fn(y_true, y_pred)), reference(y_true, y_pred),
                               rtol=1e-10, atol=1e-12)
    assert value(cls()(y_true, y_pred)) == pytest.approx(reference(y_true, y_pred).mean(),
                                                         rel=1e-10)


@pytest.mark.parametrize("name,cls,fn,reference,y_true,y_pred", CASES, ids=IDS)
def test_every_reduction_with_sample_weight(name, cls, fn, reference, y_true, y_pred):
    per = reference(y_true, y_pred)
    w = RNG.uniform(0.1, 2.0, size=N)
    expected = {
        "none": per * w, None: per * w, "sum": (per * w).sum(),
        "sum_over_batch_size": (per * w).mean(), "mean": (per * w).mean(),
        "mean_with_sample_weight": (per * w).sum() / w.sum(),
    }
    for reduction, want in expected.items():
        got = cls(reduction=reduction)(y_true, y_pred, sample_weight=w)
        np.testing.assert_allclose(value(got), want, rtol=1e-10, err_msg=str(reduction))


@pytest.mark.parametrize("name,cls,fn,reference,y_true,y_pred", CASES, ids=IDS)
def test_gradients_in_float64(name, cls, fn, reference, y_true, y_pred):
    w = RNG.uniform(0.5, 1.5, size=N)
    loss = cls()
    check_gradients(lambda p: loss(y_true, p, sample_weight=w), y_pred)


def test_against_scikit_learn_where_it_has_the_function():
    # Binary hinge: sklearn's hinge_loss takes -1/1 labels and one decision value per sample.
    y, p = SIGNS[:, 0], SCORES[:, 0]
    assert value(losses.Hinge()(y[:, None], p[:, None])) == pytest.approx(skm.hinge_loss(y, p))
    # sklearn's MAPE is a fraction (and floors |y_true| at float64 eps instead of 1e-7).
    assert value(losses.MeanAbsolutePercentageError()(REAL_TRUE, REAL_PRED)) == pytest.approx(
        100 * skm.mean_absolute_percentage_error(REAL_TRUE, REAL_PRED), rel=1e-10)
    assert value(losses.MeanSquaredLogarithmicError()(POS_TRUE, POS_PRED)) == pytest.approx(
        skm.mean_squared_log_error(POS_TRUE, POS_PRED), rel=1e-10)


def test_binary_labels_become_minus_one_and_one():
    for fn in (losses.hinge, losses.squared_hinge):
        np.testing.assert_array_equal(value(fn(BINARY, SCORES)), value(fn(SIGNS, SCORES)))
    # Labels that are not all 0/1 are used as they are (here 2 and 0 stay 2 and 0).
    odd = np.array([[2.0, 0.0]])
    np.testing.assert_allclose(value(losses.hinge(odd, [[0.25, 0.5]])), [(0.5 + 1.0) / 2])
    # The choice is a tensor op, so a traced function keeps it for either kind of label.
    traced = tape.trace(lambda y, p: losses.hinge(y, p))
    np.testing.assert_allclose(value(traced(tape.tensor(BINARY), tape.tensor(SCORES))),
                               np_hinge(SIGNS, SCORES), rtol=1e-12)
    np.testing.assert_allclose(value(traced(tape.tensor(2 * BINARY), tape.tensor(SCORES))),
                               np_hinge(2 * BINARY, SCORES), rtol=1e-12)


def test_log_cosh_is_stable_for_huge_errors():
    big = np.array([[1e4, -3e4]])
    got = value(losses.log_cosh(np.zeros((1, 2)), big))
    np.testing.assert_allclose(got, [(1e4 + 3e4) / 2 - np.log(2)], rtol=1e-12)
    g = tape.grad(lambda p: tape.sum(losses.log_cosh(np.zeros((1, 2)), p)))(tape.tensor(big))
    np.testing.assert_allclose(value(g), [[0.5, -0.5]])  # tanh(x) / 2 saturates, no NaN


def test_floors_and_zero_vectors():
    # MSLE floors negatives at EPSILON, MAPE floors |y_true| at EPSILON.
    np.testing.assert_allclose(value(losses.mean_squared_logarithmic_error([[-5.0]], [[0.0]])),
                               [0.0], atol=1e-12)
    np.testing.assert_allclose(value(losses.mean_absolute_percentage_error([[0.0]], [[1e-7]])),
                               [100.0], rtol=1e-6)
    # A zero vector has cosine similarity 0, not NaN.
    assert value(losses.cosine_similarity([[0.0, 0.0]], [[1.0, 2.0]])).tolist() == [0.0]


def test_cosine_similarity_axis():
    got = value(losses.CosineSimilarity(axis=0, reduction="none")(REAL_TRUE, REAL_PRED))
    np.testing.assert_allclose(got, np_cosine(REAL_TRUE, REAL_PRED, axis=0), rtol=1e-10)
    again = losses.CosineSimilarity.from_config(losses.CosineSimilarity(axis=0).get_config())
    assert again.get_config()["axis"] == 0


@pytest.mark.parametrize("name,cls", [
    ("hinge", losses.Hinge), ("squared_hinge", losses.SquaredHinge),
    ("categorical_hinge", losses.CategoricalHinge), ("log_cosh", losses.LogCosh),
    ("msle", losses.MeanSquaredLogarithmicError), ("MSLE", losses.MeanSquaredLogarithmicError),
    ("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError),
    ("mape", losses.MeanAbsolutePercentageError), ("MAPE", losses.MeanAbsolutePercentageError),
    ("mean_absolute_percentage_error", losses.MeanAbsolutePercentageError),
    ("cosine_similarity", losses.CosineSimilarity), ("poisson", losses.Poisson),
    ("LogCosh", losses.LogCosh), ("CategoricalHinge", losses.CategoricalHinge),
])
def test_get_resolves_keras_names(name, cls):
    assert type(losses.get(name)) is cls


def test_default_names_are_keras_names_and_functions_resolve_to_classes():
    assert [cls().name for cls in (losses.Hinge, losses.SquaredHinge, losses.CategoricalHinge,
                                   losses.LogCosh, losses.MeanSquaredLogarithmicError,
                                   losses.MeanAbsolutePercentageError, losses.CosineSimilarity,
                                   losses.Poisson)] == [
        "hinge", "squared_hinge", "categorical_hinge", "log_cosh",
        "mean_squared_logarithmic_error", "mean_absolute_percentage_error",
        "cosine_similarity", "poisson"]
    assert type(losses.get(losses.poisson)) is losses.Poisson
    assert type(losses.get(losses.msle)) is losses.MeanSquaredLogarithmicError


@pytest.mark.parametrize("name,activation,targets", [
    ("hinge", "tanh", "binary"), ("squared_hinge", "tanh", "binary"),
    ("categorical_hinge", None, "one_hot"), ("log_cosh", None, "real"),
    ("msle", "softplus", "positive"), ("mape", None, "positive"),
    ("cosine_similarity", None, "real"), ("poisson", "softplus", "positive"),
])
def test_compile_by_name_trains_a_small_model(name, activation, targets):
    tape.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    w = rng.normal(size=(4, 3))
    y = {"binary": (x @ w > 0), "one_hot": np.eye(3)[(x @ w).argmax(-1)], "real": x @ w,
         "positive": np.exp(0.5 * x @ w)}[targets].astype(np.float32)
    model = tape.models.Sequential([tape.layers.Dense(3, activation=activation, input_dim=4)])
    model.compile(tape.optimizers.Adam(0.05), name)
    assert [type(fn) for fn in model._losses] == [type(losses.get(name))]
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)  # a traced step
    assert np.isfinite(history.history["loss"]).all()
    assert model.evaluate(x, y, verbose=0) < before - 0.01 * abs(before)
