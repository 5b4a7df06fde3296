"""One self-contained HTML page per study and profile: results/<study>/<profile>/report.html.

Rendered with jinja2 (pneumonia_tf/templates/report.html.j2) from the run records and the files the
runs wrote, like the tables: the same records give the same file. Every figure is embedded as a PNG
data URI; the page loads nothing and runs no script. In the order a reader needs: title and notices,
the verdict table and a summary figure, departures and scale reductions, the data, each cell's curves,
confusion matrix, ROC and PR (and Grad-CAM/CAM grids with their scores), the DCGANs, provenance.
"""
from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.plots import plt, save
from pneumonia_tf.records import atomic_write, read_json

RUN_FIGURES = (("training_curves.png", "training curves"), ("confusion_0.5.png", "confusion matrix at 0.5"),
               ("roc.png", "ROC curve"), ("pr.png", "precision-recall curve"))


def image_uri(path: Path) -> str | None:
    """A PNG file as a data: URI (None when the file does not exist)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() if path.exists() else None


def summary_figure(experiment: dict, points: pd.DataFrame, path: Path) -> Path | None:
    """Per table column (test metrics), each row's reproduced mean with its 95% CI (blue) against the
    paper's value (red diamond), so a reader sees at a glance where the paper falls. `points`:
    pneumonia_tf.results.points."""
    if points.empty:
        return None
    columns, rows = list(dict.fromkeys(points["column"])), experiment["table"]["rows"]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns) + 1, 0.45 * len(rows) + 1.8),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], columns):
        chosen = points[points["column"] == name]
        y = [rows.index(row) for row in chosen["row"]]
        ax.errorbar(chosen["mean"], y, xerr=[chosen["mean"] - chosen["low"], chosen["high"] - chosen["mean"]],
                    fmt="o", color="tab:blue", capsize=3, label="reproduced: mean over seeds, 95% CI")
        ax.plot(chosen["paper"], y, "D", color="tab:red", label="paper")
        metric = chosen["metric"].iloc[0]
        ax.set(title=name, xlabel="loss (nats)" if metric == "loss" else f"{metric} (fraction)")
        if metric != "loss":
            ax.set_xlim(0, 1.02)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(rows)), rows)
    axes[0][0].set_ylim(len(rows) - 0.5, -0.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    fig.legend(handles, labels, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.93), frameon=False)
    fig.suptitle(f"{experiment['study']}: reproduced against the paper", y=0.99)
    return save(fig, path)


def verdict_table(experiment: dict, table: pd.DataFrame) -> pd.DataFrame:
    """The results table in long form, one line per cell and metric (easier to read than the wide
    Markdown table): row, metric, paper, reproduced, 95% CI, difference, verdict."""
    lines = []
    for _, row in table.iterrows():
        for column in experiment["table"]["columns"]:
            name = column["name"]
            lines.append({"row": row["cell"], "cell": column["cell"].format(row=row["cell"]), "metric": name,
                          **{part: row[f"{name} {part}"] for part in ("paper", "reproduced", "95% CI", "diff", "verdict")}})
    return pd.DataFrame(lines)


def curves_against_paper(experiment: dict, cell: str, records: list[dict], path: Path) -> Path | None:
    """The cell's mean training curves with the paper's first and last epoch values marked (seed 000
    reports its curves' endpoints)."""
    paper = {k: v for k, v in experiment.get("paper", {}).get(cell, {}).items() if k.startswith("history:")}
    if not paper or not records:
        return None
    history = pd.concat([pd.DataFrame(r["history"]) for r in records]).groupby("epoch").mean(numeric_only=True)
    epochs = history.index.to_numpy() + 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, unit in ((axes[0], "loss", "binary cross-entropy (nats)"), (axes[1], "accuracy", "fraction correct")):
        for prefix, label, color in (("", "train", "tab:blue"), ("val_", "validation", "tab:orange")):
            if prefix + key not in history:
                continue
            ax.plot(epochs, history[prefix + key], marker="o", color=color, label=f"{label} (reproduced)")
            for end, x in (("first", 1), ("last", epochs[-1])):
                value = paper.get(f"history:{prefix}{key}:{end}")
                if value is not None:
                    ax.plot(x, value, "D", color=color, markeredgecolor="black", markersize=8,
                            label=f"{label} (paper)" if end == "first" else None)
        ax.set(xlabel="epoch", ylabel=f"{key}: {unit}", title=f"{key}, mean over {len(records)} seed(s)")
        ax.legend()
    return save(fig, path)


def data_tables(summary: dict) -> dict:
    """HTML tables of a data_summary.json: images and patients per split and class (official and as
    used), patients shared between splits, skipped files."""
    def counts(splits: dict) -> str:
        rows = [{"split": split, "images": c["images"], "patients": c["patients"],
                 **{f"{name} images": c[name]["images"] for name in CLASSES},
                 **{f"{name} patients": c[name]["patients"] for name in CLASSES}} for split, c in splits.items()]
        return pd.DataFrame(rows).to_html(index=False, border=0)
    return {"official": counts(summary["official"]), "used": counts(summary["splits"]),
            "shared": summary["shared_patients"], "skipped": summary["skipped"],
            "official_shared": summary["official_shared_patients"]["count"], "root": summary.get("root", "")}


def cell_sections(experiment: dict, folders: dict[str, list[Path]], figures: Path) -> list[dict]:
    """Per cell with runs: its seeds, figures of its first seed, Grad-CAM/CAM grids and scores."""
    sections = []
    for cell, runs in folders.items():
        records = [read_json(run / "record.json") for run in runs]
        first = runs[0]
        images = [(caption, image_uri(first / "figures" / name)) for name, caption in RUN_FIGURES]
        curves = curves_against_paper(experiment, cell, records, figures / f"{cell}-curves-vs-paper.png")
        if curves:
            images.insert(0, ("training curves against the paper's endpoints", image_uri(curves)))
        cam = first / "cam"
        sections.append({
            "cell": cell, "seeds": [r.get("seed", "?") for r in records], "run": str(first),
            "epochs": [r.get("epochs_trained", "?") for r in records], "images": [(c, u) for c, u in images if u],
            "cam_grid": image_uri(cam / "three_rows.png"), "cam_overlays": image_uri(cam / "overlay_grid.png"),
            "cam_score": read_json(cam / "score.json") if (cam / "score.json").exists() else None})
    return sections


def dcgan_sections(study_runs: Path) -> list[dict]:
    """Per class DCGAN: the last sample grid, the loss curves and the quality report."""
    sections = []
    for class_name in CLASSES:
        run = study_runs / "dcgan" / class_name
        if not run.exists():
            continue
        grids = sorted((run / "samples").glob("*.png"))
        training = read_json(run / "training.json") if (run / "training.json").exists() else {}
        sections.append({"class": class_name, "epochs": training.get("epochs"),
                         "grid": image_uri(grids[-1]) if grids else None, "losses": image_uri(run / "losses.png"),
                         "quality": read_json(run / "quality.json") if (run / "quality.json").exists() else None})
    return sections


def provenance(folders: dict[str, list[Path]]) -> dict:
    """Commit(s), package versions, seeds and wall time per cell and seed."""
    rows, commits, versions = [], set(), {}
    for cell, runs in folders.items():
        for run in runs:
            record = read_json(run / "record.json")
            commits.add(str(record.get("git_commit")))
            versions = versions or record.get("versions", {})
            rows.append({"cell": cell, "seed": record.get("seed"), "epochs": record.get("epochs_trained"),
                         "wall time (s)": record.get("wall_time_s"), "commit": str(record.get("git_commit"))[:12]})
    return {"commits": sorted(commits), "versions": versions,
            "table": pd.DataFrame(rows).to_html(index=False, border=0) if rows else ""}


def write_report(experiment: dict, profile: str, table: pd.DataFrame, points: pd.DataFrame, notices: list[str],
                 lines: list[str], folders: dict[str, list[Path]], study_runs: Path, out: Path) -> Path:
    """Render out/report.html (see the module docstring) from the results table, its points
    (pneumonia_tf.results.points), notices, note lines and the runs' folders; returns its path."""
    figures = out / "report_figures"
    summary = summary_figure(experiment, points, figures / "summary.png")
    first = next((runs[0] for runs in folders.values() if runs), None)
    data = data_tables(read_json(first / "data_summary.json")) if first and (first / "data_summary.json").exists() \
        else None
    environment = jinja2.Environment(loader=jinja2.PackageLoader("pneumonia_tf", "templates"),
                                     autoescape=jinja2.select_autoescape(["html", "j2"]),
                                     trim_blocks=True, lstrip_blocks=True)
    verdicts = verdict_table(experiment, table).to_html(index=False, border=0, classes="verdicts")
    for verdict, css in (("within CI", "within"), ("paper above CI", "outside"), ("paper below CI", "outside")):
        verdicts = verdicts.replace(f"<td>{verdict}</td>", f'<td class="{css}">{verdict}</td>')
    html = environment.get_template("report.html.j2").render(
        title=experiment["title"], study=experiment["study"], profile=profile, notices=notices,
        averaging=experiment["table"].get("averaging", "binary"), verdicts=verdicts,
        summary=image_uri(summary) if summary else None, lines=lines, data=data,
        cells=cell_sections(experiment, folders, figures), dcgans=dcgan_sections(study_runs),
        provenance=provenance(folders), seeds=sorted({s for runs in folders.values() for s in range(len(runs))}),
    )
    return atomic_write(out / "report.html", html)
