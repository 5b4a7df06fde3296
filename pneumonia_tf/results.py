"""Rebuild a study's comparison table from the run registry: paper value, reproduced mean +- sd over
seeds, bootstrap 95% CI, the difference and a verdict (the paper's value within, above or below the
CI), for every cell, under the study's metric averaging; below it, the study's departures from the
paper, the profile's scale reductions, and the paper's image counts against the data's. Cells without
a record show as missing.

python -m pneumonia_tf.results STUDY [--profile P] [--runs runs/] [--out results/] [--check]

Writes results/<study>/<profile>/table.{md,csv,tex} (byte-identical from the same records) and gathers
the runs' figures under results/<study>/<profile>/figures/; prints the Markdown table.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonia_tf import cli
from pneumonia_tf.experiments import departures, experiment_path, load_experiment, studies
from pneumonia_tf.metrics import metric_key
from pneumonia_tf.models.cnn import TABLE1
from pneumonia_tf.models.transfer import BASES
from pneumonia_tf.records import atomic_write, read_json
from pneumonia_tf.report import write_report

MISSING = "missing"


def read_runs(runs: Path, study: str, profile: str) -> dict[str, list[Path]]:
    """{cell: [finished run folder per seed, by seed]} under runs/<study>/<profile>/<cell>/<seed>/."""
    found: dict[str, list[Path]] = {}
    for path in sorted((runs / study / profile).glob("*/*/record.json"), key=lambda p: (p.parts[-3], int(p.parts[-2]))):
        found.setdefault(path.parts[-3], []).append(path.parent)
    return found


def read_records(runs: Path, study: str, profile: str) -> dict[str, list[dict]]:
    """{cell: [record per seed, by seed]} from runs/<study>/<profile>/<cell>/<seed>/record.json."""
    return {cell: [read_json(folder / "record.json") for folder in folders]
            for cell, folders in read_runs(runs, study, profile).items()}


def table1_architecture(row: str) -> dict:
    """Seed 004's descriptive columns for one Table-1 model."""
    spec = TABLE1[row]
    return {"conv layers": ", ".join("-".join(map(str, block)) for block in spec["blocks"]),
            "conv dropout": spec["conv_dropout"] or "-", "dense layers": spec["dense"],
            "dense dropout": spec["dense_dropout"] or "-", "batch normalization": "yes" if spec["batch_norm"] else "no",
            "regularizers": f"L1 {spec['l1']}, L2 {spec['l2']}" if spec["l1"] or spec["l2"] else "-"}


def metric_values(record: dict, metric: str, averaging: str) -> tuple[float, list[float] | None]:
    """(value, 95% CI or None) of a column metric in one record: a test metric at threshold 0.5 under
    the table's averaging, or a training-history endpoint "history:<column>:first|last" (no CI)."""
    if metric.startswith("history:"):
        _, column, end = metric.split(":")
        history = record["history"]
        return float(history[0 if end == "first" else -1][column]), None
    test, key = record["test"]["at_0.5"], metric_key(metric, averaging)
    return test[key], test["ci"][key]


def verdict(paper: float, low: float, high: float) -> str:
    """Where the paper's value lies against the reproduced 95% CI."""
    return "within CI" if low <= paper <= high else ("paper above CI" if paper > high else "paper below CI")


def aggregate(records: list[dict], metric: str, averaging: str) -> tuple[list[float], float | None, float | None]:
    """(values per seed, CI low, CI high) of one cell's metric: the CI is the mean of the seeds'
    bootstrap bounds, None for history metrics. The table and the report's figure both use this."""
    values, cis = zip(*(metric_values(r, metric, averaging) for r in records))
    if cis[0] is None:
        return list(values), None, None
    return list(values), float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis]))


def _cells(name: str, paper, records: list[dict], metric: str, averaging: str) -> dict:
    """The five columns of one metric: paper, reproduced (mean +- sd over seeds), 95% CI (bootstrap,
    averaged over seeds), difference, verdict."""
    out = {f"{name} paper": f"{paper:.3f}" if paper is not None else "n/a"}
    if not records:
        return {**out, **{f"{name} {part}": MISSING for part in ("reproduced", "95% CI", "diff", "verdict")}}
    values, low, high = aggregate(records, metric, averaging)
    mean = float(np.mean(values))
    spread = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
    out[f"{name} reproduced"] = f"{mean:.3f}{spread} (n={len(values)})"
    out[f"{name} 95% CI"] = "n/a (history)" if low is None else f"{low:.3f}-{high:.3f}"
    out[f"{name} diff"] = f"{mean - paper:+.3f}" if paper is not None else "n/a"
    out[f"{name} verdict"] = verdict(paper, low, high) if paper is not None and low is not None else "n/a"
    return out


def build_table(experiment: dict, records: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per table row of the experiment; see the module docstring for the columns."""
    spec, paper = experiment["table"], experiment.get("paper", {})
    averaging = spec.get("averaging", "binary")
    rows = []
    for number, row in enumerate(spec["rows"], 1):
        line = {"No": number, "cell": row}
        if spec.get("describe") == "table1_architecture":
            line.update(table1_architecture(row))
        for column in spec["columns"]:
            cell = column["cell"].format(row=row)
            line.update(_cells(column["name"], paper.get(cell, {}).get(column["metric"]), records.get(cell, []),
                               column["metric"], averaging))
        rows.append(line)
    return pd.DataFrame(rows)


def notices(records: dict[str, list[dict]]) -> list[str]:
    """The loud notices a table carries: synthetic data; transfer bases randomly initialised."""
    all_records = [r for rs in records.values() for r in rs]
    found = []
    if any(r.get("synthetic_data") for r in all_records):
        found.append("SYNTHETIC PHANTOM DATA: NOT COMPARABLE TO ANY PAPER")
    if any(r.get("config", {}).get("model") in BASES and not r["config"].get("weights") for r in all_records):
        found.append("BASES RANDOMLY INITIALISED, NOT IMAGENET: NOT COMPARABLE TO THE PAPER")
    return found


def points(experiment: dict, records: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per table row and test-metric column with records: row, column, paper (or NaN), the
    reproduced mean and the 95% CI (means over seeds), for the report's summary figure."""
    spec, paper = experiment["table"], experiment.get("paper", {})
    rows = []
    for row in spec["rows"]:
        for column in spec["columns"]:
            cell = column["cell"].format(row=row)
            if column["metric"].startswith("history:") or not records.get(cell):
                continue
            values, low, high = aggregate(records[cell], column["metric"], spec.get("averaging", "binary"))
            rows.append({"row": row, "column": column["name"], "metric": column["metric"],
                         "paper": paper.get(cell, {}).get(column["metric"], np.nan), "mean": float(np.mean(values)),
                         "low": low, "high": high})
    return pd.DataFrame(rows, columns=["row", "column", "metric", "paper", "mean", "low", "high"])


def title(experiment: dict, profile: str, records: dict[str, list[dict]]) -> str:
    """The table's heading: study, profile, how metrics are computed, and the loud notices."""
    averaging = experiment["table"].get("averaging", "binary")
    how = "binary (PNEUMONIA class)" if averaging == "binary" else f"{averaging}-averaged over both classes"
    heading = (f"{experiment['title']} (profile {profile}; metrics at threshold 0.5 on the test split; "
               f"precision, recall and F1 {how})")
    return heading + "".join(f" — {note}" for note in notices(records))


def count_checks(experiment: dict, records: dict[str, list[dict]]) -> list[str]:
    """The image counts the paper states ([counts]: {split or "all": {class: n} or n}) against the
    data's official splits, one line per count."""
    stated = {k: v for k, v in experiment.get("counts", {}).items() if k != "source"}
    record = next((r for rs in records.values() for r in rs if "official" in r.get("data", {})), None)
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


def note_lines(experiment: dict, profile: str, records: dict[str, list[dict]]) -> list[str]:
    """What a reader needs under a table: departures from the paper, the profile's scale reductions,
    the paper's counts against the data's, and the table's own note."""
    lines = departures(experiment, profile) + count_checks(experiment, records)
    return lines + ([experiment["table"]["note"]] if experiment["table"].get("note") else [])


def write_outputs(table: pd.DataFrame, heading: str, out: Path, footer: str = "") -> str:
    """table.md, table.csv, table.tex under `out` (atomic, deterministic); returns the Markdown."""
    markdown = f"# {heading}\n\n{table.to_markdown(index=False, disable_numparse=True)}\n" + (f"\n{footer}" if footer else "")
    atomic_write(out / "table.md", markdown)
    atomic_write(out / "table.csv", table.to_csv(index=False))
    latex = table.to_latex(index=False, caption=heading.replace("_", r"\_"), label="tab:results")
    atomic_write(out / "table.tex", latex)
    return markdown


def gather_figures(runs: Path, study: str, profile: str, out: Path) -> int:
    """Copy each run's figures (and DCGAN sample grids) to out/figures/<cell>-<seed>-<name>.png."""
    count = 0
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for figure in sorted((runs / study / profile).glob("*/*/figures/*.png")):
        cell, seed = figure.parts[-4], figure.parts[-3]
        shutil.copyfile(figure, out / "figures" / f"{cell}-{seed}-{figure.name}")
        count += 1
    for grid in sorted((runs / study / profile / "dcgan").glob("*/samples/*.png"))[-2:]:
        shutil.copyfile(grid, out / "figures" / f"dcgan-{grid.parts[-3]}-{grid.name}")
        count += 1
    return count


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.results", __doc__)
    parser.add_argument("study", help=f"a study in experiments/: {', '.join(studies())}")
    parser.add_argument("--profile", help="default: every profile with runs")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--check", action="store_true", help="exit 1 if any cell has no record")
    args = parser.parse_args(argv)
    experiment = load_experiment(experiment_path(args.study))
    study = experiment["study"]
    profiles = [args.profile] if args.profile else sorted(
        p.name for p in (args.runs / study).glob("*") if p.is_dir()) or ["smoke"]
    missing = 0
    for profile in profiles:
        folders = read_runs(args.runs, study, profile)
        records = read_records(args.runs, study, profile)
        table = build_table(experiment, records)
        out = args.out / study / profile
        lines = note_lines(experiment, profile, records)
        print(write_outputs(table, title(experiment, profile, records), out, "".join(f"- {line}\n" for line in lines)))
        gather_figures(args.runs, study, profile, out)
        report = write_report(experiment, profile, table, points(experiment, records), notices(records), lines, folders,
                              args.runs / study / profile, out)
        print(f"report: {report}")
        missing += int((table == MISSING).any(axis=1).sum())
    if args.check and missing:
        print(f"error: {missing} row(s) with missing cells", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
