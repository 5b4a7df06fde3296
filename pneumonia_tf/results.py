"""Rebuild a study's comparison table from the run registry: paper value, reproduced mean +- sd over
seeds, bootstrap 95% CI, and the difference, for every cell. Cells without a record show as missing.

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
from pneumonia_tf.experiments import experiment_path, load_experiment
from pneumonia_tf.models.cnn import TABLE1
from pneumonia_tf.records import atomic_write, read_json

MISSING = "missing"


def read_records(runs: Path, study: str, profile: str) -> dict[str, list[dict]]:
    """{cell: [record per seed, by seed]} from runs/<study>/<profile>/<cell>/<seed>/record.json."""
    found: dict[str, list[dict]] = {}
    for path in sorted((runs / study / profile).glob("*/*/record.json"), key=lambda p: (p.parts[-3], int(p.parts[-2]))):
        found.setdefault(path.parts[-3], []).append(read_json(path))
    return found


def table1_architecture(row: str) -> dict:
    """Seed 004's descriptive columns for one Table-1 model."""
    spec = TABLE1[row]
    return {"conv layers": ", ".join("-".join(map(str, block)) for block in spec["blocks"]),
            "conv dropout": spec["conv_dropout"] or "-", "dense layers": spec["dense"],
            "dense dropout": spec["dense_dropout"] or "-", "batch normalization": "yes" if spec["batch_norm"] else "no",
            "regularizers": f"L1 {spec['l1']}, L2 {spec['l2']}" if spec["l1"] or spec["l2"] else "-"}


def _cells(name: str, paper, records: list[dict], metric: str) -> dict:
    """The four columns of one metric: paper, reproduced (mean +- sd), 95% CI, difference."""
    values = [r["test"]["at_0.5"][metric] for r in records]
    out = {f"{name} paper": f"{paper:.3f}" if paper is not None else "n/a"}
    if not values:
        return {**out, f"{name} reproduced": MISSING, f"{name} 95% CI": MISSING, f"{name} diff": MISSING}
    mean = float(np.mean(values))
    spread = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
    lows, highs = zip(*(r["test"]["at_0.5"]["ci"][metric] for r in records))
    return {**out, f"{name} reproduced": f"{mean:.3f}{spread} (n={len(values)})",
            f"{name} 95% CI": f"{np.mean(lows):.3f}-{np.mean(highs):.3f}",
            f"{name} diff": f"{mean - paper:+.3f}" if paper is not None else "n/a"}


def build_table(experiment: dict, records: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per table row of the experiment; see the module docstring for the columns."""
    spec, paper = experiment["table"], experiment.get("paper", {})
    rows = []
    for number, row in enumerate(spec["rows"], 1):
        line = {"No": number, "cell": row}
        if spec.get("describe") == "table1_architecture":
            line.update(table1_architecture(row))
        for column in spec["columns"]:
            cell = column["cell"].format(row=row)
            line.update(_cells(column["name"], paper.get(cell, {}).get(column["metric"]), records.get(cell, []),
                               column["metric"]))
        rows.append(line)
    return pd.DataFrame(rows)


def title(experiment: dict, profile: str, records: dict[str, list[dict]]) -> str:
    synthetic = any(r.get("synthetic_data") for rs in records.values() for r in rs)
    note = " — SYNTHETIC PHANTOM DATA: NOT COMPARABLE TO ANY PAPER" if synthetic else ""
    return f"{experiment['title']} (profile {profile}; metrics at threshold 0.5 on the test split){note}"


def write_outputs(table: pd.DataFrame, heading: str, out: Path) -> str:
    """table.md, table.csv, table.tex under `out` (atomic, deterministic); returns the Markdown."""
    markdown = f"# {heading}\n\n{table.to_markdown(index=False)}\n"
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
    parser.add_argument("study", help="table1, transfer, seed000, seed001, seed003")
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
        records = read_records(args.runs, study, profile)
        table = build_table(experiment, records)
        out = args.out / study / profile
        print(write_outputs(table, title(experiment, profile, records), out))
        gather_figures(args.runs, study, profile, out)
        missing += int((table == MISSING).any(axis=1).sum())
    if args.check and missing:
        print(f"error: {missing} row(s) with missing cells", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
