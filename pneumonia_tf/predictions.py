"""Per-image predictions of an evaluated run: <run>/predictions.csv.

One row per validation and test image, columns split, path, patient, label, score (score: the
predicted probability of PNEUMONIA; label 0 NORMAL / 1 PNEUMONIA). Written when a run is evaluated
(train, evaluate, external evaluation); every statistic of pneumonia_tf.results and pneumonia_tf.stats
reads these files, never re-predicted scores.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pneumonia_tf.errors import UserError
from pneumonia_tf.records import atomic_write

FILE = "predictions.csv"
COLUMNS = ["split", "path", "patient", "label", "score"]


def predictions_frame(splits: dict[str, tuple[pd.DataFrame, np.ndarray]]) -> pd.DataFrame:
    """{split: (index rows with path, patient, label; scores (N,))} -> the predictions table."""
    parts = [frame.assign(split=split, score=np.asarray(scores, dtype=float))[COLUMNS]
             for split, (frame, scores) in splits.items()]
    table = pd.concat(parts, ignore_index=True)
    table["label"] = table["label"].astype(int)
    return table


def write_predictions(folder: Path, splits: dict[str, tuple[pd.DataFrame, np.ndarray]]) -> Path:
    """Write folder/predictions.csv (atomic) from {split: (rows, scores)}; returns its path. Scores are
    written with 17 significant digits, so statistics read back exactly what was predicted."""
    return atomic_write(Path(folder) / FILE, predictions_frame(splits).to_csv(index=False, float_format="%.17g"))


def read_predictions(folder: Path) -> pd.DataFrame:
    """A run's predictions.csv; a missing or malformed file is a UserError naming it."""
    path = Path(folder) / FILE
    if not path.is_file():
        raise UserError(f"{path}: no predictions; re-evaluate the run with python -m pneumonia_tf.evaluate --run "
                        f"{folder}")
    table = pd.read_csv(path, dtype={"path": str, "patient": str, "split": str})
    missing = sorted(set(COLUMNS) - set(table.columns))
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    return table


def stacked_scores(tables: list[pd.DataFrame], split: str = "test", where: str = "") -> tuple[np.ndarray, np.ndarray,
                                                                                              list[str]]:
    """(labels (N,), scores (seeds, N), paths) of one split over several runs (a cell's seeds), aligned
    by image path. Runs that scored different images are a UserError: their metrics are not comparable."""
    chosen = [t[t["split"] == split].sort_values("path", kind="stable") for t in tables]
    first = chosen[0]
    for other in chosen[1:]:
        if list(other["path"]) != list(first["path"]) or list(other["label"]) != list(first["label"]):
            raise UserError(f"{where}: the seeds' {split} predictions are on different images")
    return (first["label"].to_numpy(int), np.stack([t["score"].to_numpy(float) for t in chosen]),
            first["path"].tolist())
