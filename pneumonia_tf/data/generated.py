"""Images written by the DCGAN module: generated/<CLASS>/*.png, used as a training source."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.data.index import IMAGE_SUFFIXES, DataError, make_index


def is_generated(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_dir() for name in CLASSES) and not (path / "train").exists()


def load_generated(root: str | Path, split: str = "train") -> pd.DataFrame:
    """Index of generated/<CLASS>/*.png; each image is its own 'patient' (prefixed gen-<CLASS>-)."""
    root = Path(root)
    rows = []
    for label, name in enumerate(CLASSES):
        folder = root / name
        files = sorted(f for f in folder.glob("*") if f.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        rows += [dict(path=str(f), label=label, patient=f"gen-{name}-{f.stem}", split=split, source="generated")
                 for f in files]
    if not rows:
        raise DataError(f"{root}: no generated images; expected {root}/NORMAL/*.png or {root}/PNEUMONIA/*.png "
                        f"(run python -m pneumonia_tf.dcgan --class NORMAL)")
    return make_index(rows, str(root))
