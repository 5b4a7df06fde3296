"""A study's finished runs, read once: per cell, its seeds' run folders, records and predictions.

runs/<study>/<profile>/<cell>/<seed>/ holds a training run (record.json, predictions.csv); the DCGANs
of seed S are in runs/<study>/<profile>/dcgan/<S>/<CLASS>/. Everything downstream (the results table,
the claims, the report) asks this object for scores instead of reading files again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonia_tf.predictions import FILE as PREDICTIONS, read_predictions, stacked_scores
from pneumonia_tf.records import read_json

DCGAN = "dcgan"  # the DCGANs' folder among the cells
ESTIMATE = "estimate.json"  # in a run folder: {"estimate_s": reproduce --plan's estimate}, written as it starts


def unfinished(study_runs: Path, jobs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The (seed, cell) pairs of `jobs` whose run folder study_runs/<cell>/<seed>/ has no record.json yet."""
    return [(seed, cell) for seed, cell in jobs if not (study_runs / cell / str(seed) / "record.json").exists()]


@dataclass
class Cell:
    """One cell's finished seeds, by seed: folders, records, predictions tables (None where a run
    has no predictions.csv, written before predictions were kept)."""
    name: str
    folders: list[Path]
    records: list[dict]
    tables: list[pd.DataFrame | None] = field(repr=False)

    @property
    def seeds(self) -> list[int]:
        return [int(record.get("seed", folder.name)) for record, folder in zip(self.records, self.folders)]

    @property
    def has_predictions(self) -> bool:
        return bool(self.tables) and all(table is not None for table in self.tables)

    def scores(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """(labels (N,), scores (seeds, N)) of `split` ("test" or "val"), images aligned by path."""
        return self._scores[split]

    @cached_property
    def _scores(self) -> dict:
        out = {}
        for split in ("test", "val"):
            if all((t["split"] == split).any() for t in self.tables):
                labels, scores, _ = stacked_scores(self.tables, split, where=f"cell {self.name}")
                out[split] = (labels, scores)
        return out

    def externals(self) -> list[dict]:
        """The external evaluations of this cell's runs (RUN/external/NAME/record.json), with seed and name."""
        return [{"seed": seed, "name": path.parent.name, **read_json(path)}
                for seed, folder in zip(self.seeds, self.folders) for path in sorted(folder.glob("external/*/record.json"))]

    def has_split(self, split: str) -> bool:
        return self.has_predictions and split in self._scores


def read_study(runs: Path, study: str, profile: str) -> dict[str, Cell]:
    """{cell: Cell} of every cell with at least one finished seed (record.json), seeds in order."""
    found: dict[str, list[Path]] = {}
    for path in sorted((runs / study / profile).glob("*/*/record.json"), key=lambda p: (p.parts[-3], int(p.parts[-2]))):
        if path.parts[-3] != DCGAN:
            found.setdefault(path.parts[-3], []).append(path.parent)
    return {cell: Cell(cell, folders, [read_json(f / "record.json") for f in folders],
                       [read_predictions(f) if (f / PREDICTIONS).exists() else None for f in folders])
            for cell, folders in found.items()}


def dcgan_quality(study_runs: Path, seed: int) -> dict[str, dict]:
    """{class: quality report} of seed `seed`'s DCGANs (runs/<study>/<profile>/dcgan/<seed>/<CLASS>/quality.json)."""
    folder = study_runs / DCGAN / str(seed)
    return {path.parent.name: read_json(path) for path in sorted(folder.glob("*/quality.json"))}


def maps_seconds(run_folder: Path) -> float | None:
    """The seconds a run's maps took (the sum of cam/score.json's timings_s), None without them."""
    cam = Path(run_folder) / "cam" / "score.json"
    if not cam.exists():
        return None
    return sum(read_json(cam).get("timings_s", {}).values()) or None
