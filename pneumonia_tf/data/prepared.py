"""Prepared TensorFlow Datasets builds read as the suite reads files: each build (pneumonia_tf.tfds's
builders, or any prepared image data set with the same features) exported once per machine into the
cache as image files with an index.csv, keeping the builder's splits. `--data tfds:NAME`."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import tensorflow_datasets as tfds
from PIL import Image

from pneumonia_tf import CLASSES
from pneumonia_tf.data.cache import cache_dir, fill_once
from pneumonia_tf.data.index import make_index
from pneumonia_tf.tfds import SPLITS, prepared_builder


def export_prepared(builder, folder: Path) -> None:
    """Write a prepared TFDS data set as image files under folder/<split>/<CLASS>/ with an index.csv
    (path relative to folder, label, patient, split, boxes), for the suite's file-based pipeline."""
    rows = []
    for tfds_split, ours in SPLITS.items():
        for i, example in enumerate(tfds.as_numpy(builder.as_dataset(split=tfds_split))):
            name = example.get("file_name", b"").decode() or f"{i:06d}"
            relative = Path(ours) / CLASSES[int(example["label"])] / f"{Path(name).stem}-{i}.png"
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(example["image"][..., 0]).save(folder / relative)
            boxes = [[float(b[1]), float(b[0]), float(b[3] - b[1]), float(b[2] - b[0])] for b in example.get("boxes", [])]
            rows.append(dict(path=str(relative), label=int(example["label"]), patient=example["patient"].decode(),
                             split=ours, boxes=json.dumps(boxes)))
    pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)


def load_prepared(spec: str):
    """(index, folder) of a prepared TFDS data set, exported once per machine into the cache (keyed by
    name, config, version and data_dir); the index keeps the builder's splits."""
    builder = prepared_builder(spec)
    key = hashlib.sha1(f"{builder.info.full_name}:{builder.data_dir}".encode()).hexdigest()[:12]
    folder = fill_once(cache_dir("tfds") / f"{builder.name}-{builder.builder_config.name}-{key}",
                       lambda partial: export_prepared(builder, partial))
    frame = pd.read_csv(folder / "index.csv", dtype={"patient": str}, keep_default_na=False)
    rows = [dict(row, path=str(folder / row["path"]), source=f"tfds:{spec}") for row in frame.to_dict("records")]
    return make_index(rows, f"tfds:{spec}"), folder
