"""Patient-level, stratified, seeded splits: no patient is ever on two sides."""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from pneumonia_tf.data.index import DataError
from pneumonia_tf.errors import UserError


def carve_by_patient(df: pd.DataFrame, fraction: float, seed: int, into: str = "val",
                     source: str = "train") -> pd.DataFrame:
    """Move about `fraction` of the `source` rows' patients, stratified by label, to split `into`."""
    if not 0 < fraction < 1:
        raise UserError(f"split fraction must be in (0, 1), got {fraction}")
    pool = df[df["split"] == source]
    fewest = int(pool.groupby("label")["patient"].nunique().reindex([0, 1], fill_value=0).min())
    if fewest < 2:
        raise DataError(f"cannot carve a {into} split by patient: a class has {fewest} patient(s) in {source}")
    n_splits = min(max(2, round(1 / fraction)), fewest)  # tiny sets: a larger fraction rather than none
    chosen = _first_fold(tuple(pool["label"]), tuple(pool["patient"]), n_splits, seed)
    out = df.copy()
    out.loc[pool.index[list(chosen)], "split"] = into
    return out


@lru_cache(maxsize=16)
def _first_fold(labels: tuple, patients: tuple, n_splits: int, seed: int) -> tuple[int, ...]:
    """Positions of the first test fold of StratifiedGroupKFold over these rows. Kept per process: the
    search takes seconds on the Kermany set, and every cell and seed of a study carves the same split."""
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, chosen = next(folds.split(np.zeros(len(labels)), labels, groups=patients))
    return tuple(int(i) for i in chosen)


def shared_patients(df: pd.DataFrame) -> dict[str, list[str]]:
    """{"train/val": [patients in both], ...} for every pair of splits present."""
    by_split = df.groupby("split")["patient"].agg(set)
    return {f"{a}/{b}": sorted(by_split[a] & by_split[b]) for a, b in combinations(sorted(by_split.index), 2)}
