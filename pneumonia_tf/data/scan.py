"""Find unreadable images before a run starts, so a corrupt file never kills a long run."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from pneumonia_tf.data.index import DataError


def problem(path: str) -> str | None:
    """None when `path` decodes fully, else a short reason (zero-byte, truncated, not an image...)."""
    try:
        with open(path, "rb") as handle:
            if not handle.read(1):
                return "zero-byte file"
        with Image.open(path) as image:
            image.load()  # full decode: catches truncated JPEGs that Image.verify() misses
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        return f"truncated or corrupt image ({error})"
    return None


def find_unreadable(paths: list[str], workers: int = 8) -> dict[str, str]:
    """{path: reason} for every path that does not decode."""
    with ThreadPoolExecutor(workers) as pool:
        reasons = pool.map(problem, paths)
    return {path: reason for path, reason in zip(paths, reasons) if reason}


def drop_unreadable(df, already: dict[str, str] | None = None, strict: bool = False):
    """Index without unreadable rows, and the {path: reason} that were dropped, together with those
    `already` left out by the source (e.g. DICOMs that could not be decoded).

    With strict=True the list is an error instead (one line per file)."""
    bad = {**(already or {}), **find_unreadable(df["path"].tolist())}
    if bad and strict:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in sorted(bad.items()))
        raise DataError(f"{len(bad)} unreadable image(s) (--strict):\n{lines}")
    return df[~df["path"].isin(bad)].reset_index(drop=True), bad
