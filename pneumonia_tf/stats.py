"""Statistics of reproduced numbers and of comparisons between cells, from per-image predictions.

Every function here works on what `predictions.csv` holds: labels (N,) 0 NORMAL / 1 PNEUMONIA, and
scores, the predicted probabilities of PNEUMONIA, as an array (seeds, N) over the same N images (one
row per training seed of a cell). Metrics are those of pneumonia_tf.metrics.metric_names(): the
threshold metrics (binary, _macro, _weighted), roc_auc, pr_auc and loss.

Two sources of randomness are resampled, and each function says which:
- training randomness: the seeds of a cell (initialisation, shuffles, augmentation);
- test-set randomness: the test images.
The two-level bootstrap draws, for every resample, seeds with replacement and then images with
replacement, the same image indices for every seed (and every cell) of that draw. With one seed it is
the ordinary image bootstrap. Draws are made in a fixed order from `numpy.random.default_rng(seed)`
(see `_draws`), so a result can be recomputed, and is in the tests, one resample at a time.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from pneumonia_tf.errors import UserError
from pneumonia_tf.metrics import metric_names, metric_values

POWER = 0.8  # the power at which a minimal detectable effect is stated


def _scores_2d(scores, images: int | None = None) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    scores = scores[None] if scores.ndim == 1 else scores
    if scores.ndim != 2 or (images is not None and scores.shape[1] != images):
        raise UserError(f"scores: expected shape (seeds, {images or 'images'}), got {scores.shape}")
    return scores


def _check_metric(metric: str) -> None:
    if metric not in metric_names():
        raise UserError(f"unknown metric {metric!r}; expected one of {', '.join(metric_names())}")


def _draws(rng: np.random.Generator, resamples: int, seeds: int, images: int) -> tuple[np.ndarray, np.ndarray]:
    """One side's draws: (seed counts (resamples, seeds): how often each seed is drawn, images
    (resamples, images): the image indices). Seeds are drawn first, then images."""
    picks = rng.integers(0, seeds, (resamples, seeds))
    counts = np.stack([np.bincount(row, minlength=seeds) for row in picks])
    return counts, rng.integers(0, images, (resamples, images))


def _per_seed(labels: np.ndarray, scores: np.ndarray, images: np.ndarray, metric: str, threshold: float) -> np.ndarray:
    """(resamples, seeds): the metric of every seed on every resample's images."""
    return metric_values(labels[images][:, None, :], scores[:, images].transpose(1, 0, 2), metric, threshold)


def _seed_mean(per_seed: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(resamples,): the mean over the drawn seeds (counts weight each seed)."""
    return (per_seed * counts).sum(1) / counts.sum(1)


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[~np.isnan(draws)]
    if not len(draws):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def cell_interval(labels, scores, metric: str, threshold: float = 0.5, level: float = 0.95, resamples: int = 2000,
                  seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of a cell's metric: the mean over its seeds of the metric on the test images,
    and its percentile interval at `level`.

    Resamples seeds AND test images (the two-level bootstrap of the module docstring): each draw takes
    `seeds` seeds with replacement, then N images with replacement, the same images for every seed, and
    averages the metric over the drawn seeds. With one seed this is the image bootstrap; the interval
    widens when the seeds disagree. scores: (seeds, N) or (N,)."""
    result = value_difference(labels, scores, metric, 0.0, threshold, level, resamples, seed)
    return result["a"], result["low"], result["high"]


def seed_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of one number per seed (e.g. a training-curve endpoint): Student's t interval
    over seeds only (no images are resampled); NaN bounds with fewer than two seeds."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = sps.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _bootstrap_p(diff: float, se: float) -> float:
    """Two-sided p-value of "the difference is 0" from the bootstrap's standard error:
    2 * Phi(-|diff| / se) (Efron and Tibshirani's normal approximation). Unlike the share of draws
    beyond 0 it has no floor at 1/resamples, so it survives a multiplicity adjustment; 1 when both
    diff and se are 0, 0 when only se is."""
    if np.isnan(diff) or np.isnan(se):
        return float("nan")
    return _z_test(diff, se * se)[2]


def _difference(labels_a, scores_a, labels_b, scores_b, metric: str, metric_b: str | None, same_images: bool,
                same_seeds: bool, threshold: float, level: float, resamples: int, seed: int, shift: float = 0.0) -> dict:
    metric_b = metric_b or metric
    _check_metric(metric), _check_metric(metric_b)
    labels_a, labels_b = np.asarray(labels_a).astype(int), np.asarray(labels_b).astype(int)
    scores_a, scores_b = _scores_2d(scores_a, len(labels_a)), _scores_2d(scores_b, len(labels_b))
    if same_seeds and len(scores_a) != len(scores_b):
        raise UserError(f"same_seeds: both sides need the same seeds, got {len(scores_a)} and {len(scores_b)}")
    rng = np.random.default_rng(seed)
    counts_a, images_a = _draws(rng, resamples, len(scores_a), len(labels_a))
    counts_b, images_b = (counts_a, images_a) if same_images and same_seeds else _draws(
        rng, resamples, len(scores_b), len(labels_b))
    counts_b = counts_a if same_seeds else counts_b
    images_b = images_a if same_images else images_b
    per_seed_a = _per_seed(labels_a, scores_a, images_a, metric, threshold)
    per_seed_b = _per_seed(labels_b, scores_b, images_b, metric_b, threshold)
    draws = _seed_mean(per_seed_a, counts_a) - _seed_mean(per_seed_b, counts_b) + shift
    full_a = metric_values(labels_a, scores_a, metric, threshold)
    full_b = metric_values(labels_b, scores_b, metric_b, threshold)
    a, b = float(np.mean(full_a)), float(np.mean(full_b))
    if same_seeds:  # the spread of the per-seed differences
        seed_var = float(np.var(full_a - full_b, ddof=1)) if len(full_a) > 1 else float("nan")
    else:
        seed_var = (float(np.var(full_a, ddof=1) + np.var(full_b, ddof=1)) if min(len(full_a), len(full_b)) > 1
                    else float("nan"))
    image_var = float(np.nanvar(per_seed_a.mean(1) - per_seed_b.mean(1), ddof=1))  # seeds held fixed
    se = float(np.nanstd(draws, ddof=1))
    low, high = _percentiles(draws, level)
    return {"a": a, "b": b, "diff": a - b + shift, "low": low, "high": high, "p": _bootstrap_p(a - b + shift, se),
            "se": se,
            "mde": minimal_detectable_effect(se, 1 - level), "seed_var": seed_var, "image_var": image_var}


def paired_difference(labels, scores_a, scores_b, metric: str, threshold: float = 0.5, level: float = 0.95,
                      resamples: int = 2000, seed: int = 0, metric_b: str | None = None,
                      same_seeds: bool = False, shift: float = 0.0) -> dict:
    """Cell A minus cell B on the SAME test images: {a, b, diff, low, high, p, se, mde, seed_var,
    image_var}.

    diff is the difference of the seed-mean metrics (A's `metric` minus B's `metric_b`, default the
    same metric). Resamples seeds and test images: every draw takes the same image indices for both
    cells and every seed; A's and B's seeds are drawn independently (different trainings), or jointly
    with same_seeds=True (A and B are the same models, e.g. two metrics of one cell). low-high is the
    percentile interval of the difference, se the bootstrap standard error, p the two-sided p-value
    of "no difference", 2 Phi(-|diff| / se), and mde the smallest difference detectable with 80% power
    at level.
    `shift` is added to the difference before it is tested (A >= B - margin: shift = margin). seed_var
    is the variance between seeds of the difference (A's plus B's, or of the per-seed differences with
    same_seeds), image_var that of the difference over test images with the seeds held fixed."""
    return _difference(labels, scores_a, labels, scores_b, metric, metric_b, True, same_seeds, threshold, level,
                       resamples, seed, shift)


def unpaired_difference(labels_a, scores_a, labels_b, scores_b, metric: str, threshold: float = 0.5,
                        level: float = 0.95, resamples: int = 2000, seed: int = 0, metric_b: str | None = None,
                        same_seeds: bool = False, shift: float = 0.0) -> dict:
    """As paired_difference for two DIFFERENT image sets (one cell's validation against its test
    images, a run's internal against an external test set): each side's images are resampled on their
    own; seeds jointly with same_seeds=True (the same models on both sides), else independently."""
    return _difference(labels_a, scores_a, labels_b, scores_b, metric, metric_b, False, same_seeds, threshold, level,
                       resamples, seed, shift)


def value_difference(labels, scores, metric: str, value: float, threshold: float = 0.5, level: float = 0.95,
                     resamples: int = 2000, seed: int = 0) -> dict:
    """A cell's metric minus a stated value, with the keys of paired_difference: the two-level
    bootstrap of cell_interval (seeds and test images) shifted by -value, its p-value that the
    metric equals `value`, seed_var between seeds and image_var over images."""
    _check_metric(metric)
    labels = np.asarray(labels).astype(int)
    scores = _scores_2d(scores, len(labels))
    counts, images = _draws(np.random.default_rng(seed), resamples, *scores.shape)
    per_seed = _per_seed(labels, scores, images, metric, threshold)
    draws = _seed_mean(per_seed, counts) - value
    full = metric_values(labels, scores, metric, threshold)
    se = float(np.nanstd(draws, ddof=1))
    low, high = _percentiles(draws, level)
    return {"a": float(full.mean()), "b": value, "diff": float(full.mean()) - value, "low": low, "high": high,
            "p": _bootstrap_p(float(full.mean()) - value, se), "se": se, "mde": minimal_detectable_effect(se, 1 - level),
            "seed_var": float(np.var(full, ddof=1)) if len(full) > 1 else float("nan"),
            "image_var": float(np.nanvar(per_seed.mean(1), ddof=1))}


def minimal_detectable_effect(se: float, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true difference a two-sided test at `alpha` detects with `power`, for a
    difference estimated with standard error `se`: (z_{1-alpha/2} + z_power) * se."""
    return float((sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)) * se)


def variance_components(labels, scores, metric: str, threshold: float = 0.5, resamples: int = 2000,
                        seed: int = 0) -> dict:
    """{seed_var, image_var}: the variance of the metric between a cell's seeds (on the same test
    images: training randomness alone; NaN with one seed) and the variance of the seed-mean metric
    over resampled test images with the seeds held fixed (test-set randomness). The variance of an
    n-seed mean is then about seed_var / n + image_var."""
    result = value_difference(labels, scores, metric, 0.0, threshold, resamples=resamples, seed=seed)
    return {"seed_var": result["seed_var"], "image_var": result["image_var"]}


def seeds_needed(seed_var: float, image_var: float, half_width: float, z: float, student: bool = False,
                 most: int = 1000) -> int | None:
    """The fewest seeds n with z * sqrt(seed_var / n + image_var) < half_width; None when no number of
    seeds gets there (the test images alone are too few) or the seed variance is unknown. With
    student=True (an interval over seeds only, Student's t), z is the t quantile with n - 1 degrees of
    freedom at the level z gives for a normal (n >= 2), searched up to `most` seeds."""
    if not half_width > 0 or math.isnan(seed_var) or (z * z) * image_var >= half_width ** 2:
        return None
    if seed_var <= 0:
        return 2 if student else 1
    if student:
        level = sps.norm.cdf(z)
        return next((n for n in range(2, most + 1)
                     if sps.t.ppf(level, n - 1) * math.sqrt(seed_var / n + image_var) < half_width), None)
    return max(1, math.floor(seed_var / ((half_width / z) ** 2 - image_var)) + 1)


def _delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(aucs (k,), V10 (k, m) per positive, V01 (k, n) per negative) of k score rows, from midranks
    (Sun and Xu 2014): V10_i = (rank of positive i among all - its rank among positives) / n,
    V01_j = 1 - (rank of negative j among all - its rank among negatives) / m."""
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if not m or not n:
        raise UserError("DeLong's test needs both classes among the labels")
    x, y = scores[:, positive], scores[:, ~positive]
    tz = sps.rankdata(np.concatenate([x, y], 1), axis=1)
    tx, ty = sps.rankdata(x, axis=1), sps.rankdata(y, axis=1)
    aucs = (tz[:, :m].sum(1) - m * (m + 1) / 2) / (m * n)
    return aucs, (tz[:, :m] - tx) / n, 1.0 - (tz[:, m:] - ty) / m


def _delong_covariance(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(int)
    aucs, v10, v01 = _delong_components(labels, np.atleast_2d(np.asarray(scores, dtype=float)))
    covariance = np.atleast_2d(np.cov(v10)) / v10.shape[1] + np.atleast_2d(np.cov(v01)) / v01.shape[1]
    return aucs, covariance


def _z_test(diff: float, variance: float) -> tuple[float, float, float]:
    """(se, z, two-sided p) of a normal test of diff = 0."""
    se = math.sqrt(max(variance, 0.0))
    if se == 0:
        return 0.0, (0.0 if diff == 0 else math.copysign(math.inf, diff)), (1.0 if diff == 0 else 0.0)
    z = diff / se
    return se, z, float(2 * sps.norm.sf(abs(z)))


def delong(labels, scores_a, scores_b) -> dict:
    """DeLong's test of two correlated ROC AUCs on the same images (DeLong, DeLong and Clarke-Pearson
    1988; the fast midrank algorithm of Sun and Xu 2014): {auc_a, auc_b, diff, se, z, p}, p two-sided.
    Resamples nothing: the variance is the asymptotic one over test images, for ONE model per side
    (scores (N,)); training randomness is not in it."""
    aucs, covariance = _delong_covariance(labels, np.stack([np.asarray(scores_a, float), np.asarray(scores_b, float)]))
    diff = float(aucs[0] - aucs[1])
    se, z, p = _z_test(diff, covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "diff": diff, "se": se, "z": z, "p": p}


def delong_interval(labels, scores, level: float = 0.95) -> tuple[float, float, float]:
    """(auc, low, high): one model's ROC AUC with DeLong's asymptotic interval over test images,
    auc +- z * se, clipped to [0, 1]."""
    aucs, covariance = _delong_covariance(labels, np.asarray(scores, float)[None])
    half = sps.norm.ppf((1 + level) / 2) * math.sqrt(max(covariance[0, 0], 0.0))
    auc = float(aucs[0])
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def delong_unpaired(labels_a, scores_a, labels_b, scores_b) -> dict:
    """DeLong's test for two ROC AUCs on DIFFERENT, independent image sets (e.g. internal against
    external test data): the two variances add, with no covariance. {auc_a, auc_b, diff, se, z, p}."""
    auc_a, var_a = _delong_covariance(labels_a, np.asarray(scores_a, float)[None])
    auc_b, var_b = _delong_covariance(labels_b, np.asarray(scores_b, float)[None])
    diff = float(auc_a[0] - auc_b[0])
    se, z, p = _z_test(diff, var_a[0, 0] + var_b[0, 0])
    return {"auc_a": float(auc_a[0]), "auc_b": float(auc_b[0]), "diff": diff, "se": se, "z": z, "p": p}


def mcnemar(labels, predicted_a, predicted_b) -> dict:
    """The exact (binomial) McNemar test of two classifiers' correctness on the same images:
    {b: images A gets right and B wrong, c: the reverse, p: two-sided exact p (1 when b + c = 0)}.
    Resamples nothing; for one model per side."""
    labels = np.asarray(labels).astype(int)
    right_a, right_b = np.asarray(predicted_a).astype(int) == labels, np.asarray(predicted_b).astype(int) == labels
    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p = 1.0 if b + c == 0 else float(sps.binomtest(min(b, c), b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p": p}


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment: the i-th smallest of m p-values becomes the running maximum of
    (m - j + 1) p_(j) over j <= i, at most 1. NaN entries stay NaN and do not count in m."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted
