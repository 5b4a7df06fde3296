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


def experiment_path(study: str | Path) -> Path:
    """A study name (table1, transfer, seed000, ...) or a path -> the experiment file."""
    path = Path(study)
    return path if path.suffix == ".toml" else Path(__file__).resolve().parents[1] / "experiments" / f"{study}.toml"


def deep_merge(base: dict, override: dict) -> dict:
    """base updated by override; nested dicts merged key by key."""
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def cell_configs(experiment: dict, profile: str, data: str | None = None) -> dict[str, dict]:
    """{cell: training config} for a profile: [train], then the profile's train, then the cell's own."""
    if profile not in experiment.get("profiles", {}):
        raise DataError(f"study {experiment.get('study')!r}: unknown profile {profile!r}; "
                        f"expected one of {', '.join(experiment.get('profiles', {}))}")
    chosen = experiment["profiles"][profile]
    base = deep_merge(experiment.get("train", {}), chosen.get("train", {}))
    base["data"] = data or chosen.get("data", "synthetic")
    return {cell: deep_merge(base, overrides) for cell, overrides in experiment["cells"].items()}
