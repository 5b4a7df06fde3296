"""Metrics equal scikit-learn's; thresholds come from validation; bootstrap CIs behave."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from pneumonia_tf.metrics import binary_metrics, bootstrap_ci, choose_threshold, counts_metrics

LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.65, 0.3, 0.75, 0.55, 0.2])


def test_metrics_equal_sklearn_on_fixed_arrays():
    m = binary_metrics(LABELS, SCORES, 0.5)
    predicted = SCORES >= 0.5
    assert m["accuracy"] == skm.accuracy_score(LABELS, predicted) == 0.7
    assert m["precision"] == skm.precision_score(LABELS, predicted) == 0.8
    assert m["recall"] == skm.recall_score(LABELS, predicted) == pytest.approx(4 / 6)
    assert m["specificity"] == 0.75  # 3 of 4 NORMAL below 0.5
    assert m["f1"] == pytest.approx(skm.f1_score(LABELS, predicted))
    assert m["roc_auc"] == skm.roc_auc_score(LABELS, SCORES)
    assert m["pr_auc"] == skm.average_precision_score(LABELS, SCORES)
    assert m["confusion_matrix"] == [[3, 1], [2, 4]]


def test_thresholds():
    youden = choose_threshold(LABELS, SCORES, "youden")
    fpr, tpr, thresholds = skm.roc_curve(LABELS, SCORES)
    assert youden == thresholds[np.argmax(tpr - fpr)]
    sensitive = choose_threshold(LABELS, SCORES, "sensitivity", 1.0)
    assert binary_metrics(LABELS, SCORES, sensitive)["recall"] == 1.0
    assert sensitive == SCORES[LABELS == 1].min()


def test_confidence_intervals_contain_the_estimate_and_shrink_with_more_samples():
    rng = np.random.default_rng(0)

    def sample(n):
        labels = rng.integers(0, 2, n)
        return labels, np.clip(0.35 * labels + rng.uniform(0, 0.65, n), 0, 1)

    small, large = sample(100), sample(2000)
    ci_small, ci_large = bootstrap_ci(*small, resamples=300), bootstrap_ci(*large, resamples=300)
    point = binary_metrics(*small)
    for name, (low, high) in ci_small.items():
        assert low <= point[name] <= high, name
        assert ci_large[name][1] - ci_large[name][0] < (high - low), name
    assert bootstrap_ci(*small, resamples=200, seed=1) == bootstrap_ci(*small, resamples=200, seed=1)


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_averaged_metrics_equal_sklearn(average):
    rng = np.random.default_rng(3)
    labels, scores = rng.integers(0, 2, 300), rng.uniform(0, 1, 300)
    m, predicted = binary_metrics(labels, scores, 0.4), scores >= 0.4
    assert m[f"precision_{average}"] == pytest.approx(skm.precision_score(labels, predicted, average=average))
    assert m[f"recall_{average}"] == pytest.approx(skm.recall_score(labels, predicted, average=average))
    assert m[f"f1_{average}"] == pytest.approx(skm.f1_score(labels, predicted, average=average))
    assert m["loss"] == pytest.approx(skm.log_loss(labels, scores))


def test_bootstrap_draws_equal_per_resample_metrics():
    """The vectorized bootstrap computes, per resample, what binary_metrics computes on that resample."""
    rng = np.random.default_rng(5)
    labels, scores = rng.integers(0, 2, 50), rng.uniform(0, 1, 50)
    picks = np.random.default_rng(9).integers(0, 50, (40, 50))
    per_resample = [binary_metrics(labels[p], scores[p]) for p in picks]
    ci = bootstrap_ci(labels, scores, resamples=40, seed=9)
    for name in ("accuracy", "f1", "f1_macro", "precision_weighted", "loss", "roc_auc"):
        values = [m[name] for m in per_resample]
        assert ci[name] == pytest.approx([np.percentile(values, 2.5), np.percentile(values, 97.5)]), name


def test_macro_averaging_is_the_only_one_that_fits_seed_002s_table():
    """Seed 002, VGG16 scenario 1: precision 0.62, recall 0.84, F1 0.60. A single class's F1 is the
    harmonic mean of its precision and recall, so it lies between them; 0.60 < 0.62 is impossible
    for it (binary, or per class). Macro F1 (the mean of per-class F1s) can lie below both: this is
    why experiments/transfer.toml averages by macro."""
    for p, r, f in [(0.62, 0.84, 0.60), (0.64, 0.84, 0.62)]:
        assert 2 * p * r / (p + r) > f + 0.05  # binary: impossible
    # a confusion matrix whose accuracy and macro precision, recall and F1 round to the paper's; it
    # needs a test set of about 9:1, not Kermany's 624 images (234:390): see the transfer ledger
    m = counts_metrics(tp=60, fp=198, fn=0, tn=432)
    assert [round(float(m[k]), 2) for k in ("accuracy", "precision_macro", "recall_macro", "f1_macro")] == \
        [0.71, 0.62, 0.84, 0.60]
