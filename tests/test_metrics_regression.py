"""RootMeanSquaredError, SparseTopKCategoricalAccuracy and the regression, hinge and
probabilistic metrics against scikit-learn and NumPy formulas written out here, accumulated
over several updates with sample weights; Keras names in get(); compile() with them."""

import numpy as np
import pytest
import sklearn.metrics as skm

import tape
from tape import metrics

RNG = np.random.default_rng(3)
N, C = 200, 5
LABELS = RNG.integers(0, C, size=N)
SCORES = RNG.normal(size=(N, C)) + 1.0 * np.eye(C)[LABELS]
WEIGHTS = RNG.uniform(0, 2, size=N)
Y_TRUE = RNG.normal(size=(N, 3))
Y_PRED = Y_TRUE + RNG.normal(scale=0.5, size=(N, 3))
POS_TRUE, POS_PRED = RNG.uniform(0.1, 3, size=(N, 3)), RNG.uniform(0.1, 3, size=(N, 3))
SIGNS = RNG.choice([-1.0, 1.0], size=(N, 3))
PROBS_TRUE = RNG.dirichlet(np.ones(C), size=N)
PROBS_PRED = RNG.dirichlet(np.ones(C), size=N)
COUNTS = RNG.poisson(2.0, size=(N, 3)).astype(np.float64)
EPS = 1e-7
RTOL = 1e-5  # metric state is float32, as Keras


def in_batches(metric, *arrays, size=64):
    """Feed ``arrays`` to ``metric.update_state`` in several batches; return the result."""
    for start in range(0, N, size):
        metric.update_state(*(a[start:start + size] for a in arrays))
    return float(metric.result())


def weighted_mean(per_sample, w=None):
    return np.average(per_sample, weights=w)


def test_rmse_matches_sklearn():
    for w in (None, WEIGHTS):
        args = (Y_TRUE, Y_PRED) if w is None else (Y_TRUE, Y_PRED, w)
        expected = np.sqrt(skm.mean_squared_error(Y_TRUE, Y_PRED, sample_weight=w))
        assert in_batches(metrics.RootMeanSquaredError(), *args) == pytest.approx(expected,
                                                                                  rel=RTOL)
    # sqrt of the mean over everything, not the mean of per-batch roots.
    m = metrics.RootMeanSquaredError()
    m.update_state([[0.0]], [[3.0]])
    m.update_state([[0.0]], [[4.0]])
    assert float(m.result()) == pytest.approx(np.sqrt(12.5))
    m.reset_state()
    assert float(m.result()) == 0.0


def test_sparse_top_k_accuracy_matches_sklearn():
    for k in (1, 2, 4):
        got = in_batches(metrics.SparseTopKCategoricalAccuracy(k=k), LABELS, SCORES)
        assert got == pytest.approx(skm.top_k_accuracy_score(LABELS, SCORES, k=k), rel=RTOL)
        got = in_batches(metrics.SparseTopKCategoricalAccuracy(k=k), LABELS[:, None], SCORES,
                         WEIGHTS)
        assert got == pytest.approx(skm.top_k_accuracy_score(
            LABELS, SCORES, k=k, sample_weight=WEIGHTS), rel=RTOL)
    assert metrics.SparseTopKCategoricalAccuracy().get_config()["k"] == 5


def test_sparse_top_k_from_sorted_ids_and_ties():
    ids = np.argsort(-SCORES, axis=-1)
    got = in_batches(metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True), LABELS,
                     ids)
    assert got == pytest.approx(skm.top_k_accuracy_score(LABELS, SCORES, k=2), rel=RTOL)
    # Ties at the boundary count as in, as Keras' in_top_k.
    assert float(metrics.SparseTopKCategoricalAccuracy(k=1)([0], [[0.5, 0.5, 0.1]])) == 1.0


def np_cosine(y, p):
    return (y * p).sum(-1) / (np.linalg.norm(y, axis=-1) * np.linalg.norm(p, axis=-1))


# metric class, y_true, y_pred, the per-sample value written out in NumPy
MEAN_CASES = {
    "mape": (metrics.MeanAbsolutePercentageError, Y_TRUE, Y_PRED,
             lambda y, p: 100 * np.abs((y - p) / np.maximum(np.abs(y), EPS)).mean(-1)),
    "msle": (metrics.MeanSquaredLogarithmicError, POS_TRUE, POS_PRED,
             lambda y, p: ((np.log1p(p) - np.log1p(y)) ** 2).mean(-1)),
    "logcosh": (metrics.LogCoshError, Y_TRUE, Y_PRED,
                lambda y, p: np.log(np.cosh(p - y)).mean(-1)),
    "cosine": (metrics.CosineSimilarity, Y_TRUE, Y_PRED, np_cosine),
    "hinge": (metrics.Hinge, SIGNS, Y_PRED, lambda y, p: np.maximum(1 - y * p, 0).mean(-1)),
    "hinge_01": (metrics.Hinge, (SIGNS + 1) / 2, Y_PRED,
                 lambda y, p: np.maximum(1 - (2 * y - 1) * p, 0).mean(-1)),
    "squared_hinge": (metrics.SquaredHinge, SIGNS, Y_PRED,
                      lambda y, p: (np.maximum(1 - y * p, 0) ** 2).mean(-1)),
    "categorical_hinge": (metrics.CategoricalHinge, np.eye(C)[LABELS], SCORES,
                          lambda y, p: np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1,
                                                  0)),
    "kld": (metrics.KLDivergence, PROBS_TRUE, PROBS_PRED,
            lambda y, p: (y * np.log(y / p)).sum(-1)),
    "poisson": (metrics.Poisson, COUNTS, POS_PRED,
                lambda y, p: (p - y * np.log(p + EPS)).mean(-1)),
}


@pytest.mark.parametrize("case", MEAN_CASES)
def test_mean_metrics_match_numpy_with_and_without_weights(case):
    cls, y_true, y_pred, per_sample = MEAN_CASES[case]
    expected = per_sample(y_true, y_pred)
    assert in_batches(cls(), y_true, y_pred) == pytest.approx(expected.mean(), rel=RTOL)
    assert in_batches(cls(), y_true, y_pred, WEIGHTS) == pytest.approx(
        weighted_mean(expected, WEIGHTS), rel=RTOL)


def test_against_scikit_learn_where_it_has_the_function():
    got = in_batches(metrics.MeanAbsolutePercentageError(), Y_TRUE, Y_PRED, WEIGHTS)
    assert got == pytest.approx(100 * skm.mean_absolute_percentage_error(
        Y_TRUE, Y_PRED, sample_weight=WEIGHTS), rel=RTOL)
    got = in_batches(metrics.MeanSquaredLogarithmicError(), POS_TRUE, POS_PRED, WEIGHTS)
    assert got == pytest.approx(skm.mean_squared_log_error(
        POS_TRUE, POS_PRED, sample_weight=WEIGHTS), rel=RTOL)


def test_cosine_similarity_axis():
    got = float(metrics.CosineSimilarity(axis=0)(Y_TRUE, Y_PRED))
    expected = np_cosine(Y_TRUE.T, Y_PRED.T).mean()
    assert got == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("name,cls,default_name", [
    ("root_mean_squared_error", metrics.RootMeanSquaredError, "root_mean_squared_error"),
    ("RootMeanSquaredError", metrics.RootMeanSquaredError, "root_mean_squared_error"),
    ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy,
     "sparse_top_k_categorical_accuracy"),
    ("mape", metrics.MeanAbsolutePercentageError, "mean_absolute_percentage_error"),
    ("MAPE", metrics.MeanAbsolutePercentageError, "mean_absolute_percentage_error"),
    ("mean_absolute_percentage_error", metrics.MeanAbsolutePercentageError,
     "mean_absolute_percentage_error"),
    ("msle", metrics.MeanSquaredLogarithmicError, "mean_squared_logarithmic_error"),
    ("mean_squared_logarithmic_error", metrics.MeanSquaredLogarithmicError,
     "mean_squared_logarithmic_error"),
    ("log_cosh_error", metrics.LogCoshError, "logcosh"),
    ("cosine_similarity", metrics.CosineSimilarity, "cosine_similarity"),
    ("hinge", metrics.Hinge, "hinge"), ("squared_hinge", metrics.SquaredHinge, "squared_hinge"),
    ("categorical_hinge", metrics.CategoricalHinge, "categorical_hinge"),
    ("kl_divergence", metrics.KLDivergence, "kl_divergence"),
    ("poisson", metrics.Poisson, "poisson"),
])
def test_get_resolves_keras_names(name, cls, default_name):
    m = metrics.get(name)
    assert type(m) is cls and m.name == default_name


def test_config_round_trip():
    m = metrics.SparseTopKCategoricalAccuracy(k=3, name="top3", from_sorted_ids=True)
    again = metrics.get({"class_name": "SparseTopKCategoricalAccuracy",
                         "config": m.get_config()})
    assert type(again) is type(m) and again.get_config() == m.get_config()
    cos = metrics.CosineSimilarity(axis=0)
    assert metrics.CosineSimilarity.from_config(cos.get_config()).get_config()["axis"] == 0


def test_compile_with_the_new_names_reports_them():
    tape.random.seed(0)
    x = RNG.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 3.0).astype(np.float32)  # positive mostly
    model = tape.models.Sequential([tape.layers.Dense(1, input_dim=3)])
    names = ["root_mean_squared_error", "mape", "msle", "cosine_similarity", "log_cosh_error"]
    model.compile("adam", "mse", metrics=names)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for name in names:  # a string metric is reported under that string, as Keras
        assert len(history.history[name]) == 2 and np.isfinite(history.history[name]).all()
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0).astype(np.float64)
    assert results["root_mean_squared_error"] == pytest.approx(
        np.sqrt(((pred - y) ** 2).mean()), rel=1e-4)
