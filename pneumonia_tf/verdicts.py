"""Verdicts on reproduced numbers, with a tolerance declared before the runs, and the flags a reader
needs beside them: degenerate models, DCGANs unlike the paper's, trivial baselines.

A number's verdict compares the paper's value with the interval [low, high] of the reproduced value
(pneumonia_tf.stats: over seeds and test images), widened by the paper's rounding r (half a unit of its
last printed digit), against the study's tolerance t for the metric's family ([verdict] of its config):
- reproduced: the whole widened interval of (reproduced - paper) lies inside [-t, +t];
- higher / lower: the reproduced value is higher / lower: the paper's value lies below / above the
  widened interval;
- inconclusive: otherwise (e.g. the interval is wider than the tolerance).
A cell with a degenerate seed gets no verdict: "degenerate (...)" says why.
"""
from __future__ import annotations

import numpy as np

from pneumonia_tf import CLASSES
from pneumonia_tf.metrics import metric_values
from pneumonia_tf.stats import delong_interval, seeds_needed

REPRODUCED, HIGHER, LOWER, INCONCLUSIVE, DEGENERATE = "reproduced", "higher", "lower", "inconclusive", "degenerate"
VERDICTS = (REPRODUCED, HIGHER, LOWER, INCONCLUSIVE, DEGENERATE)
ONE_CLASS = 0.95  # a model that puts at least this fraction of the test images into one class is degenerate
TWO_SAMPLE_LIMIT = 0.95  # real-vs-generated accuracy above this: the DCGAN images are easy to tell apart
Z95 = 1.959963984540054


def family(metric: str) -> str:
    """The tolerance family of a metric key: f1_macro -> f1, history:val_loss:last -> loss."""
    if metric.startswith("history:"):
        column = metric.split(":")[1].removeprefix("val_")
        return "loss" if column == "loss" else column
    for name in ("precision", "recall", "f1"):
        if metric.startswith(name):
            return name
    return metric


def number_verdict(paper: float, low: float, high: float, tolerance: float, rounding: float) -> str:
    """reproduced / higher / lower / inconclusive (module docstring); inconclusive without an interval."""
    if low is None or high is None or np.isnan(low) or np.isnan(high):
        return INCONCLUSIVE
    low, high = low - rounding - paper, high + rounding - paper  # the widened interval of (reproduced - paper)
    if -tolerance <= low and high <= tolerance:
        return REPRODUCED
    if low > 0:
        return HIGHER
    if high < 0:
        return LOWER
    return INCONCLUSIVE


def seed_budget(diff: float, seed_var: float, image_var: float, tolerance: float, rounding: float,
                student: bool = False) -> str:
    """For an inconclusive number: how many seeds would make its interval settle it, either inside the
    tolerance (reproduced) or clear of the paper's value (higher / lower), from the measured variance
    between seeds and over test images (student: an interval over seeds only, Student's t)."""
    goals = [tolerance - abs(diff) - rounding, abs(diff) - rounding]  # half-widths that would decide it
    needed = [n for n in (seeds_needed(seed_var, image_var, half, Z95, student) for half in goals) if n is not None]
    if np.isnan(seed_var):
        return "a second seed would measure the spread between seeds"
    if not needed:
        return "more seeds alone cannot resolve it: the test images are too few"
    return f"about {min(needed)} seeds would resolve it"


def degenerate_reasons(labels: np.ndarray, scores: np.ndarray) -> list[str | None]:
    """Per seed (a row of scores (seeds, N) at threshold 0.5): why its model is degenerate ("PNEUMONIA
    for 100% of test images", "ROC AUC interval contains 0.5"), or None.
    Degenerate: it puts >= 95% of the test images into one class, or its ROC AUC interval (DeLong)
    contains 0.5."""
    reasons = []
    for row in np.atleast_2d(scores):
        pneumonia = float(np.mean(row >= 0.5))
        share, name = max((pneumonia, CLASSES[1]), (1 - pneumonia, CLASSES[0]))
        if share >= ONE_CLASS:
            reasons.append(f"{name} for {share:.0%} of test images")
        elif len(np.unique(labels)) == 2 and delong_interval(labels, row)[1] <= 0.5 <= delong_interval(labels, row)[2]:
            reasons.append("ROC AUC interval contains 0.5")
        else:
            reasons.append(None)
    return reasons


def degenerate_text(reasons: list[str | None]) -> str | None:
    """"degenerate (2 of 2 seeds: PNEUMONIA for 100% of test images)", or None."""
    found = [r for r in reasons if r]
    if not found:
        return None
    counts = {reason: found.count(reason) for reason in dict.fromkeys(found)}
    parts = "; ".join(f"{n} of {len(reasons)} seeds: {reason}" for reason, n in counts.items())
    return f"{DEGENERATE} ({parts})"


def dcgan_flag(reports_by_seed: dict[int, dict[str, dict]]) -> str | None:
    """The flag of a cell trained on DCGAN images whose quality report shows mode collapse or images a
    classifier tells from real ones (two-sample accuracy above 0.95): not what the paper's DCGAN made."""
    problems = []
    for seed, reports in sorted(reports_by_seed.items()):
        for class_name, report in reports.items():
            found = (["mode collapse"] if report.get("mode_collapse_warning") else []) + (
                [f"two-sample accuracy {report['two_sample_accuracy']:.2f}"]
                if report.get("two_sample_accuracy", 0) > TWO_SAMPLE_LIMIT else [])
            if found:
                problems.append(f"seed {seed} {class_name}: {', '.join(found)}")
    return ("DCGAN images unlike the paper's (" + "; ".join(problems) + ")") if problems else None


BASELINES = ("always PNEUMONIA", "always NORMAL", "prevalence-matched coin")


def baseline_values(labels: np.ndarray, metric: str, prevalence: float, draws: int = 1000,
                    seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """{baseline: (value, low, high)} of the trivial classifiers on these test labels: always PNEUMONIA
    (score 1) and always NORMAL (score 0), with no interval (nothing random), and a coin that says
    PNEUMONIA with probability `prevalence` (the training split's), its mean and 95% range over
    `draws` seeded coin draws (scores 0 or 1)."""
    labels = np.asarray(labels).astype(int)
    out = {}
    for name, score in (("always PNEUMONIA", 1.0), ("always NORMAL", 0.0)):
        value = float(metric_values(labels, np.full(len(labels), score), metric))
        out[name] = (value, float("nan"), float("nan"))
    coin = (np.random.default_rng(seed).uniform(size=(draws, len(labels))) < prevalence).astype(float)
    values = metric_values(labels[None], coin, metric)
    out["prevalence-matched coin"] = (float(np.nanmean(values)), *map(float, np.nanpercentile(values, [2.5, 97.5])))
    return out
