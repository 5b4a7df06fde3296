"""A finished training run folder, opened in one place: its record, its model, the data it was
trained on and how its inputs were normalized. Used by evaluate, cam, dcgan (--feature-run) and train.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras

from pneumonia_tf.config import resolve
from pneumonia_tf.errors import UserError
from pneumonia_tf.records import read_json

RECORD, MODEL = "record.json", "model.keras"


@dataclass(frozen=True)
class Run:
    path: Path
    record: dict

    @property
    def config(self) -> dict:
        """The resolved training config (pneumonia_tf.config.DEFAULTS keys). A record written before
        split_seed existed carved its split with its seed, and says so here."""
        stored = self.record["config"]
        return resolve({"split_seed": stored.get("seed", 0), **stored})

    def model(self) -> keras.Model:
        """The saved model (the best validation epoch)."""
        return keras.models.load_model(self.path / MODEL)

    def normalization(self) -> tuple:
        """(normalization mode or rescale factor, training mean/std or None), as in training."""
        from pneumonia_tf.data.pipeline import split_rescale
        _, normalization = split_rescale(self.config["augmentation"], self.config["normalization"])
        return normalization, self.record.get("mean_std")

    def normalizer(self):
        """float32 [0, 255] batch -> model input, exactly as the run's pipeline normalized it."""
        from pneumonia_tf.data.pipeline import normalizer
        return normalizer(*self.normalization())

    def data(self):
        """The run's data set (pneumonia_tf.data.sources.Data) with the same splits as in training."""
        from pneumonia_tf.inputs import load_data
        return load_data(self.config)


def open_run(path: str | Path) -> Run:
    """The finished run in `path`; a missing folder, record or model is a UserError naming it."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such run folder")
    missing = [name for name in (RECORD, MODEL) if not (path / name).is_file()]
    if missing:
        raise UserError(f"{path}: not a finished run folder (no {' and no '.join(missing)}); "
                        f"train one with python -m pneumonia_tf.train --out {path}")
    try:
        record = read_json(path / RECORD)
    except json.JSONDecodeError as error:
        raise UserError(f"{path / RECORD}: not valid JSON ({error})") from None
    if "config" not in record:
        raise UserError(f"{path / RECORD}: no 'config' in the record; not written by pneumonia_tf.train")
    return Run(path, record)
