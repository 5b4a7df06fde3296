"""One self-contained HTML page per study and profile: results/<study>/<profile>/report.html.

Rendered with jinja2 (pneumonia_tf/templates/report.html.j2) from the long-form results table and the
claims of pneumonia_tf.results, and the files the runs wrote: the same records give the same file. Every
figure is embedded as a PNG data URI; the page loads nothing and runs no script. In the order a
reproduction report opens (the ReScience / ML Reproducibility Challenge format): a one-page summary
(what the paper reports, how many of its numbers reproduced, the claims and their verdicts, the
departures and scale reductions, seeds, profile and data), then the claims, the numbers with the
baselines and optimism gaps and a summary figure, the data, each cell's curves, confusion matrix, ROC
and PR (and Grad-CAM/CAM grids with their scores), the DCGANs, provenance.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path

import jinja2
import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.experiments import test_selected
from pneumonia_tf.plots import plt, save
from pneumonia_tf.records import atomic_write, read_json
from pneumonia_tf.study_runs import ESTIMATE, Cell, maps_seconds
from pneumonia_tf.tables import INTERVAL_NOTE, SECTIONS, display_claims, display_table, table1_architecture

RUN_FIGURES = (("training_curves.png", "training curves"), ("confusion_0.5.png", "confusion matrix at 0.5"),
               ("roc.png", "ROC curve"), ("pr.png", "precision-recall curve"))


def image_uri(path: Path) -> str | None:
    """A PNG file as a data: URI (None when the file does not exist)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() if path.exists() else None


def summary_figure(experiment: dict, table: pd.DataFrame, path: Path) -> Path | None:
    """Per table column (test metrics), each row's reproduced mean with its interval over seeds and
    test images (blue) against the paper's value (red diamond), so a reader sees at a glance where the
    paper falls. `table`: the long form of pneumonia_tf.results.long_table."""
    points = table[(table["kind"] == "cell") & ~table["metric"].str.startswith("history:") & table["mean"].notna()]
    if points.empty:
        return None
    columns, rows = list(dict.fromkeys(points["column"])), experiment["table"]["rows"]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns) + 1, 0.45 * len(rows) + 1.8),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], columns):
        chosen = points[points["column"] == name]
        y = [rows.index(row) for row in chosen["row"]]
        ax.errorbar(chosen["mean"], y, xerr=[chosen["mean"] - chosen["low"], chosen["high"] - chosen["mean"]],
                    fmt="o", color="tab:blue", capsize=3, label="reproduced: mean over seeds, 95% interval")
        ax.plot(chosen["paper"].astype(float), y, "D", color="tab:red", label="paper")
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


def coloured(html: str) -> str:
    """Table HTML with each verdict cell classed by its first word (reproduced, higher, lower,
    inconclusive, degenerate, missing, supported, contradicted), for the page's colours."""
    return re.sub(r"<td>(reproduced|higher|lower|inconclusive|degenerate|missing|supported|contradicted)",
                  lambda m: f'<td class="{m.group(1)}">{m.group(1)}', html)


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


def cell_sections(experiment: dict, cells: dict[str, Cell], figures: Path) -> list[dict]:
    """Per cell with runs: its seeds, figures of its first seed, Grad-CAM/CAM grids and scores."""
    sections = []
    for name, cell in cells.items():
        first = cell.folders[0]
        images = [(caption, image_uri(first / "figures" / file)) for file, caption in RUN_FIGURES]
        curves = curves_against_paper(experiment, name, cell.records, figures / f"{name}-curves-vs-paper.png")
        if curves:
            images.insert(0, ("training curves against the paper's endpoints", image_uri(curves)))
        cam = first / "cam"
        sections.append({
            "cell": name, "seeds": cell.seeds, "run": str(first), "protocol": test_selected(experiment["cells"].get(name, {})),
            "epochs": [r.get("epochs_trained", "?") for r in cell.records], "images": [(c, u) for c, u in images if u],
            "cam_grid": image_uri(cam / "three_rows.png"), "cam_overlays": image_uri(cam / "overlay_grid.png"),
            "cam_methods": image_uri(cam / "methods_grid.png"), "cam_road": image_uri(cam / "road.png"),
            "cam_randomization": image_uri(cam / "randomization.png")})
    return sections


def dcgan_sections(study_runs: Path) -> list[dict]:
    """Per seed and class DCGAN: the last sample grid, the loss curves and the quality report."""
    sections = []
    for run in sorted(p for p in (study_runs / "dcgan").glob("*/*") if p.is_dir()):
        grids = sorted((run / "samples").glob("*.png"))
        training = read_json(run / "training.json") if (run / "training.json").exists() else {}
        sections.append({"class": run.name, "seed": run.parent.name, "epochs": training.get("epochs"),
                         "grid": image_uri(grids[-1]) if grids else None, "losses": image_uri(run / "losses.png"),
                         "quality": read_json(run / "quality.json") if (run / "quality.json").exists() else None})
    return sections


def intra_op_threads(threads: dict | None) -> str:
    """records.cpu_threads as the report shows it, "1 of 2 cores"; "not recorded" for a record from before it
    (None would show as NaN beside the rows that have it)."""
    return f"{threads['intra_op']} of {threads['cores']} cores" if threads else "not recorded"


def provenance(cells: dict[str, Cell]) -> dict:
    """Commit(s), package versions, seeds, wall time, the plan's estimate (reproduce --plan; empty
    where this machine was not calibrated when the run started), the seconds of train()'s steps
    (data, build, fit, evaluate) and of the maps (cam/, after the record; no column in a study without
    maps), and the intra-op threads (which change a CPU run's numbers; records.cpu_threads) per cell and
    seed. What a record lacks is an empty cell or "not recorded", never None or NaN."""
    rows, commits, versions = [], set(), {}
    for name, cell in cells.items():
        for record, folder in zip(cell.records, cell.folders):
            commits.add(str(record.get("git_commit")))
            versions = versions or record.get("versions", {})
            estimate = read_json(folder / ESTIMATE)["estimate_s"] if (folder / ESTIMATE).exists() else None
            steps = {f"{step} (s)": seconds for step, seconds in record.get("timings_s", {}).items()}
            rows.append({"cell": name, "seed": record.get("seed"), "split seed": record.get("split", {}).get("split_seed"),
                         "epochs": record.get("epochs_trained"), "wall time (s)": record.get("wall_time_s"),
                         "planned (s)": estimate, **steps, "maps (s)": maps_seconds(folder),
                         "intra-op threads": intra_op_threads(record.get("cpu_threads")),
                         "commit": str(record.get("git_commit"))[:12]})
    table = pd.DataFrame(rows, dtype=object)  # object: a missing estimate leaves the others whole numbers
    if rows and table["maps (s)"].isna().all():  # a study without maps (table1)
        table = table.drop(columns="maps (s)")
    return {"commits": sorted(commits), "versions": versions,
            "table": table.fillna("").to_html(index=False, border=0) if rows else ""}


def scope(experiment: dict) -> dict:
    """What the paper reports, for the summary: its numbers and its claims."""
    numbers = sum(len(values) for values in experiment.get("paper", {}).values())
    return {"numbers": numbers, "claims": len(experiment.get("claims", {})),
            "cells": len(experiment.get("cells", {}))}


def write_report(experiment: dict, profile: str, table: pd.DataFrame, claims: pd.DataFrame, counts: dict,
                 notices: list[str], lines: list[str], sections: dict[str, pd.DataFrame], cells: dict[str, Cell],
                 study_runs: Path, out: Path) -> Path:
    """Render out/report.html (see the module docstring) from the long-form table and the claims of
    pneumonia_tf.results, the verdict counts, notices, note lines and the study's runs; returns its path."""
    figures = out / "report_figures"
    summary = summary_figure(experiment, table, figures / "summary.png")
    first = next((cell.folders[0] for cell in cells.values()), None)
    data = data_tables(read_json(first / "data_summary.json")) if first and (first / "data_summary.json").exists() \
        else None
    environment = jinja2.Environment(loader=jinja2.PackageLoader("pneumonia_tf", "templates"),
                                     autoescape=jinja2.select_autoescape(["html", "j2"]),
                                     trim_blocks=True, lstrip_blocks=True)
    html_table = lambda frame, css="": coloured(frame.to_html(index=False, border=0, classes=css))  # noqa: E731
    architecture = (html_table(pd.DataFrame([table1_architecture(r) for r in experiment["table"]["rows"]]))
                    if experiment["table"].get("describe") == "table1_architecture" else None)
    extra = {kind: html_table(display_table(table, kind)) for kind in ("baseline", "optimism gap")
             if (table["kind"] == kind).any()}
    html = environment.get_template("report.html.j2").render(
        title=experiment["title"], study=experiment["study"], profile=profile, notices=notices,
        averaging=experiment["table"].get("averaging", "binary"), scope=scope(experiment), counts=counts,
        claims=claims.to_dict(orient="records"), claims_table=html_table(display_claims(claims), "claims") if len(claims)
        else None, verdicts=html_table(display_table(table, "cell"), "verdicts"), interval_note=INTERVAL_NOTE,
        baselines=extra.get("baseline"), gaps=extra.get("optimism gap"), architecture=architecture,
        sections=[(*SECTIONS[key], html_table(frame.round(3))) for key, frame in sections.items() if len(frame)],
        summary=image_uri(summary) if summary else None, lines=lines, data=data,
        cells=cell_sections(experiment, cells, figures), dcgans=dcgan_sections(study_runs),
        provenance=provenance(cells), seeds=sorted({s for cell in cells.values() for s in cell.seeds}),
    )
    return atomic_write(out / "report.html", html)
