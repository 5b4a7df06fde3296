"""Binary classification metrics (scikit-learn), validation-chosen thresholds, bootstrap CIs.

Labels are 0 (NORMAL) / 1 (PNEUMONIA); scores are predicted probabilities of PNEUMONIA.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm
from pneumonia_tf.errors import UserError

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "specificity", "f1",
                     "precision_macro", "recall_macro", "f1_macro",
                     "precision_weighted", "recall_weighted", "f1_weighted")
RANKING_METRICS = ("roc_auc", "pr_auc", "loss")
AVERAGED = ("precision", "recall", "f1")


def metric_key(metric: str, averaging: str = "binary") -> str:
    """The record key of `metric` under an averaging: binary (the PNEUMONIA class) keeps the name,
    macro / weighted (sklearn's average=) add a suffix; other metrics have no averaging."""
    return f"{metric}_{averaging}" if metric in AVERAGED and averaging != "binary" else metric


def _divide(a, b):
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=np.asarray(b) != 0)


def counts_metrics(tp, fp, fn, tn) -> dict:
    """Threshold metrics from confusion counts (arrays broadcast, e.g. one per bootstrap resample),
    with sklearn's definitions and zero_division=0: binary (PNEUMONIA positive), macro (unweighted mean
    over the two classes) and weighted (by each class's true count)."""
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    positives, negatives = tp + fn, tn + fp
    per_class = {}
    for name, (t, f_pos, f_neg) in {"pos": (tp, fp, fn), "neg": (tn, fn, fp)}.items():
        precision, recall = _divide(t, t + f_pos), _divide(t, t + f_neg)
        per_class[name] = (precision, recall, _divide(2 * precision * recall, precision + recall))
    out = {"accuracy": _divide(tp + tn, positives + negatives), "specificity": per_class["neg"][1]}
    total = positives + negatives
    for i, metric in enumerate(AVERAGED):
        pos, neg = per_class["pos"][i], per_class["neg"][i]
        out[metric] = pos
        out[f"{metric}_macro"] = (pos + neg) / 2
        out[f"{metric}_weighted"] = _divide(pos * positives + neg * negatives, total)
    return out


def _log_loss(labels, scores) -> np.ndarray:
    """Binary cross-entropy per example (natural log), probabilities clipped as Keras does (1e-7)."""
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict:
    """At `threshold`: accuracy, precision, recall (sensitivity), specificity, f1, each of precision /
    recall / f1 also _macro and _weighted; threshold-free: ROC AUC, PR AUC (average precision) and loss
    (mean binary cross-entropy); confusion matrix [[TN, FP], [FN, TP]]."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    predicted = (scores >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    matrix = skm.confusion_matrix(labels, predicted, labels=[0, 1])
    (tn, fp), (fn, tp) = matrix
    return {
        "threshold": float(threshold),
        **{name: float(value) for name, value in counts_metrics(tp, fp, fn, tn).items()},
        "roc_auc": skm.roc_auc_score(labels, scores) if both_classes else float("nan"),
        "pr_auc": skm.average_precision_score(labels, scores) if both_classes else float("nan"),
        "loss": float(_log_loss(labels, scores).mean()),
        "confusion_matrix": matrix.tolist(),
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


def metric_names() -> tuple[str, ...]:
    """Every metric `metric_values` computes: the threshold metrics and ROC AUC, PR AUC and loss."""
    return THRESHOLD_METRICS + RANKING_METRICS


def _roc_auc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row (Mann-Whitney U with average ranks for ties, as sklearn); NaN for a row
    with one class only."""
    from scipy.stats import rankdata
    positives = labels.sum(-1)
    negatives = labels.shape[-1] - positives
    ranks = rankdata(scores, axis=-1)
    u = (ranks * labels).sum(-1) - positives * (positives + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((positives > 0) & (negatives > 0), u / (positives * negatives), np.nan)


def _average_precision_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision of each row, as sklearn's average_precision_score: the sum over distinct
    score thresholds (descending) of the recall gained times the precision there; NaN without positives."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    y, s = np.take_along_axis(labels, order, -1), np.take_along_axis(scores, order, -1)
    tp, seen = np.cumsum(y, -1), np.arange(1, y.shape[-1] + 1)
    end = np.ones_like(y, dtype=bool)
    end[..., :-1] = s[..., :-1] != s[..., 1:]  # the last example of each group of tied scores
    at_end = np.where(end, tp, 0)
    previous = np.concatenate([np.zeros_like(tp[..., :1]), np.maximum.accumulate(at_end, -1)[..., :-1]], -1)
    gained = np.where(end, tp - previous, 0) * (tp / seen)
    positives = tp[..., -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positives > 0, gained.sum(-1) / positives, np.nan)


def metric_values(labels, scores, metric: str, threshold: float = 0.5) -> np.ndarray:
    """`metric` of each row of `scores` (..., N) against `labels` (..., N) (broadcast), computed for all
    rows at once (bootstrap resamples, seeds): shape (...). Any of metric_names(); the threshold
    metrics at `threshold` (score >= threshold is PNEUMONIA), with sklearn's definitions."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    labels, scores = np.broadcast_arrays(labels, scores)
    if metric in THRESHOLD_METRICS:
        predicted, positive = scores >= threshold, labels == 1
        tp, fp = (predicted & positive).sum(-1), (predicted & ~positive).sum(-1)
        fn, tn = (~predicted & positive).sum(-1), (~predicted & ~positive).sum(-1)
        return counts_metrics(tp, fp, fn, tn)[metric]
    if metric == "loss":
        return _log_loss(labels, scores).mean(-1)
    if metric == "roc_auc":
        return _roc_auc_rows(labels, scores)
    if metric == "pr_auc":
        return _average_precision_rows(labels, scores)
    raise UserError(f"unknown metric {metric!r}; expected one of {', '.join(metric_names())}")


def bootstrap_ci(labels, scores, threshold: float = 0.5, resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """{metric: [low, high]}: percentile bootstrap over the test images of ONE model (resampled with
    replacement, seeded; `picks = default_rng(seed).integers(0, N, (resamples, N))`). Every metric is
    computed for all resamples at once (metric_values). Intervals over seeds and images together:
    pneumonia_tf.stats.cell_interval."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(labels), (resamples, len(labels)))
    tail = (1 - level) / 2 * 100
    out = {}
    for name in metric_names():
        draws = metric_values(labels[picks], scores[picks], name, threshold)
        if np.isnan(draws).all():
            out[name] = [float("nan"), float("nan")]
        else:
            out[name] = [float(np.nanpercentile(draws, tail)), float(np.nanpercentile(draws, 100 - tail))]
    return out


def report(labels, scores, threshold: float, resamples: int = 1000, seed: int = 0) -> dict:
    """Metrics at `threshold` with a 95% bootstrap CI for each: {metric: value, ..., "ci": {...}}."""
    values = binary_metrics(labels, scores, threshold)
    values = {k: (float(v) if k != "confusion_matrix" else v) for k, v in values.items()}
    return {**values, "ci": bootstrap_ci(labels, scores, threshold, resamples, seed)}
