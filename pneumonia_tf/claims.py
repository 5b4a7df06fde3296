"""The papers' conclusions as data ([claims] of a study's config), tested on the per-image predictions.

Each claim is a statement over clean cells and one metric, of a kind:
- better: A > B (cells = [A, B]);           - best: A > every other cell of `cells` (A first);
- each_better: A > B for every pair;         - not_worse: A >= B - margin for every pair;
- ordering: cells[0] > cells[1] > ...;       - higher_than: a cell's metric > value.
A cell reference "cell@val" is the cell's validation predictions (same models, other images).
`metric_b` (default `metric`) is the metric of every B side (recall above precision in one cell).

Every claim is a set of comparisons A - B (+ margin). Each is estimated with the two-level bootstrap of
pneumonia_tf.stats (seeds and test images; the same images for both sides when they share them).
A claim is supported when every comparison has the claimed sign and the largest p (an
intersection-union test) is small; contradicted when a comparison has the opposite sign with a small
p (Bonferroni within the claim); both p-values are then Holm-adjusted across the study's claims:
- supported: the claimed sign and adjusted p < 0.05;
- contradicted: the opposite sign and adjusted p < 0.05;
- inconclusive: otherwise, with the smallest effect the data could detect (80% power) and about how
  many seeds would detect the observed one.
A claim over a degenerate or missing cell says so instead of a verdict. For ROC AUC between two models
on the same images DeLong's test, and for accuracy the exact McNemar test, are given beside it, per
seed pair.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pneumonia_tf import stats
from pneumonia_tf.experiments import cell_of
from pneumonia_tf.study_runs import Cell

ALPHA = 0.05
SUPPORTED, CONTRADICTED, INCONCLUSIVE, MISSING = "supported", "contradicted", "inconclusive", "missing"
COLUMNS = ["claim", "statement", "source", "metric", "effect", "low", "high", "p", "p_holm", "verdict", "mde",
           "budget", "delong_p", "mcnemar_p", "components", "text"]


def comparisons(claim: dict) -> list[tuple[str, str]]:
    """The (A, B) references a claim asserts A > B for (A >= B - margin for not_worse; B is None for
    higher_than)."""
    kind, cells = claim["kind"], claim.get("cells", [])
    if kind == "better":
        return [(cells[0], cells[1])]
    if kind == "best":
        return [(cells[0], other) for other in cells[1:]]
    if kind == "ordering":
        return list(zip(cells, cells[1:]))
    if kind == "higher_than":
        return [(cell, None) for cell in cells]
    return [tuple(pair) for pair in claim["pairs"]]


def statement(claim: dict) -> str:
    """The claim's formal statement, e.g. "model6 > model1, model2 (f1)"."""
    metric = claim["metric"] + (f" vs {claim['metric_b']}" if claim.get("metric_b") else "")
    kind, cells = claim["kind"], claim.get("cells", [])
    if kind == "best":
        text = f"{cells[0]} > each of {', '.join(cells[1:])}"
    elif kind == "ordering":
        text = " > ".join(cells)
    elif kind == "higher_than":
        text = f"{', '.join(cells)} > {claim['value']}"
    elif kind == "not_worse":
        text = "; ".join(f"{a} >= {b} - {claim['margin']}" for a, b in claim["pairs"])
    else:
        text = "; ".join(f"{a} > {b}" for a, b in comparisons(claim))
    return f"{text} ({metric})"


def _compare(claim: dict, a_ref: str, b_ref: str | None, cells: dict[str, Cell], resamples: int) -> dict:
    """One comparison's bootstrap result, with DeLong / McNemar per seed pair where they apply."""
    metric, metric_b = claim["metric"], claim.get("metric_b") or claim["metric"]
    (a, a_split) = cell_of(a_ref)
    labels_a, scores_a = cells[a].scores(a_split)
    if b_ref is None:
        return stats.value_difference(labels_a, scores_a, metric, claim["value"], resamples=resamples)
    (b, b_split) = cell_of(b_ref)
    labels_b, scores_b = cells[b].scores(b_split)
    same_seeds = a == b  # the same models on both sides
    shift = claim.get("margin", 0.0) if claim["kind"] == "not_worse" else 0.0
    if a_split == b_split:
        result = stats.paired_difference(labels_a, scores_a, scores_b, metric, resamples=resamples, metric_b=metric_b,
                                         same_seeds=same_seeds, shift=shift)
        pairs = list(zip(scores_a, scores_b))
        if metric == metric_b == "roc_auc" and not same_seeds:
            result["delong_p"] = [stats.delong(labels_a, x, y)["p"] for x, y in pairs]
        if metric == metric_b == "accuracy" and not same_seeds:
            result["mcnemar_p"] = [stats.mcnemar(labels_a, x >= 0.5, y >= 0.5)["p"] for x, y in pairs]
        return result
    return stats.unpaired_difference(labels_a, scores_a, labels_b, scores_b, metric, resamples=resamples,
                                     metric_b=metric_b, same_seeds=same_seeds, shift=shift)


def _decide(results: list[dict]) -> tuple[dict, float, int]:
    """(deciding comparison, the claim's p, its sign: +1 claimed, -1 opposite, 0 neither)."""
    if all(r["diff"] > 0 for r in results):
        deciding = max(results, key=lambda r: r["p"])
        return deciding, deciding["p"], 1
    opposite = [r for r in results if r["diff"] < 0]
    if opposite:
        deciding = min(opposite, key=lambda r: r["p"])
        return deciding, min(1.0, len(results) * deciding["p"]), -1
    return next(r for r in results if r["diff"] == 0), 1.0, 0


def _format_p(values) -> str:
    return "; ".join(f"{p:.3g}" for p in values) if values else ""


def evaluate_claims(experiment: dict, cells: dict[str, Cell], degenerate: dict[str, str | None],
                    resamples: int = 2000) -> pd.DataFrame:
    """One row per claim of the study (columns COLUMNS): the deciding comparison's effect, interval
    and p, the claim's Holm-adjusted p and verdict. `degenerate`: {cell: degenerate text or None}."""
    rows = []
    for claim_id, claim in experiment.get("claims", {}).items():
        row = {"claim": claim_id, "statement": statement(claim), "source": claim["source"], "metric": claim["metric"],
               "text": claim["claim"]}
        pairs = comparisons(claim)
        references = [cell_of(ref) for pair in pairs for ref in pair if ref]
        missing = sorted({name for name, split in references if name not in cells or not cells[name].has_split(split)})
        bad = sorted({name for name, _ in references if name not in missing and degenerate.get(name)})
        if missing:
            rows.append({**row, "verdict": MISSING, "budget": f"no predictions for {', '.join(missing)}"})
            continue
        if bad:
            rows.append({**row, "verdict": "degenerate",
                         "budget": f"cell(s) {', '.join(bad)} predict one class or no better than chance, so no "
                                   "conclusion can be tested on them (see the numbers table)"})
            continue
        results = [_compare(claim, a, b, cells, resamples) for a, b in pairs]
        deciding, p, sign = _decide(results)
        rows.append({**row, "effect": deciding["diff"], "low": deciding["low"], "high": deciding["high"], "p": p,
                     "sign": sign, "mde": deciding["mde"], "seed_var": deciding["seed_var"],
                     "image_var": deciding["image_var"],
                     "delong_p": _format_p(deciding.get("delong_p")), "mcnemar_p": _format_p(deciding.get("mcnemar_p")),
                     "components": "; ".join(f"{a} - {b or claim['value']}: {r['diff']:+.3f} [{r['low']:+.3f}, "
                                             f"{r['high']:+.3f}], p {r['p']:.3g}" for (a, b), r in zip(pairs, results))})
    tested = [row for row in rows if "verdict" not in row]
    for row, adjusted in zip(tested, stats.holm([row["p"] for row in tested])):
        row["p_holm"] = adjusted
        row["verdict"], row["budget"] = _verdict(row)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def _verdict(row: dict) -> tuple[str, str]:
    """(verdict, what would resolve it) of a tested claim."""
    if row["p_holm"] < ALPHA and row["sign"] == 1:
        return SUPPORTED, ""
    if row["p_holm"] < ALPHA and row["sign"] == -1:
        return CONTRADICTED, ""
    detectable = f"smallest detectable effect {row['mde']:.3f}"
    if np.isnan(row["seed_var"]):
        return INCONCLUSIVE, f"{detectable}; a second seed would measure the spread between seeds"
    seeds = stats.seeds_needed(row["seed_var"], row["image_var"], abs(row["effect"]),
                               stats.minimal_detectable_effect(1.0))
    if seeds is None:
        return INCONCLUSIVE, f"{detectable}; more seeds alone would not detect the observed effect"
    return INCONCLUSIVE, f"{detectable}; about {seeds} seeds would detect the observed effect"
