"""Number verdicts against a declared tolerance, degenerate models, DCGAN flags and trivial baselines,
each against a hand-worked answer."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from pneumonia_tf import verdicts
from pneumonia_tf.verdicts import number_verdict


def test_number_verdicts_hand_worked():
    """Paper 0.90, tolerance 0.03, rounding 0.005: the interval widened by 0.005 on each side."""
    assert number_verdict(0.90, 0.885, 0.92, 0.03, 0.005) == "reproduced"  # -0.02..+0.025 within 0.03
    assert number_verdict(0.90, 0.885, 0.93, 0.03, 0.005) == "inconclusive"  # +0.035 is outside, paper inside
    assert number_verdict(0.90, 0.91, 0.99, 0.03, 0.005) == "higher"  # widened low 0.905 > 0.90
    assert number_verdict(0.90, 0.90, 0.99, 0.03, 0.005) == "inconclusive"  # widened low 0.895: paper inside
    assert number_verdict(0.90, 0.50, 0.89, 0.03, 0.005) == "lower"  # widened high 0.895 < 0.90
    assert number_verdict(0.90, 0.80, 0.99, 0.03, 0.005) == "inconclusive"  # wider than the tolerance
    assert number_verdict(0.90, 0.91, 0.92, 0.03, 0.005) == "reproduced"  # within tolerance beats "higher"
    assert number_verdict(0.90, float("nan"), float("nan"), 0.03, 0.005) == "inconclusive"


def test_metric_families():
    assert [verdicts.family(m) for m in ("f1_macro", "precision_weighted", "roc_auc", "accuracy",
                                         "history:val_loss:last", "history:accuracy:first")] == \
        ["f1", "precision", "roc_auc", "accuracy", "loss", "accuracy"]


def test_always_pneumonia_on_the_kermany_test_split_scores_the_issues_numbers():
    """390 PNEUMONIA and 234 NORMAL: always PNEUMONIA has precision 390/624 = 0.625, recall 1, F1
    2 * 0.625 / 1.625 = 0.769 and accuracy 0.625; always NORMAL scores F1 0 and accuracy 0.375."""
    labels = np.r_[np.ones(390, int), np.zeros(234, int)]
    f1 = verdicts.baseline_values(labels, "f1", prevalence=0.743)
    accuracy = verdicts.baseline_values(labels, "accuracy", prevalence=0.743)
    assert f1["always PNEUMONIA"][0] == pytest.approx(0.7692, abs=1e-4)
    assert accuracy["always PNEUMONIA"][0] == pytest.approx(0.625)
    assert f1["always NORMAL"][0] == 0 and accuracy["always NORMAL"][0] == pytest.approx(0.375)
    # the coin says PNEUMONIA with p = 0.743: expected accuracy 0.625 * 0.743 + 0.375 * 0.257 = 0.5608
    value, low, high = accuracy["prevalence-matched coin"]
    assert value == pytest.approx(0.625 * 0.743 + 0.375 * 0.257, abs=0.003) and low < value < high
    assert verdicts.baseline_values(labels, "roc_auc", 0.743)["always PNEUMONIA"][0] == 0.5


def test_a_constant_classifier_is_degenerate_and_a_good_one_is_not():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    good = np.clip(0.5 * labels + rng.uniform(0, 0.5, 300), 0, 1)
    constant = np.full(300, 0.9)
    noise = rng.uniform(0, 1, 300)  # balanced predictions, but no skill: its AUC interval contains 0.5
    reasons = verdicts.degenerate_reasons(labels, np.stack([good, constant, noise]))
    assert reasons[0] is None
    assert reasons[1] == "PNEUMONIA for 100% of test images"
    assert reasons[2] == "ROC AUC interval contains 0.5"
    assert verdicts.degenerate_text(reasons[1:2] * 2) == "degenerate (2 of 2 seeds: PNEUMONIA for 100% of test images)"
    assert verdicts.degenerate_text([None, None]) is None
    assert skm.roc_auc_score(labels, good) > 0.9


def test_dcgan_flags_mode_collapse_and_easily_told_images():
    fine = {"NORMAL": {"mode_collapse_warning": False, "two_sample_accuracy": 0.7}}
    told = {"PNEUMONIA": {"mode_collapse_warning": False, "two_sample_accuracy": 0.99}}
    collapsed = {"NORMAL": {"mode_collapse_warning": True, "two_sample_accuracy": 0.6}}
    assert verdicts.dcgan_flag({0: fine}) is None
    assert verdicts.dcgan_flag({0: fine, 1: told}) == \
        "DCGAN images unlike the paper's (seed 1 PNEUMONIA: two-sample accuracy 0.99)"
    assert "seed 0 NORMAL: mode collapse" in verdicts.dcgan_flag({0: collapsed})


def test_seed_budget_says_how_many_seeds_would_decide():
    # diff 0.01, tolerance 0.03, rounding 0.005: reproduced needs a half-width under 0.015
    text = verdicts.seed_budget(0.01, seed_var=0.001, image_var=0.00001, tolerance=0.03, rounding=0.005)
    n = int(text.split()[1])
    assert 1.96 * np.sqrt(0.001 / n + 0.00001) < 0.015 <= 1.96 * np.sqrt(0.001 / (n - 1) + 0.00001)
    assert "cannot" in verdicts.seed_budget(0.01, 0.001, 0.01, 0.03, 0.005)
    assert "second seed" in verdicts.seed_budget(0.01, float("nan"), 0.0001, 0.03, 0.005)
