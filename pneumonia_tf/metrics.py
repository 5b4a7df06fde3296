"""Binary classification metrics (scikit-learn), validation-chosen thresholds, bootstrap CIs.

Labels are 0 (NORMAL) / 1 (PNEUMONIA); scores are predicted probabilities of PNEUMONIA.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm
from pneumonia_tf.errors import UserError

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "specificity", "f1")
RANKING_METRICS = ("roc_auc", "pr_auc")


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict:
    """accuracy, precision, recall (sensitivity), specificity, f1 at `threshold`; ROC AUC and PR AUC
    (average precision); confusion matrix [[TN, FP], [FN, TP]]."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    predicted = (scores >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        "threshold": float(threshold),
        "accuracy": skm.accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted, zero_division=0),
        "recall": skm.recall_score(labels, predicted, zero_division=0),
        "specificity": skm.recall_score(labels, predicted, pos_label=0, zero_division=0),
        "f1": skm.f1_score(labels, predicted, zero_division=0),
        "roc_auc": skm.roc_auc_score(labels, scores) if both_classes else float("nan"),
        "pr_auc": skm.average_precision_score(labels, scores) if both_classes else float("nan"),
        "confusion_matrix": skm.confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }


def choose_threshold(labels, scores, rule: str = "youden", target_sensitivity: float = 0.95) -> float:
    """Threshold from the VALIDATION split: 'youden' (max TPR - FPR) or 'sensitivity' (the highest
    threshold whose sensitivity reaches target_sensitivity). Never call this on the test split."""
    fpr, tpr, thresholds = skm.roc_curve(labels, scores)
    thresholds = np.minimum(thresholds, 1.0)  # sklearn's first threshold is inf
    if rule == "youden":
        return float(thresholds[np.argmax(tpr - fpr)])
    if rule == "sensitivity":
        return float(thresholds[np.argmax(tpr >= target_sensitivity)])
    raise UserError(f"unknown threshold rule {rule!r}; expected 'youden' or 'sensitivity'")


def bootstrap_ci(labels, scores, threshold: float = 0.5, resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """{metric: [low, high]}: percentile bootstrap over examples (resampled with replacement, seeded)."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    names = THRESHOLD_METRICS + RANKING_METRICS
    draws = {name: [] for name in names}
    for _ in range(resamples):
        pick = rng.integers(0, len(labels), len(labels))
        values = binary_metrics(labels[pick], scores[pick], threshold)
        for name in names:
            draws[name].append(values[name])
    tail = (1 - level) / 2 * 100
    return {name: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100 - tail))]
            for name, v in draws.items()}


def report(labels, scores, threshold: float, resamples: int = 1000, seed: int = 0) -> dict:
    """Metrics at `threshold` with a 95% bootstrap CI for each: {metric: value, ..., "ci": {...}}."""
    values = binary_metrics(labels, scores, threshold)
    values = {k: (float(v) if k != "confusion_matrix" else v) for k, v in values.items()}
    return {**values, "ci": bootstrap_ci(labels, scores, threshold, resamples, seed)}
