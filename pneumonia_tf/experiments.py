"""Experiments are data: experiments/*.toml. A file's [train] table is a training config (keys as in
pneumonia_tf.train.DEFAULTS)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from pneumonia_tf.data.index import DataError


def load_experiment(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise DataError(f"{path}: no such experiment file") from None
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"{path}: not valid TOML ({error})") from None
