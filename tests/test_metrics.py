"""Metrics equal scikit-learn's; thresholds come from validation; bootstrap CIs behave."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from pneumonia_tf.metrics import binary_metrics, bootstrap_ci, choose_threshold

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
