"""Claims as data: every statement kind on constructed predictions with known verdicts, Holm across a
study's claims, degenerate and protocol cells, and the claims of every study as written."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pneumonia_tf import stats
from pneumonia_tf.claims import evaluate_claims, statement
from pneumonia_tf.errors import UserError
from pneumonia_tf.experiments import cell_of, experiment_path, load_experiment, studies
from pneumonia_tf.study_runs import Cell

SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"
N = 300
LABELS = np.random.default_rng(0).integers(0, 2, N)


def model(skill: float, seed: int) -> np.ndarray:
    """Scores of a model whose PNEUMONIA images score `skill` higher on average."""
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + skill * (LABELS - 0.5) + rng.normal(0, 0.25, N), 0, 1)


def make_cell(name: str, scores: list[np.ndarray]) -> Cell:
    tables = [pd.DataFrame({"split": "test", "path": [f"im{i:03d}" for i in range(N)], "patient": "p",
                            "label": LABELS, "score": s}) for s in scores]
    return Cell(name, [Path(name) / str(i) for i in range(len(scores))], [{"seed": i} for i in range(len(scores))],
                tables)


STRONG = [model(0.6, 1), model(0.6, 2)]
CELLS = {"strong": make_cell("strong", STRONG), "copy": make_cell("copy", STRONG),
         "mid": make_cell("mid", [model(0.3, 3), model(0.3, 4)]), "weak": make_cell("weak", [model(0.0, 5), model(0.0, 6)])}


def verdicts_of(claims: dict, metric: str = "roc_auc") -> dict[str, str]:
    experiment = {"claims": {k: {"claim": k, "source": "000:1", "metric": metric, **v} for k, v in claims.items()}}
    table = evaluate_claims(experiment, CELLS, {}, resamples=300)
    return dict(zip(table["claim"], table["verdict"]))


def test_better_clear_win_clear_loss_and_tie():
    assert verdicts_of({"win": {"kind": "better", "cells": ["strong", "weak"]},
                        "loss": {"kind": "better", "cells": ["weak", "strong"]},
                        "tie": {"kind": "better", "cells": ["strong", "copy"]}}) == \
        {"win": "supported", "loss": "contradicted", "tie": "inconclusive"}


def test_best_each_better_ordering():
    assert verdicts_of({
        "best": {"kind": "best", "cells": ["strong", "mid", "weak"]},
        "not_best": {"kind": "best", "cells": ["mid", "strong", "weak"]},
        "best_tie": {"kind": "best", "cells": ["strong", "copy", "weak"]},
        "each": {"kind": "each_better", "pairs": [["strong", "mid"], ["mid", "weak"]]},
        "each_wrong": {"kind": "each_better", "pairs": [["strong", "mid"], ["weak", "mid"]]},
        "order": {"kind": "ordering", "cells": ["strong", "mid", "weak"]},
        "order_wrong": {"kind": "ordering", "cells": ["mid", "strong", "weak"]}}) == {
        "best": "supported", "not_best": "contradicted", "best_tie": "inconclusive", "each": "supported",
        "each_wrong": "contradicted", "order": "supported", "order_wrong": "contradicted"}


def test_not_worse_and_higher_than():
    assert verdicts_of({
        "same_within_margin": {"kind": "not_worse", "pairs": [["copy", "strong"]], "margin": 0.05},
        "much_worse": {"kind": "not_worse", "pairs": [["weak", "strong"]], "margin": 0.02},
        "above": {"kind": "higher_than", "cells": ["strong"], "value": 0.7},
        "below": {"kind": "higher_than", "cells": ["weak"], "value": 0.9},
        "at": {"kind": "higher_than", "cells": ["mid"], "value": float(np.mean([
            stats.cell_interval(LABELS, CELLS["mid"].scores()[1], "roc_auc")[0]]))}}) == {
        "same_within_margin": "supported", "much_worse": "contradicted", "above": "supported", "below": "contradicted",
        "at": "inconclusive"}


def test_the_claims_p_values_are_holm_adjusted_and_inconclusive_ones_say_what_would_resolve_them():
    experiment = {"claims": {
        "a": {"claim": "a", "source": "000:1", "metric": "accuracy", "kind": "better", "cells": ["strong", "weak"]},
        "b": {"claim": "b", "source": "000:1", "metric": "accuracy", "kind": "better", "cells": ["mid", "copy"]},
        "c": {"claim": "c", "source": "000:1", "metric": "accuracy", "kind": "better", "cells": ["strong", "copy"]}}}
    table = evaluate_claims(experiment, CELLS, {}, resamples=300)
    assert table["p_holm"].to_numpy() == pytest.approx(stats.holm(table["p"].to_numpy()))
    tie = table.set_index("claim").loc["c"]
    assert tie["verdict"] == "inconclusive" and "smallest detectable effect" in tie["budget"]
    assert table.set_index("claim").loc["a", "mcnemar_p"].count(";") == 1  # McNemar per seed pair (2 seeds)


def test_a_claim_over_a_degenerate_or_missing_cell_says_so():
    experiment = {"claims": {
        "d": {"claim": "d", "source": "000:1", "metric": "f1", "kind": "better", "cells": ["strong", "weak"]},
        "m": {"claim": "m", "source": "000:1", "metric": "f1", "kind": "better", "cells": ["strong", "absent"]}}}
    table = evaluate_claims(experiment, CELLS, {"weak": "degenerate (2 of 2 seeds: ...)"}, resamples=50)
    assert list(table["verdict"]) == ["degenerate", "missing"]
    assert "cell(s) weak predict one class" in table["budget"][0] and np.isnan(table["p_holm"]).all()


def test_statements_read_as_the_claim():
    assert statement({"kind": "best", "metric": "f1", "cells": ["a", "b", "c"]}) == "a > each of b, c (f1)"
    assert statement({"kind": "not_worse", "metric": "f1", "margin": 0.02, "pairs": [["a", "b"]]}) == "a >= b - 0.02 (f1)"
    assert statement({"kind": "each_better", "metric": "recall", "metric_b": "precision",
                      "pairs": [["a", "a"]]}) == "a > a (recall vs precision)"


def study_text(extra: str) -> str:
    return experiment_path("seed000").read_text() + extra


def test_a_claim_naming_a_protocol_cell_or_an_unknown_cell_is_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(study_text('\n[claims.x]\nclaim = "x"\nsource = "000:1"\nkind = "better"\nmetric = "f1"\n'
                               'cells = ["cnn-test-selected", "cnn"]\n'))
    with pytest.raises(UserError, match="selected on the test split.*no other cell may use a protocol cell"):
        load_experiment(path)
    path.write_text(study_text('\n[claims.x]\nclaim = "x"\nsource = "000:1"\nkind = "better"\nmetric = "f1"\n'
                               'cells = ["nope", "cnn"]\n'))
    with pytest.raises(UserError, match="unknown cell 'nope'"):
        load_experiment(path)
    path.write_text(experiment_path("seed000").read_text().replace('cnn = {}\n', 'cnn = { epochs = 3 }\n'))
    with pytest.raises(UserError, match="no clean cell has its config"):
        load_experiment(path)


@pytest.mark.parametrize("study", studies())
def test_the_claims_of_every_study_load_cite_a_line_of_their_seed_and_name_existing_cells(study):
    experiment = load_experiment(experiment_path(study))
    prefix = experiment["seed_paper"][:3]
    text = (SEEDS_DIR / experiment["seed_paper"]).read_text().splitlines() if SEEDS_DIR.is_dir() else None
    assert experiment["claims"], study
    for claim_id, claim in experiment["claims"].items():
        lines = re.fullmatch(rf"{prefix}:(\d+)(?:-(\d+))?(?:,(\d+))*", claim["source"])
        assert lines, (claim_id, claim["source"])
        for number in re.findall(r"\d+", claim["source"].split(":", 1)[1]):
            assert text is None or text[int(number) - 1].strip(), (claim_id, number)  # a line with text
        for pair in [claim.get("cells", [])] + claim.get("pairs", []):
            assert all(cell_of(ref)[0] in experiment["cells"] for ref in pair)
