"""Evaluate a run on the test split: metrics at 0.5 and at a threshold chosen on VALIDATION, with
bootstrap 95% CIs, and figures.

python -m pneumonia_tf.evaluate --run runs/NAME [--rule youden|sensitivity] [--resamples 1000]
"""
from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from pneumonia_tf import cli, plots
from pneumonia_tf.inputs import datasets_for
from pneumonia_tf.metrics import choose_threshold, report
from pneumonia_tf.records import write_json
from pneumonia_tf.run_folder import open_run


def predict(model: keras.Model, dataset) -> np.ndarray:
    """Probabilities of PNEUMONIA, (N,) float."""
    return model.predict(dataset, verbose=0)[:, 0].astype(float)


def evaluate(model, val_labels, val_scores, test_frame: pd.DataFrame, test_scores, out: Path,
             rule: str = "youden", resamples: int = 1000, seed: int = 0) -> dict:
    """Metrics dict {"at_0.5": ..., "at_val_threshold": ..., "rule": ...}; writes figures under out/."""
    threshold = choose_threshold(val_labels, val_scores, rule)
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


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.evaluate", __doc__)
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--rule", default="youden", choices=["youden", "sensitivity"])
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    run = open_run(args.run)
    model = run.model()
    inputs = datasets_for(run.config)
    result = evaluate(model, inputs.data.split("val")["label"], predict(model, inputs.val), inputs.data.split("test"),
                      predict(model, inputs.test), args.run, args.rule, args.resamples, run.config["seed"])
    write_json(args.run / "record.json", {**run.record, "test": result})
    print(format_metrics(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
