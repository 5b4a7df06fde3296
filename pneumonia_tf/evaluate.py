"""Evaluate a run on the test split: metrics at 0.5 and at a threshold chosen on VALIDATION, with
bootstrap 95% CIs, per-image predictions (predictions.csv) and figures; rewrites record.json with
the rule and resamples used. With --data, evaluate it on ANOTHER data set instead (external
validation) into RUN/external/NAME/, with DeLong's test of internal against external ROC AUC.

python -m pneumonia_tf.evaluate --run runs/NAME [--rule youden|sensitivity] [--resamples 1000]
python -m pneumonia_tf.evaluate --run runs/NAME --data OTHER [--name NAME] [--split test|all]
"""
from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from pneumonia_tf import CLASSES, cli, plots
from pneumonia_tf.data.index import DataError
from pneumonia_tf.data.pipeline import make_dataset
from pneumonia_tf.data.sources import load
from pneumonia_tf.inputs import check_shape, datasets_for
from pneumonia_tf.metrics import choose_threshold, report
from pneumonia_tf.predictions import read_predictions, write_predictions
from pneumonia_tf.records import provenance, write_json
from pneumonia_tf.run_folder import Run, open_run
from pneumonia_tf.stats import delong_unpaired


def predict(model: keras.Model, dataset) -> np.ndarray:
    """Probabilities of PNEUMONIA, (N,) float."""
    return model.predict(dataset, verbose=0)[:, 0].astype(float)


def evaluate(model, val_frame: pd.DataFrame, val_scores, test_frame: pd.DataFrame, test_scores, out: Path,
             rule: str = "youden", resamples: int = 1000, seed: int = 0, select_on: str = "val") -> dict:
    """Metrics dict {"at_0.5": ..., "at_val_threshold": ..., "rule": ...}; writes out/predictions.csv
    (validation and test rows; test rows only when select_on = "test", where the test split was the
    validation data) and figures under out/."""
    threshold = choose_threshold(val_frame["label"], val_scores, rule)
    splits = {"val": (val_frame, val_scores)} if select_on == "val" else {}
    write_predictions(out, {**splits, "test": (test_frame, test_scores)})
    labels = test_frame["label"].to_numpy()
    result = {"threshold_rule": rule, "val_threshold": threshold,
              "at_0.5": report(labels, test_scores, 0.5, resamples, seed),
              "at_val_threshold": report(labels, test_scores, threshold, resamples, seed)}
    figures = out / "figures"
    plots.confusion(labels, test_scores, 0.5, figures / "confusion_0.5.png")
    plots.confusion(labels, test_scores, threshold, figures / "confusion_val_threshold.png")
    plots.roc(labels, test_scores, figures / "roc.png")
    plots.precision_recall(labels, test_scores, figures / "pr.png")
    plots.worst_errors(test_frame["path"].tolist(), labels, test_scores, figures / "worst_errors.png")
    history = out / "history.csv"
    if history.exists():
        plots.training_curves(pd.read_csv(history), figures / "training_curves.png")
    return result


def format_metrics(result: dict) -> str:
    lines = []
    for key in ("at_0.5", "at_val_threshold"):
        r = result[key]
        lines.append(f"test metrics {key} (threshold {r['threshold']:.3f}):")
        for name, (low, high) in r["ci"].items():
            lines.append(f"  {name:12s} {r[name]:.3f}  [95% CI {low:.3f}-{high:.3f}]")
        lines.append(f"  confusion [[TN, FP], [FN, TP]] = {r['confusion_matrix']}")
    return "\n".join(lines)


def external_frame(run: Run, data: str, split: str) -> pd.DataFrame:
    """The rows of another data set a run is evaluated on, read at the run's image size: its test split
    or all of it. Data the loaders refuse (a missing class, a bad layout) and an empty split are one-line
    errors naming the data."""
    config = run.config
    index = load(data, image_size=config["image_size"], strict=config["strict"], **check_shape(config)).index
    rows = index if split == "all" else index[index["split"] == "test"]
    if rows.empty:
        raise DataError(f"{data}: no images in its {split} split to evaluate {run.path} on")
    return rows.reset_index(drop=True)


def evaluate_external(run: Run, data: str, name: str, split: str = "test", resamples: int = 1000) -> dict:
    """Evaluate a finished run on another data set; writes RUN/external/NAME/{record.json,
    predictions.csv, figures/} and returns the record. Channels, size and normalization are the run's
    (its training mean/std where it standardized). The record holds the metrics at 0.5 and at the
    run's validation threshold, and DeLong's test of the run's internal test ROC AUC against the
    external one: two independent image sets, so the unpaired form (variances added)."""
    config, out = run.config, run.path / "external" / name
    rows = external_frame(run, data, split)
    normalization, mean_std = run.normalization()
    dataset = make_dataset(rows["path"], rows["label"], image_size=config["image_size"], channels=config["channels"],
                           batch_size=config["batch_size"], normalization=normalization, mean_std=mean_std,
                           decoded_cache=config["decoded_cache"])
    scores = predict(run.model(), dataset)
    write_predictions(out, {split: (rows, scores)})
    internal = read_predictions(run.path)
    internal = internal[internal["split"] == "test"]
    labels = rows["label"].to_numpy()
    threshold = run.record["test"]["val_threshold"]
    comparison = delong_unpaired(internal["label"], internal["score"], labels, scores)
    record = {"run": str(run.path), "data": data, "split": split, "images": len(rows),
              "classes": {c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
              "at_0.5": report(labels, scores, 0.5, resamples, config["seed"]),
              "at_val_threshold": report(labels, scores, threshold, resamples, config["seed"]),
              "internal_vs_external_roc_auc": {**comparison, "test": "DeLong, unpaired (independent image sets)"},
              **provenance()}
    plots.confusion(labels, scores, 0.5, out / "figures" / "confusion_0.5.png")
    plots.roc(labels, scores, out / "figures" / "roc.png")
    plots.precision_recall(labels, scores, out / "figures" / "pr.png")
    write_json(out / "record.json", record)
    return record


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.evaluate", __doc__)
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--rule", default="youden", choices=["youden", "sensitivity"])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--data", help="evaluate on this other data set (external validation) instead")
    parser.add_argument("--name", help="with --data: the folder under RUN/external/ (default: the data's name)")
    parser.add_argument("--split", choices=["test", "all"], default="test", help="with --data: its test split or all")
    args = parser.parse_args(argv)
    run = open_run(args.run)
    if args.data:
        name = args.name or Path(args.data.rstrip("/")).name.replace(":", "-")
        record = evaluate_external(run, args.data, name, args.split, args.resamples)
        print(format_metrics(record))
        c = record["internal_vs_external_roc_auc"]
        print(f"ROC AUC internal {c['auc_a']:.3f}, external {c['auc_b']:.3f}, difference {c['diff']:+.3f} "
              f"(DeLong unpaired z {c['z']:.2f}, p {c['p']:.3g}); written to {args.run / 'external' / name}")
        return 0
    model = run.model()
    config = {**run.config, "threshold_rule": args.rule, "resamples": args.resamples}
    inputs = datasets_for(config)
    result = evaluate(model, inputs.val_frame, predict(model, inputs.val), inputs.data.split("test"),
                      predict(model, inputs.test), args.run, args.rule, args.resamples, config["seed"],
                      config["select_on"])
    write_json(args.run / "record.json", {**run.record, "config": config, "test": result})
    print(format_metrics(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
