"""A study's trust scorecard, from what explain() left in each run's cam/ folder: one row per cell and
method (and the random and centre baselines), with repeatability across the cell's seeds and
agreement across the study's architectures, both as SSIM of the maps of the same test images.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonia_tf.cam.checks import ssim
from pneumonia_tf.cam.explain import GOOD
from pneumonia_tf.records import read_json

SCORES = ["pointing_game", "iou", "auprc", "randomization_ssim", "randomization_rank_correlation", "road_morf_area",
          "road_lerf_area", "border_mass", "corner_mass"]


def saved_maps(folder: Path, method: str) -> dict[str, np.ndarray] | None:
    """{image path: map} of a run's scored images for one method, or None."""
    path = folder / "cam" / f"maps_{method}.npz"
    if not path.exists():
        return None
    with np.load(path) as data:
        return dict(zip(data["paths"].tolist(), data["maps"].astype(np.float32)))


def mean_ssim(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Mean SSIM of two runs' maps over the images both scored (NaN when none)."""
    common = sorted(set(a) & set(b))
    if not common:
        return float("nan")
    return float(np.mean(ssim(np.stack([a[p] for p in common]), np.stack([b[p] for p in common]))))


def study_scorecard(cells: dict) -> pd.DataFrame:
    """One row per (cell, map) with the scores of its first seed's cam/score.json, repeatability_ssim
    (mean SSIM between its seeds' maps) and the shortcut verdict; empty when no run was explained."""
    rows = []
    for name, cell in cells.items():
        path = cell.folders[0] / "cam" / "score.json"
        if not path.exists() or "methods" not in read_json(path):
            continue
        card = read_json(path)
        for method, scores in card["methods"].items():
            seeds = [m for m in (saved_maps(f, method) for f in cell.folders) if m]
            pairs = [mean_ssim(a, b) for a, b in combinations(seeds, 2)]
            rows.append({"cell": name, "map": method, **{k: scores.get(k) for k in SCORES},
                         "repeatability_ssim": float(np.mean(pairs)) if pairs else np.nan,
                         "seeds": len(seeds), "shortcut audit": card.get("shortcut", {}).get("verdict", "")})
        for baseline, scores in card["baselines"].items():
            rows.append({"cell": name, "map": f"baseline: {baseline}", **{k: scores.get(k) for k in SCORES}})
    return pd.DataFrame(rows)


def architecture_agreement(cells: dict) -> pd.DataFrame:
    """Mean SSIM between the maps of every two cells (first seeds) for each method, on the images both
    scored: do different architectures look at the same places?"""
    rows = []
    for (a, cell_a), (b, cell_b) in combinations(cells.items(), 2):
        for path in sorted((cell_a.folders[0] / "cam").glob("maps_*.npz")):
            method = path.stem.removeprefix("maps_")
            other = saved_maps(cell_b.folders[0], method)
            if other:
                rows.append({"cells": f"{a} vs {b}", "map": method,
                             "agreement_ssim": mean_ssim(saved_maps(cell_a.folders[0], method), other)})
    return pd.DataFrame(rows)


def good_values() -> pd.DataFrame:
    """What a good value is, for each score of the scorecard."""
    return pd.DataFrame([{"score": k, "good": GOOD[k]} for k in [*SCORES, "repeatability_ssim", "agreement_ssim"]])
