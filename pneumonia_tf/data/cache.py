"""Where derived data lives: $PNEUMONIA_TF_CACHE, else ~/.cache/pneumonia_tf."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("PNEUMONIA_TF_CACHE", Path.home() / ".cache" / "pneumonia_tf"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
