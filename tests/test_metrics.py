"""tape.metrics against scikit-learn: accumulation over several updates, sample weights,
reset_state, AUC within Keras' approximation, get() and resolve_accuracy()."""

import numpy as np
import pytest
import sklearn.metrics as skm

import tape
from tape import losses, metrics

RNG = np.random.default_rng(1)
N, C = 300, 4
LABELS = RNG.integers(0, C, size=N)
SCORES = RNG.normal(size=(N, C)) + 1.5 * np.eye(C)[LABELS]  # informative, not perfect
ONE_HOT = np.eye(C)[LABELS]
BIN_TRUE = RNG.integers(0, 2, size=N).astype(np.float64)
BIN_PROB = np.clip(0.3 * BIN_TRUE + RNG.uniform(0, 0.7, size=N), 0, 1)
WEIGHTS = RNG.uniform(0, 2, size=N)


def in_batches(metric, *arrays, size=64):
    """Feed ``arrays`` to ``metric.update_state`` in several batches; return the result."""
    for start in range(0, N, size):
        metric.update_state(*(a[start:start + size] for a in arrays))
    return float(metric.result())


def test_accuracies_match_sklearn_over_several_updates():
    predicted = SCORES.argmax(-1)
    expected = skm.accuracy_score(LABELS, predicted)
    assert in_batches(metrics.SparseCategoricalAccuracy(), LABELS, SCORES) == \
        pytest.approx(expected)
    assert in_batches(metrics.CategoricalAccuracy(), ONE_HOT, SCORES) == pytest.approx(expected)
    assert in_batches(metrics.Accuracy(), LABELS, predicted) == pytest.approx(expected)
    assert in_batches(metrics.BinaryAccuracy(), BIN_TRUE, BIN_PROB) == pytest.approx(
        skm.accuracy_score(BIN_TRUE, BIN_PROB > 0.5))
    assert in_batches(metrics.BinaryAccuracy(threshold=0.7), BIN_TRUE[:, None],
                      BIN_PROB[:, None]) == pytest.approx(
        skm.accuracy_score(BIN_TRUE, BIN_PROB > 0.7))


def test_weighted_accuracy_matches_sklearn():
    predicted = SCORES.argmax(-1)
    expected = skm.accuracy_score(LABELS, predicted, sample_weight=WEIGHTS)
    got = in_batches(metrics.SparseCategoricalAccuracy(), LABELS, SCORES, WEIGHTS)
    assert got == pytest.approx(expected)
    got = in_batches(metrics.SparseCategoricalAccuracy(), LABELS[:, None], SCORES,
                     WEIGHTS[:, None])
    assert got == pytest.approx(expected)


def test_top_k_accuracy_matches_sklearn():
    for k in (1, 2, 3):
        got = in_batches(metrics.TopKCategoricalAccuracy(k=k), ONE_HOT, SCORES)
        assert got == pytest.approx(skm.top_k_accuracy_score(LABELS, SCORES, k=k))


def test_top_k_ties_count_as_in():
    m = metrics.TopKCategoricalAccuracy(k=1)
    assert float(m([[0.0, 1.0, 0.0]], [[0.5, 0.5, 0.1]])) == 1.0


def test_precision_and_recall_match_sklearn():
    pred = BIN_PROB > 0.5
    for cls, sk in ((metrics.Precision, skm.precision_score), (metrics.Recall, skm.recall_score)):
        assert in_batches(cls(), BIN_TRUE, BIN_PROB) == pytest.approx(sk(BIN_TRUE, pred))
        assert in_batches(cls(), BIN_TRUE, BIN_PROB, WEIGHTS) == pytest.approx(
            sk(BIN_TRUE, pred, sample_weight=WEIGHTS))
        several = cls(thresholds=[0.3, 0.6])
        got = np.asarray(several(BIN_TRUE, BIN_PROB).numpy())
        np.testing.assert_allclose(got, [sk(BIN_TRUE, BIN_PROB > t) for t in (0.3, 0.6)],
                                   rtol=1e-6)


def test_precision_class_id_and_top_k():
    pred = SCORES.argmax(-1)
    for c in range(C):
        got = float(metrics.Precision(class_id=c, top_k=1)(ONE_HOT, SCORES))
        assert got == pytest.approx(skm.precision_score(LABELS == c, pred == c))
        got = float(metrics.Recall(class_id=c, top_k=1)(ONE_HOT, SCORES))
        assert got == pytest.approx(skm.recall_score(LABELS == c, pred == c))


def test_precision_with_no_predicted_positive_is_zero():
    assert float(metrics.Precision()([1.0, 0.0], [0.1, 0.2])) == 0.0


def test_auc_matches_sklearn_within_the_keras_approximation():
    expected = skm.roc_auc_score(BIN_TRUE, BIN_PROB)
    assert in_batches(metrics.AUC(), BIN_TRUE, BIN_PROB) == pytest.approx(expected, abs=1e-2)
    weighted = skm.roc_auc_score(BIN_TRUE, BIN_PROB, sample_weight=WEIGHTS)
    assert in_batches(metrics.AUC(num_thresholds=1000), BIN_TRUE, BIN_PROB, WEIGHTS) == \
        pytest.approx(weighted, abs=1e-2)
    logits = np.log(BIN_PROB + 1e-3) - np.log(1 - BIN_PROB + 1e-3)
    assert float(metrics.AUC(from_logits=True)(BIN_TRUE, logits)) == \
        pytest.approx(expected, abs=1e-2)
    pr = float(metrics.AUC(curve="PR")(BIN_TRUE, BIN_PROB))
    assert pr == pytest.approx(skm.average_precision_score(BIN_TRUE, BIN_PROB), abs=3e-2)


def test_auc_hand_computed_with_three_thresholds():
    # Thresholds [-eps, 0.5, 1+eps] give ROC points (fpr, tpr) = (1, 1), (0, 0.5), (0, 0):
    # only 0.9 (a positive) is above 0.5. Trapezoids: 1 * (1 + 0.5) / 2 + 0 = 0.75.
    auc = metrics.AUC(num_thresholds=3)
    assert float(auc([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9])) == pytest.approx(0.75)


def test_reset_state_and_call():
    m = metrics.Mean()
    assert float(m([1.0, 2.0, 3.0])) == 2.0
    assert float(m([10.0], sample_weight=[3.0])) == pytest.approx((6 + 30) / 6)
    m.reset_state()
    assert float(m.result()) == 0.0
    assert float(m([4.0])) == 4.0
    auc = metrics.AUC()
    auc(BIN_TRUE, BIN_PROB)
    auc.reset_state()
    assert all(float(tape.sum(v)) == 0.0 for v in auc.variables)
    assert all(not v.trainable for v in auc.variables)


def test_mean_sum_and_mse_with_weights():
    values = RNG.normal(size=(N, 3))
    s = metrics.Sum()
    # State is float32, as in Keras.
    expected = (values * WEIGHTS[:, None]).sum()
    assert in_batches(s, values, WEIGHTS) == pytest.approx(expected, rel=1e-5)
    mean = metrics.Mean()
    expected = (values.mean(-1) * WEIGHTS).sum() / WEIGHTS.sum()
    assert in_batches(mean, values, WEIGHTS) == pytest.approx(expected, rel=1e-5)
    target = RNG.normal(size=(N, 3))
    mse = metrics.MeanSquaredError()
    assert in_batches(mse, target, values) == pytest.approx(
        skm.mean_squared_error(target, values), rel=1e-5)


def test_metrics_are_not_recorded_on_a_tape():
    x = tape.Variable(SCORES)
    with tape.GradientTape() as g:
        metrics.SparseCategoricalAccuracy()(LABELS, x)
        metrics.CategoricalCrossentropy(from_logits=True)(ONE_HOT, x)
        assert len(g._entries) == 0  # nothing recorded, nothing kept alive
        y = tape.sum(x * 2.0)
    assert len(g._entries) == 2
    assert float(tape.sum(g.gradient(y, x))) == 2.0 * x.size


def test_crossentropy_metric_uses_fused_logits():
    logits = tape.tensor(np.array([[1e4, 0.0], [0.0, 1e4]]))
    m = metrics.CategoricalCrossentropy()
    assert float(m([[0.0, 1.0], [0.0, 1.0]], losses.softmax_with_logits(logits))) == 5e3


@pytest.mark.parametrize("name,cls", [
    ("accuracy", metrics.Accuracy), ("acc", metrics.Accuracy), ("auc", metrics.AUC),
    ("binary_accuracy", metrics.BinaryAccuracy), ("precision", metrics.Precision),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
    ("mse", metrics.MeanSquaredError), ("recall", metrics.Recall), ("Mean", metrics.Mean),
])
def test_get_resolves_keras_names(name, cls):
    assert type(metrics.get(name)) is cls


def test_get_other_identifiers_and_unknown_names():
    m = metrics.Precision()
    assert metrics.get(m) is m
    wrapped = metrics.get(losses.mean_absolute_error)
    assert isinstance(wrapped, metrics.MeanMetricWrapper)
    assert float(wrapped([[1.0], [3.0]], [[0.0], [0.0]])) == 2.0
    with pytest.raises(ValueError, match="sparse_categorical_accuracy") as info:
        metrics.get("acuracy")
    assert "auc" in str(info.value)


@pytest.mark.parametrize("loss,cls", [
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
    (tape.nn.sparse_softmax_cross_entropy_with_logits, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalAccuracy),
    (losses.categorical_crossentropy, metrics.CategoricalAccuracy),
    ("binary_crossentropy", metrics.BinaryAccuracy),
    (losses.BinaryCrossentropy, metrics.BinaryAccuracy),
    ("mse", metrics.Accuracy), (lambda y, p: p, metrics.Accuracy),
])
def test_resolve_accuracy_by_loss(loss, cls):
    m = metrics.resolve_accuracy(loss, name="acc")
    assert type(m) is cls and m.name == "acc"


def test_resolve_accuracy_thresholds_and_shapes():
    assert metrics.resolve_accuracy("bce").get_config()["threshold"] == 0.5
    logits_loss = losses.BinaryCrossentropy(from_logits=True)
    assert metrics.resolve_accuracy(logits_loss).get_config()["threshold"] == 0.0
    custom = lambda y, p: p  # noqa: E731
    assert type(metrics.resolve_accuracy(custom, (8,), (8, 3))) is \
        metrics.SparseCategoricalAccuracy
    assert type(metrics.resolve_accuracy(custom, (8, 1), (8, 1))) is metrics.BinaryAccuracy
    assert type(metrics.resolve_accuracy(custom, (8, 3), (8, 3))) is metrics.CategoricalAccuracy


def test_config_round_trip():
    m = metrics.BinaryAccuracy(threshold=0.3, name="acc03")
    again = metrics.BinaryAccuracy.from_config(m.get_config())
    assert again.get_config() == m.get_config()
    auc = metrics.AUC(num_thresholds=50, curve="PR")
    assert metrics.AUC.from_config(auc.get_config()).get_config() == auc.get_config()
    again = metrics.get({"class_name": "Precision", "config": {"thresholds": [0.2, 0.4]}})
    assert type(again) is metrics.Precision and again.thresholds == [0.2, 0.4]
