"""The one interface every data source returns: an index DataFrame, one row per image.

Columns: path (str), label (0 NORMAL / 1 PNEUMONIA), patient (str), split ("train"/"val"/"test"),
source (str). RSNA and the synthetic phantom add boxes: a JSON list of [x, y, w, h] as fractions of
the image side ("[]" when none); the phantom also adds mask (opacity mask PNG path, "" for NORMAL).
"""
from __future__ import annotations

import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.errors import UserError

COLUMNS = ["path", "label", "patient", "split", "source"]
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


class DataError(UserError):
    """A user's data problem: the message names the path and what was expected."""


class DataWarning(UserWarning):
    """Data the suite reads but that weakens what its numbers mean (e.g. patients in two official splits)."""


def make_index(rows: list[dict], where: str) -> pd.DataFrame:
    """Rows (dicts with COLUMNS) -> index DataFrame; an empty result is an error naming `where`."""
    if not rows:
        raise DataError(f"{where}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
    df = pd.DataFrame(rows)
    df["label"] = df["label"].astype("int64")
    return df.sort_values(["split", "label", "path"], kind="stable").reset_index(drop=True)


def class_name(label: int) -> str:
    return CLASSES[int(label)]


def label_of(name: str, where: str) -> int:
    """Class folder name (any case) -> label; unknown names are an error naming `where`."""
    upper = name.upper()
    if upper not in CLASSES:
        raise DataError(f"{where}: unknown class {name!r}; expected one of {', '.join(CLASSES)}")
    return CLASSES.index(upper)
