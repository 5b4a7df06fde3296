"""pneumonia_tf.stats against known answers: hand-worked cases, and independent implementations in
the test (scikit-learn per resample, DeLong's O(m n) definition, scipy)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm

from pneumonia_tf import stats
from pneumonia_tf.metrics import binary_metrics, metric_names, metric_values


def sample(n=80, seeds=3, skill=0.3, seed=0):
    """labels (n,) and scores (seeds, n) of `seeds` noisy models of one skill."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(skill * labels[None] + rng.uniform(0, 1 - skill, (seeds, n)), 0, 1)
    return labels, scores


def by_sklearn(labels, scores, metric, threshold=0.5):
    """One model's metric computed by binary_metrics (scikit-learn), independent of metric_values."""
    return binary_metrics(labels, scores, threshold)[metric]


@pytest.mark.parametrize("metric", metric_names())
def test_metric_values_equal_sklearn_row_by_row_with_ties(metric):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (30, 25))
    scores = np.round(rng.uniform(0, 1, (30, 25)), 1)  # many ties
    got = metric_values(labels, scores, metric, 0.4)
    for row in range(30):
        if labels[row].min() == labels[row].max():
            continue
        assert got[row] == pytest.approx(by_sklearn(labels[row], scores[row], metric, 0.4), abs=1e-12), row


def manual_two_level(labels, scores, metric, resamples, seed):
    """The two-level bootstrap written out one resample at a time, with scikit-learn metrics, drawing
    from the generator in the documented order (seeds, then images)."""
    rng = np.random.default_rng(seed)
    n_seeds, n = scores.shape
    draws = []
    for _ in range(resamples):
        chosen = rng.integers(0, n_seeds, n_seeds)
        draws.append(chosen)
    images = rng.integers(0, n, (resamples, n))
    values = [np.mean([by_sklearn(labels[i], scores[s][i], metric) for s in chosen])
              for chosen, i in zip(draws, images)]
    return np.percentile(values, 2.5), np.percentile(values, 97.5)


@pytest.mark.parametrize("metric", ["f1", "accuracy", "roc_auc", "pr_auc", "loss", "f1_macro"])
def test_cell_interval_is_the_two_level_bootstrap_recomputed_per_resample(metric):
    labels, scores = sample()
    mean, low, high = stats.cell_interval(labels, scores, metric, resamples=60, seed=4)
    assert mean == pytest.approx(np.mean([by_sklearn(labels, s, metric) for s in scores]))
    assert (low, high) == pytest.approx(manual_two_level(labels, scores, metric, 60, 4))


def test_with_one_seed_the_cell_interval_is_the_image_bootstrap():
    labels, scores = sample(seeds=1)
    picks = np.random.default_rng(2)
    picks.integers(0, 1, (50, 1))  # the seed draws come first: one seed, always seed 0
    images = picks.integers(0, len(labels), (50, len(labels)))
    values = [skm.f1_score(labels[i], scores[0][i] >= 0.5) for i in images]
    _, low, high = stats.cell_interval(labels, scores[0], "f1", resamples=50, seed=2)
    assert (low, high) == pytest.approx((np.percentile(values, 2.5), np.percentile(values, 97.5)))


def test_the_interval_widens_when_two_seeds_disagree():
    labels, scores = sample(n=300, seeds=1, skill=0.4)
    agree = np.stack([scores[0], scores[0]])
    worse = np.clip(np.where(labels == 1, scores[0] - 0.35, scores[0] + 0.2), 0, 1)  # a much worse second seed
    disagree = np.stack([scores[0], worse])
    _, low_a, high_a = stats.cell_interval(labels, agree, "f1", resamples=500)
    _, low_d, high_d = stats.cell_interval(labels, disagree, "f1", resamples=500)
    assert (high_d - low_d) > 2 * (high_a - low_a)


def test_paired_difference_recomputed_per_resample_and_its_p_value():
    labels, a = sample(n=60, seeds=2, skill=0.5, seed=1)
    _, b = sample(n=60, seeds=3, skill=0.1, seed=2)
    b = b[:, :60]
    got = stats.paired_difference(labels, a, b, "accuracy", resamples=40, seed=7)
    rng = np.random.default_rng(7)
    seeds_a = [rng.integers(0, 2, 2) for _ in range(40)]
    images_a = rng.integers(0, 60, (40, 60))
    seeds_b = [rng.integers(0, 3, 3) for _ in range(40)]
    rng.integers(0, 60, (40, 60))  # B's image draws: unused, the images are A's (paired)
    diffs = np.array([np.mean([skm.accuracy_score(labels[i], a[s][i] >= 0.5) for s in sa])
                      - np.mean([skm.accuracy_score(labels[i], b[s][i] >= 0.5) for s in sb])
                      for sa, sb, i in zip(seeds_a, seeds_b, images_a)])
    assert (got["low"], got["high"]) == pytest.approx((np.percentile(diffs, 2.5), np.percentile(diffs, 97.5)))
    assert got["p"] == pytest.approx(2 * sps.norm.sf(abs(got["diff"]) / np.std(diffs, ddof=1)))
    assert got["diff"] == pytest.approx(np.mean([skm.accuracy_score(labels, s >= 0.5) for s in a])
                                        - np.mean([skm.accuracy_score(labels, s >= 0.5) for s in b]))
    assert got["se"] == pytest.approx(np.std(diffs, ddof=1))


def test_paired_difference_of_a_cell_with_itself_is_zero_with_p_one_and_a_clear_win_is_significant():
    labels, a = sample(n=400, seeds=2, skill=0.6)
    same = stats.paired_difference(labels, a, a, "f1", resamples=300, same_seeds=True)
    assert same["diff"] == same["low"] == same["high"] == 0 and same["p"] == 1
    _, weak = sample(n=400, seeds=2, skill=0.0, seed=3)
    win = stats.paired_difference(labels, a, weak, "roc_auc", resamples=300)
    assert win["diff"] > 0.3 and win["low"] > 0 and win["p"] < 1e-6
    assert stats.paired_difference(labels, weak, a, "roc_auc", resamples=300)["high"] < 0


def test_unpaired_difference_resamples_each_side_on_its_own_images():
    labels_a, a = sample(n=50, seeds=1, skill=0.5, seed=5)
    labels_b, b = sample(n=70, seeds=1, skill=0.2, seed=6)
    got = stats.unpaired_difference(labels_a, a, labels_b, b, "accuracy", resamples=30, seed=3, same_seeds=True)
    rng = np.random.default_rng(3)
    rng.integers(0, 1, (30, 1))
    images_a = rng.integers(0, 50, (30, 50))
    rng.integers(0, 1, (30, 1))
    images_b = rng.integers(0, 70, (30, 70))
    diffs = [skm.accuracy_score(labels_a[i], a[0][i] >= 0.5) - skm.accuracy_score(labels_b[j], b[0][j] >= 0.5)
             for i, j in zip(images_a, images_b)]
    assert (got["low"], got["high"]) == pytest.approx((np.percentile(diffs, 2.5), np.percentile(diffs, 97.5)))


def delong_by_definition(labels, scores_a, scores_b):
    """DeLong et al. (1988) written from the definition: the kernel psi over every (positive,
    negative) pair, structural components V10 and V01, their covariances (O(m n))."""
    pos, neg = labels == 1, labels == 0

    def components(s):
        x, y = s[pos], s[neg]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        return psi.mean(), psi.mean(1), psi.mean(0)

    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components(scores_a), components(scores_b)
    m, n = pos.sum(), neg.sum()
    s10, s01 = np.cov(np.stack([v10_a, v10_b])), np.cov(np.stack([v01_a, v01_b]))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (auc_a - auc_b) / np.sqrt(var)
    return auc_a, auc_b, z, 2 * sps.norm.sf(abs(z)), cov


def test_delong_equals_its_definition_with_ties():
    labels, scores = sample(n=90, seeds=2, skill=0.3, seed=8)
    a, b = np.round(scores[0], 2), np.round(scores[1] * 0.5 + 0.2 * labels, 2)
    got = stats.delong(labels, a, b)
    auc_a, auc_b, z, p, cov = delong_by_definition(labels, a, b)
    assert got["auc_a"] == pytest.approx(auc_a) and got["auc_a"] == pytest.approx(skm.roc_auc_score(labels, a))
    assert got["auc_b"] == pytest.approx(auc_b)
    assert got["z"] == pytest.approx(z) and got["p"] == pytest.approx(p)
    auc, low, high = stats.delong_interval(labels, a)
    half = sps.norm.ppf(0.975) * np.sqrt(cov[0, 0])
    assert (auc, low, high) == pytest.approx((auc_a, auc_a - half, auc_a + half))
    unpaired = stats.delong_unpaired(labels, a, labels[:60], b[:60])
    var = cov[0, 0] + delong_by_definition(labels[:60], b[:60], b[:60])[4][0, 0]
    assert unpaired["se"] == pytest.approx(np.sqrt(var))


def test_delong_hand_worked():
    """Two positives (0.9, 0.4) and two negatives (0.6, 0.1): A ranks 3 of 4 pairs right (AUC 0.75);
    B = perfect. V10_A = (1, 0.5), V01_A = (0.5, 1); V10_B = V01_B = (1, 1), so B has no variance and
    the difference's variance is A's: var(V10_A)/2 + var(V01_A)/2 = 0.125/2 + 0.125/2 = 0.125."""
    labels = np.array([1, 1, 0, 0])
    got = stats.delong(labels, np.array([0.9, 0.4, 0.6, 0.1]), np.array([0.9, 0.8, 0.2, 0.1]))
    assert got["auc_a"] == 0.75 and got["auc_b"] == 1.0
    assert got["se"] == pytest.approx(np.sqrt(0.125))
    assert got["z"] == pytest.approx(-0.25 / np.sqrt(0.125))


def test_mcnemar_hand_worked():
    """A right and B wrong on 1 image, the reverse on 6: p = 2 P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8/128."""
    labels = np.ones(10, int)
    a = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    b = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    assert stats.mcnemar(labels, a, b) == {"b": 1, "c": 6, "p": pytest.approx(0.125)}
    assert stats.mcnemar(labels, a, a)["p"] == 1.0


def test_holm_hand_worked():
    """Sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> running max 0.06."""
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    with_nan = stats.holm([0.5, np.nan, 0.01])
    assert with_nan[0] == pytest.approx(0.5) and np.isnan(with_nan[1]) and with_nan[2] == pytest.approx(0.02)


def test_seeds_needed_hand_worked():
    """2 sqrt(0.01 / n + 0.0001) < 0.05 first holds at n = 20 (0.0490; n = 19 gives 0.0500)."""
    assert stats.seeds_needed(0.01, 0.0001, 0.05, 2.0) == 20
    assert stats.seeds_needed(0.01, 0.001, 0.05, 2.0) is None  # the test images alone are too few
    assert stats.seeds_needed(float("nan"), 0.0001, 0.05, 2.0) is None
    # Student's t over seeds only: t(0.975, n - 1) * 0.1 / sqrt(n) < 0.1 first at n = 7 (2.447 / 2.646 = 0.925;
    # n = 6 gives 2.571 / 2.449 = 1.050)
    assert stats.seeds_needed(0.01, 0.0, 0.1, sps.norm.ppf(0.975), student=True) == 7


def test_variance_components_separate_seeds_from_images():
    labels, scores = sample(n=200, seeds=4, skill=0.4)
    parts = stats.variance_components(labels, scores, "accuracy", resamples=200)
    per_seed = [skm.accuracy_score(labels, s >= 0.5) for s in scores]
    assert parts["seed_var"] == pytest.approx(np.var(per_seed, ddof=1))
    assert 0 < parts["image_var"] < 0.01


def test_seed_interval_is_students_t():
    mean, low, high = stats.seed_interval([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and high - mean == pytest.approx(sps.t.ppf(0.975, 2) * 0.1 / np.sqrt(3))
