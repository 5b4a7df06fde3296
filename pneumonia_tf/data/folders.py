"""Data sets read from files: the Data class, the index of a folder, zip or phantom, and how an index
becomes the splits (unreadable images dropped, validation carved by patient). pneumonia_tf.data.sources
is the one entry point (it adds prepared TFDS builds); the TFDS builders read folders through here."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.data.generated import is_generated, load_generated
from pneumonia_tf.data.index import DataError, DataWarning
from pneumonia_tf.data.kermany import index_root, kermany_root
from pneumonia_tf.data.rsna import is_rsna, load_rsna
from pneumonia_tf.data.scan import drop_unreadable
from pneumonia_tf.data.splits import carve_by_patient, shared_patients
from pneumonia_tf.data.synthetic import load_synthetic


@dataclass
class Data:
    """An index (see pneumonia_tf.data.index) with train/val/test, and what was left out.

    name: "synthetic" or the data set asked for; root: the folder its images were read from."""
    index: pd.DataFrame
    name: str
    image_size: int
    root: str = ""
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    official_shared: list[str] = field(default_factory=list)  # patients in both official train and test

    @property
    def synthetic(self) -> bool:
        return self.name == "synthetic"

    @cached_property
    def mean_std(self) -> tuple[float, float]:
        """Pixel mean and std in [0, 1] of the training split (for normalization 'standardize')."""
        from pneumonia_tf.data.pipeline import mean_std
        return mean_std(self.split("train")["path"], self.image_size)

    def split(self, name: str) -> pd.DataFrame:
        return self.index[self.index["split"] == name].reset_index(drop=True)

    def summary(self) -> dict:
        """Images and patients per split and class (the official train/test, and train/val/test after
        carving), skipped files, and patients crossing splits."""
        official = self.index.assign(split=self.index["split"].replace({"val": "train"}))
        shared = shared_patients(self.index)
        return {"data": self.name, "root": self.root, "official": _counts(official), "splits": _counts(self.index),
                "skipped": [{"path": p, "reason": r} for p, r in sorted(self.skipped.items())],
                "official_shared_patients": {"count": len(self.official_shared),
                                             "examples": self.official_shared[:5]},
                "shared_patients": {pair: len(ids) for pair, ids in shared.items()},
                "shared_patient_examples": {pair: ids[:5] for pair, ids in shared.items() if ids}}


def _counts(index: pd.DataFrame) -> dict:
    counts = {}
    for split, rows in index.groupby("split"):
        counts[split] = {"images": int(len(rows)), "patients": int(rows["patient"].nunique()),
                         **{cls: {"images": int((rows["label"] == i).sum()),
                                  "patients": int(rows.loc[rows["label"] == i, "patient"].nunique())}
                            for i, cls in enumerate(CLASSES)}}
    return counts


def read_index(data: str, image_size: int = 128, seed: int = 0) -> tuple[pd.DataFrame, str, str, dict[str, str]]:
    """(raw index, name, root folder, {path: reason} left out while reading) of `data` ("synthetic",
    "synthetic-marker" (PNEUMONIA images carry a corner letter: the shortcut audit's test), a Kermany
    folder or zip, an RSNA folder, a generated/ folder); prepared TFDS builds: pneumonia_tf.data.sources."""
    kind, _, count = data.partition(":")
    if kind in ("synthetic", "synthetic-marker"):  # synthetic:N = N train images per class
        per_class = int(count or 300)
        index = load_synthetic(size=image_size, train_per_class=per_class, test_per_class=max(per_class // 3, 8),
                               marker=kind == "synthetic-marker")
        return index, "synthetic", str(Path(index["path"].iloc[0]).parents[2]), {}
    path = Path(data)
    if is_rsna(path):
        index, skipped = load_rsna(path, size=image_size, seed=seed)
        return index, str(path), str(path.resolve()), skipped
    if is_generated(path):
        return load_generated(path), str(path), str(path.resolve()), {}
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (or pass --data synthetic for the built-in phantom)")
    root = kermany_root(path)
    return index_root(root), str(path), str(root.resolve()), {}


def load_files(data: str, image_size: int = 128, val_fraction: float = 0.1, seed: int = 0,
               strict: bool = False, channels: int = 3, decoded_cache: bool = True) -> Data:
    """load() for everything but prepared TFDS builds (pneumonia_tf.data.sources.load)."""
    index, name, root, unreadable = read_index(data, image_size, seed)
    return make_data(index, name, root, unreadable, image_size, val_fraction, seed, strict, channels, decoded_cache)


def make_data(index: pd.DataFrame, name: str, root: str, unreadable: dict[str, str], image_size: int,
              val_fraction: float, seed: int, strict: bool, channels: int = 3, decoded_cache: bool = True) -> Data:
    """The Data of a raw index: unreadable images dropped (listed in .skipped; with strict=True they are
    an error), a warning (or with strict an error) when official train and test share patients, and a
    validation split carved from train by patient (stratified, seeded) unless the index has one. The
    check decodes at (image_size, image_size, channels) into the persistent cache, the pipeline's next
    read; with decoded_cache=False it writes nothing there."""
    index, skipped = drop_unreadable(index, image_size, unreadable, strict=strict, channels=channels,
                                     keep=decoded_cache)
    official_shared = shared_patients(index.assign(split=index["split"].replace({"val": "train"}))).get(
        "test/train", [])
    if official_shared:
        message = (f"{root}: {len(official_shared)} patient(s) appear in both the official train and test splits "
                   f"(e.g. {', '.join(official_shared[:3])}); test metrics would be optimistic")
        if strict:
            raise DataError(message + " (--strict)")
        warnings.warn(f"*** WARNING: {message}. Pass --strict to refuse such data. ***", DataWarning, stacklevel=2)
    if "val" not in set(index["split"]) and (index["split"] == "train").any():
        index = carve_by_patient(index, val_fraction, seed, into="val")
    return Data(index=index, name=name, image_size=image_size, root=root, skipped=skipped,
                official_shared=official_shared)
