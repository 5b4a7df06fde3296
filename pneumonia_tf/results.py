"""Rebuild a study's results from the run registry: one long-form table built once, from which the
Markdown, CSV and LaTeX tables, the claims table and the report are rendered.

python -m pneumonia_tf.results STUDY [--profile P] [--runs runs/] [--out results/] [--resamples 2000] [--check]

Every record and predictions file is read once (pneumonia_tf.study_runs). The long table has one row
per (cell, metric) of the study's [table]: the paper's value, the value of every seed, their mean and
sd, the interval (test metrics: the two-level bootstrap over seeds and test images of
pneumonia_tf.stats; training-curve endpoints: Student's t over seeds), the difference, the verdict
against the study's declared tolerance (pneumonia_tf.verdicts) and flags (degenerate models, DCGAN
images unlike the paper's, cells selected on the test split). Below the cells it holds the trivial
baselines on the same test split and, for the paper's-protocol cells, the optimism gap: protocol cell
minus its clean twin, paired. The claims ([claims]) are tested in pneumonia_tf.claims.

Writes results/<study>/<profile>/{table.md, table.csv (the long form), table.tex, claims.csv,
report.html} (the same records give byte-identical files) and gathers the runs' figures under
figures/; prints the Markdown. --check exits 1 when a cell has no record.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonia_tf import cli
from pneumonia_tf.claims import evaluate_claims
from pneumonia_tf.config import TEST_SELECTED
from pneumonia_tf.experiments import (departures, experiment_path, load_experiment, protocol_twins, studies,
                                      test_selected, uses_generated)
from pneumonia_tf.metrics import metric_key, metric_values
from pneumonia_tf.models.registry import SPECS
from pneumonia_tf.records import atomic_write
from pneumonia_tf.report import write_report
from pneumonia_tf.stats import cell_interval, paired_difference, seed_interval, variance_components
from pneumonia_tf.study_runs import Cell, dcgan_quality, read_study
from pneumonia_tf.tables import display_table, external_table, markdown
from pneumonia_tf.cam.study import architecture_agreement, good_values, study_scorecard
from pneumonia_tf.verdicts import (BASELINES, INCONCLUSIVE, VERDICTS, baseline_values, dcgan_flag,
                                   degenerate_reasons, degenerate_text, family, number_verdict, seed_budget)

MISSING = "missing"
RESAMPLES = 2000
COLUMNS = ["kind", "row", "column", "cell", "protocol", "metric", "paper", "values", "mean", "sd", "low", "high", "n", "diff",
           "p", "verdict", "budget", "flags", "interval"]
HISTORY_MIN_SEEDS = 3  # a training-curve endpoint gets a verdict from this many seeds on
INTERVALS = {"bootstrap": "seeds and test images (two-level bootstrap)", "t": "seeds (Student's t)",
             "constant": "none (nothing random)", "coin": "coin draws"}


def cell_flags(experiment: dict, cells: dict[str, Cell], study_runs: Path) -> dict[str, dict]:
    """{cell: {"degenerate": text or None, "flags": [...]}}: degenerate seeds (from the test
    predictions), DCGAN images unlike the paper's, selection on the test split."""
    out = {}
    for name, cell in cells.items():
        flags, degenerate = [], None
        if cell.has_split("test"):
            degenerate = degenerate_text(degenerate_reasons(*cell.scores("test")))
        config = experiment["cells"].get(name, {})
        if test_selected(config):
            flags.append(TEST_SELECTED.upper())
        if uses_generated(config):
            flag = dcgan_flag({seed: dcgan_quality(study_runs, seed) for seed in cell.seeds})
            flags += [flag] if flag else []
        out[name] = {"degenerate": degenerate, "flags": flags}
    return out


def _entry(cell: Cell | None, metric: str, paper, verdict_spec: dict, flags: dict, resamples: int) -> dict:
    """The long table's fields for one (cell, metric)."""
    if cell is None:
        return {"verdict": MISSING, "n": 0}
    if metric.startswith("history:"):
        _, column, end = metric.split(":")
        values = [float(r["history"][0 if end == "first" else -1][column]) for r in cell.records]
        mean, low, high = seed_interval(values)
        interval, enough = "t", len(values) >= HISTORY_MIN_SEEDS
    elif not cell.has_split("test"):
        return {"verdict": MISSING, "n": len(cell.records), "budget": "no predictions.csv: re-evaluate the runs"}
    else:
        labels, scores = cell.scores("test")
        values = list(map(float, metric_values(labels, scores, metric)))
        mean, low, high = cell_interval(labels, scores, metric, resamples=resamples)
        interval, enough = "bootstrap", True
    notes = flags["flags"] + (["its validation data is the test split"]
                              if flags["flags"] and TEST_SELECTED.upper() in flags["flags"]
                              and metric.startswith("history:val_") else [])
    entry = {"values": "; ".join(f"{v:.4f}" for v in values), "mean": mean, "low": low, "high": high,
             "n": len(values), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
             "interval": INTERVALS[interval], "flags": "; ".join(notes)}
    if paper is None:
        return {**entry, "verdict": "no paper value" if not flags["degenerate"] else flags["degenerate"]}
    entry["diff"] = mean - paper
    tolerance = verdict_spec.get("tolerance", {}).get(family(metric), 0.0)
    rounding = verdict_spec.get("rounding", 0.0)
    if flags["degenerate"]:
        return {**entry, "verdict": flags["degenerate"]}
    if not enough:
        return {**entry, "verdict": INCONCLUSIVE, "budget": f"a verdict needs {HISTORY_MIN_SEEDS} seeds or more"}
    entry["verdict"] = number_verdict(paper, low, high, tolerance, rounding)
    if entry["verdict"] == INCONCLUSIVE:  # a curve endpoint varies with the seed only
        parts = (variance_components(labels, scores, metric, resamples=resamples) if interval == "bootstrap"
                 else {"seed_var": float(np.var(values, ddof=1)), "image_var": 0.0})
        entry["budget"] = seed_budget(entry["diff"], parts["seed_var"], parts["image_var"], tolerance, rounding,
                                      student=interval == "t")
    return entry


def baseline_rows(experiment: dict, cells: dict[str, Cell], metrics: list[str]) -> list[dict]:
    """The trivial classifiers on the study's test split (that of its clean cells on real images)."""
    clean = [c for n, c in cells.items() if c.has_split("test") and not test_selected(experiment["cells"].get(n, {}))
             and not uses_generated(experiment["cells"].get(n, {}))]
    if not clean:
        return []
    labels, _ = clean[0].scores("test")
    train = clean[0].records[0]["data"]["splits"]["train"]
    prevalence = train["PNEUMONIA"]["images"] / train["images"]
    rows = []
    for metric in metrics:
        for name, (value, low, high) in baseline_values(labels, metric, prevalence).items():
            rows.append({"kind": "baseline", "row": name, "column": metric, "cell": name, "metric": metric,
                         "mean": value, "low": low, "high": high, "n": 1,
                         "interval": INTERVALS["coin" if name == BASELINES[2] else "constant"],
                         "flags": f"PNEUMONIA with probability {prevalence:.3f}, the training prevalence"
                         if name == BASELINES[2] else ""})
    return rows


def gap_rows(experiment: dict, cells: dict[str, Cell], metrics: list[str], resamples: int) -> list[dict]:
    """The optimism gap of each protocol cell: its metric minus its clean twin's, on the same test
    images, seed i paired with seed i (the same training run up to the choice of epoch)."""
    rows = []
    for protocol, clean in protocol_twins(experiment).items():
        if not (protocol in cells and clean in cells and cells[protocol].has_split("test")
                and cells[clean].has_split("test")):
            continue
        common = sorted(set(cells[protocol].seeds) & set(cells[clean].seeds))
        labels, scores_p = cells[protocol].scores("test")
        _, scores_c = cells[clean].scores("test")
        pick = lambda cell, scores: scores[[cell.seeds.index(s) for s in common]]  # noqa: E731
        for metric in metrics:
            result = paired_difference(labels, pick(cells[protocol], scores_p), pick(cells[clean], scores_c), metric,
                                       resamples=resamples, same_seeds=True)
            rows.append({"kind": "optimism gap", "row": protocol, "column": metric, "cell": f"{protocol} - {clean}",
                         "metric": metric, "mean": result["diff"], "low": result["low"], "high": result["high"],
                         "p": result["p"], "n": len(common), "interval": INTERVALS["bootstrap"] + ", paired by seed"})
    return rows


def long_table(experiment: dict, cells: dict[str, Cell], flags: dict[str, dict],
               resamples: int = RESAMPLES) -> pd.DataFrame:
    """One row per (cell, metric) of [table], then the baselines and the optimism gaps (COLUMNS).
    flags: cell_flags()."""
    spec, paper = experiment["table"], experiment.get("paper", {})
    averaging = spec.get("averaging", "binary")
    twins = protocol_twins(experiment)
    rows = []
    for row in spec["rows"]:
        for column in spec["columns"]:
            name, metric = column["cell"].format(row=row), column["metric"]
            key = metric if metric.startswith("history:") else metric_key(metric, averaging)
            value = paper.get(twins.get(name, name), {}).get(metric)
            rows.append({"kind": "cell", "row": row, "column": column["name"], "cell": name, "protocol": name in twins,
                         "metric": key,
                         "paper": value, **_entry(cells.get(name), key, value, experiment.get("verdict", {}),
                                                  flags.get(name, {"degenerate": None, "flags": []}), resamples)})
    metrics = list(dict.fromkeys(r["metric"] for r in rows if not r["metric"].startswith("history:")))
    rows += baseline_rows(experiment, cells, metrics) + gap_rows(experiment, cells, metrics, resamples)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def verdict_counts(table: pd.DataFrame, protocol: bool = False) -> dict[str, int]:
    """How many of the paper's numbers are reproduced, higher, lower, inconclusive, degenerate or missing:
    by the clean cells, or (protocol=True) by the cells that reproduce the paper's own selection."""
    numbers = table[(table["kind"] == "cell") & table["paper"].notna() & (table["protocol"] == protocol)]
    words = numbers["verdict"].astype(str).str.split(" ").str[0]
    return {word: int((words == word).sum()) for word in (*VERDICTS, MISSING)}


def notices(experiment: dict, cells: dict[str, Cell]) -> list[str]:
    """The loud notices a table carries: synthetic data; transfer bases randomly initialised; a split
    that varies with the seed; cells selected on the test split."""
    records = [r for cell in cells.values() for r in cell.records]
    found = []
    if any(r.get("synthetic_data") for r in records):
        found.append("SYNTHETIC PHANTOM DATA: NOT COMPARABLE TO ANY PAPER")
    if any(SPECS.get(r.get("config", {}).get("model")) and SPECS[r["config"]["model"]].imagenet
           and not r["config"].get("weights") for r in records):
        found.append("BASES RANDOMLY INITIALISED, NOT IMAGENET: NOT COMPARABLE TO THE PAPER")
    if any(r.get("config", {}).get("vary_split") for r in records):
        found.append("THE VALIDATION SPLIT VARIES WITH THE SEED: SEED SPREAD INCLUDES SPLIT VARIATION")
    protocol = sorted(protocol_twins(experiment))
    if protocol:
        found.append(f"CELLS {', '.join(protocol)}: {TEST_SELECTED.upper()}")
    return found


def title(experiment: dict, profile: str, cells: dict[str, Cell]) -> str:
    """The table's heading: study, profile, how metrics are computed, and the loud notices."""
    averaging = experiment["table"].get("averaging", "binary")
    how = "binary (PNEUMONIA class)" if averaging == "binary" else f"{averaging}-averaged over both classes"
    heading = (f"{experiment['title']} (profile {profile}; metrics at threshold 0.5 on the test split; "
               f"precision, recall and F1 {how})")
    return heading + "".join(f" — {note}" for note in notices(experiment, cells))


def count_checks(experiment: dict, cells: dict[str, Cell]) -> list[str]:
    """The image counts the paper states ([counts]: {split or "all": {class: n} or n}) against the
    data's official splits, one line per count."""
    stated = {k: v for k, v in experiment.get("counts", {}).items() if k != "source"}
    record = next((r for c in cells.values() for r in c.records if "official" in r.get("data", {})), None)
    if not stated or record is None or record.get("synthetic_data"):
        return []
    official = record["data"]["official"]
    lines = []
    for split, classes in stated.items():
        splits = list(official.values()) if split == "all" else [official.get(split, {})]
        if not isinstance(classes, dict):
            classes = {"images": classes}
        for class_name, count in classes.items():
            have = sum(s.get("images", 0) if class_name == "images" else s.get(class_name, {}).get("images", 0)
                       for s in splits)
            mark = "same" if have == count else f"differs by {have - count:+d}"
            lines.append(f"{split} {class_name}: paper {count}, data {have} ({mark})")
    return [f"image counts (paper, {experiment['counts'].get('source', '')}): " + "; ".join(lines)]


def note_lines(experiment: dict, profile: str, cells: dict[str, Cell]) -> list[str]:
    """What a reader needs under a table: departures from the paper, the profile's scale reductions,
    the paper's counts against the data's, and the table's own note."""
    lines = departures(experiment, profile) + count_checks(experiment, cells)
    return lines + ([experiment["table"]["note"]] if experiment["table"].get("note") else [])


def write_outputs(experiment: dict, table: pd.DataFrame, claims: pd.DataFrame, heading: str, lines: list[str],
                  sections: dict[str, pd.DataFrame], out: Path) -> str:
    """table.md, table.csv (the long form), table.tex and claims.csv under `out` (atomic,
    deterministic); returns the Markdown."""
    text = markdown(experiment, heading, table, claims, lines, sections)
    atomic_write(out / "table.md", text)
    atomic_write(out / "table.csv", table.to_csv(index=False, float_format="%.6g"))
    atomic_write(out / "claims.csv", claims.to_csv(index=False, float_format="%.6g"))
    latex = display_table(table, "cell").to_latex(index=False, caption=heading.replace("_", r"\_"),
                                                  label="tab:results")
    atomic_write(out / "table.tex", latex)
    return text


def gather_figures(runs: Path, study: str, profile: str, out: Path) -> int:
    """Copy each run's figures (and DCGAN sample grids) to out/figures/<cell>-<seed>-<name>.png."""
    count = 0
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for figure in sorted((runs / study / profile).glob("*/*/figures/*.png")):
        cell, seed = figure.parts[-4], figure.parts[-3]
        shutil.copyfile(figure, out / "figures" / f"{cell}-{seed}-{figure.name}")
        count += 1
    for grid in sorted((runs / study / profile / "dcgan").glob("*/*/samples/*.png")):
        shutil.copyfile(grid, out / "figures" / f"dcgan-{grid.parts[-4]}-{grid.parts[-3]}-{grid.name}")
        count += 1
    return count


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.results", __doc__)
    parser.add_argument("study", help=f"a study in experiments/: {', '.join(studies())}")
    parser.add_argument("--profile", help="default: every profile with runs")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples of every interval")
    parser.add_argument("--check", action="store_true", help="exit 1 if any cell has no record")
    args = parser.parse_args(argv)
    experiment = load_experiment(experiment_path(args.study))
    study = experiment["study"]
    profiles = [args.profile] if args.profile else sorted(
        p.name for p in (args.runs / study).glob("*") if p.is_dir()) or ["smoke"]
    missing = 0
    for profile in profiles:
        study_runs = args.runs / study / profile
        cells = read_study(args.runs, study, profile)
        flags = cell_flags(experiment, cells, study_runs)
        table = long_table(experiment, cells, flags, args.resamples)
        claims = evaluate_claims(experiment, cells, {n: f["degenerate"] for n, f in flags.items()}, args.resamples)
        out = args.out / study / profile
        lines = note_lines(experiment, profile, cells)
        scorecard = study_scorecard(cells)
        sections = {"external": external_table(cells), "scorecard": scorecard,
                    "good": good_values() if len(scorecard) else scorecard, "agreement": architecture_agreement(cells)}
        print(write_outputs(experiment, table, claims, title(experiment, profile, cells), lines, sections, out))
        gather_figures(args.runs, study, profile, out)
        counts = {"clean": verdict_counts(table), "protocol": verdict_counts(table, protocol=True)}
        report = write_report(experiment, profile, table, claims, counts, notices(experiment, cells),
                              lines, sections, cells, study_runs, out)
        print(f"report: {report}")
        missing += int(((table["kind"] == "cell") & (table["verdict"] == MISSING)).sum())
    if args.check and missing:
        print(f"error: {missing} number(s) of missing cells", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
