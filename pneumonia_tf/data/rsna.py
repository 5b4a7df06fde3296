"""RSNA Pneumonia Detection Challenge (seed 001): stage_2_train_labels.csv + stage_2_train_images/*.dcm.

One example per patientId (one image each); every box of a patient is kept, as fractions of the image
side, for localization scoring. DICOMs are decoded once, resized to the configured size and cached
as PNG. There is no labelled official test set, so test is carved by patient (seeded, stratified).
"""
from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pneumonia_tf.data.cache import cache_dir, file_key
from pneumonia_tf.data.dicom import read_dicom
from pneumonia_tf.data.index import DataError, make_index
from pneumonia_tf.data.splits import carve_by_patient
from pneumonia_tf.records import atomic_write

LABELS_CSV = "stage_2_train_labels.csv"
DETAILS_CSV = "stage_2_detailed_class_info.csv"
IMAGES_DIR = "stage_2_train_images"
REQUIRED = ["patientId", "x", "y", "width", "height", "Target"]


def read_labels(csv: Path) -> pd.DataFrame:
    """One row per patient: patientId, label (0/1), boxes (list of [x, y, w, h] in pixels)."""
    table = pd.read_csv(csv)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataError(f"{csv}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED)}")
    rows = []
    for pid, group in table.groupby("patientId", sort=True):
        boxes = group.dropna(subset=["x", "y", "width", "height"])[["x", "y", "width", "height"]]
        rows.append(dict(patientId=pid, label=int(group["Target"].max()), boxes=boxes.values.tolist()))
    return pd.DataFrame(rows)


def is_rsna(path: Path) -> bool:
    return path.is_dir() and (path / LABELS_CSV).exists()


def _decode_to_cache(dcm: Path, target: Path, size: int) -> tuple[int, int] | str:
    """Decode `dcm` once into a size x size 8-bit PNG at `target` (atomic); return the original (W, H),
    or the reason it cannot be decoded (a DataError's message: file name and what is wrong)."""
    if target.exists():
        with Image.open(target) as cached:
            return tuple(int(v) for v in cached.text["original_size"].split(","))
    try:
        image = read_dicom(str(dcm))
    except DataError as error:
        return str(error)
    pil = Image.fromarray((image * 255).round().astype(np.uint8)).resize((size, size), Image.BILINEAR)
    info = PngInfo()
    info.add_text("original_size", f"{image.shape[1]},{image.shape[0]}")
    png = io.BytesIO()
    pil.save(png, format="PNG", pnginfo=info)
    atomic_write(target, png.getvalue())  # a private temporary file per writer, then a rename
    return image.shape[1], image.shape[0]


def load_rsna(root: str | Path, size: int = 256, test_fraction: float = 0.1, seed: int = 0,
              workers: int = 8) -> tuple[pd.DataFrame, dict[str, str]]:
    """(index of the RSNA set, {DICOM path: reason} for the files that could not be decoded and were left
    out). Index paths point to cached PNGs of side `size`."""
    root = Path(root)
    labels = read_labels(root / LABELS_CSV)
    images = root / IMAGES_DIR
    if not images.is_dir():
        raise DataError(f"{root}: missing folder {IMAGES_DIR}/ with the .dcm files")
    details = root / DETAILS_CSV
    kinds = (pd.read_csv(details).drop_duplicates("patientId").set_index("patientId")["class"]
             if details.exists() else None)
    cache = cache_dir("rsna", f"{root.resolve().name}-{size}")
    dcms = [images / f"{pid}.dcm" for pid in labels["patientId"]]
    absent = [str(d) for d in dcms if not d.exists()]
    if absent:
        raise DataError(f"{images}: {len(absent)} DICOM(s) named in {LABELS_CSV} are missing, e.g. {absent[0]}")
    targets = [cache / f"{d.stem}-{file_key(d)[:12]}.png" for d in dcms]  # a changed file is decoded again
    with ThreadPoolExecutor(workers) as pool:
        shapes = list(pool.map(lambda a: _decode_to_cache(*a, size), zip(dcms, targets)))
    rows, skipped = [], {}
    for (_, row), dcm, target, shape in zip(labels.iterrows(), dcms, targets, shapes):
        if isinstance(shape, str):
            skipped[str(dcm)] = shape.removeprefix(f"{dcm}: ")
            continue
        width, height = shape
        boxes = [[x / width, y / height, w / width, h / height] for x, y, w, h in row["boxes"]]
        rows.append(dict(path=str(target), label=row["label"], patient=row["patientId"], split="train",
                         source="rsna", boxes=json.dumps(boxes),
                         kind=kinds.get(row["patientId"], "") if kinds is not None else ""))
    df = make_index(rows, str(root))
    return carve_by_patient(df, test_fraction, seed, into="test"), skipped
