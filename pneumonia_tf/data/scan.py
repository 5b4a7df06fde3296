"""Find unreadable images before a run starts, so a corrupt file never kills a long run.

A file that decoded once is remembered by its identity (resolved path, size, modification time) in
the cache folder `scanned/`, so later runs on the machine do not decode it again to check it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from pneumonia_tf.data.cache import cache_dir, file_key
from pneumonia_tf.data.index import DataError
from pneumonia_tf.records import atomic_write

DRAFT_SIZE = (64, 64)  # JPEGs are checked at a reduced DCT scale: every byte is still entropy-decoded


def _marker(path: str):
    key = file_key(path)
    return cache_dir("scanned") / key[:2] / key


def problem(path: str) -> str | None:
    """None when `path` decodes fully, else a short reason (zero-byte, truncated, not an image...)."""
    try:
        marker = _marker(path)
        if marker.exists():
            return None
        with open(path, "rb") as handle:
            if not handle.read(1):
                return "zero-byte file"
        with Image.open(path) as image:
            image.draft(image.mode, DRAFT_SIZE)  # JPEG only; other formats decode in full
            image.load()  # full decode of the data: catches truncated JPEGs that Image.verify() misses
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        return f"truncated or corrupt image ({error})"
    atomic_write(marker, b"")
    return None


_READABLE: dict[str, tuple[int, int]] = {}  # path -> (size, mtime ns) this process found readable


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def find_unreadable(paths: list[str], workers: int = 8) -> dict[str, str]:
    """{path: reason} for every path that does not decode. A file this process found readable before,
    with the same size and modification time, is not looked up again (one stat): every cell of a
    study reads the same files."""
    unseen = [path for path in paths if path not in _READABLE or _READABLE[path] != _identity(path)]
    with ThreadPoolExecutor(workers) as pool:
        reasons = dict(zip(unseen, pool.map(problem, unseen)))
    _READABLE.update((path, _identity(path)) for path, reason in reasons.items() if not reason)
    return {path: reason for path, reason in reasons.items() if reason}


def drop_unreadable(df, already: dict[str, str] | None = None, strict: bool = False):
    """Index without unreadable rows, and the {path: reason} that were dropped, together with those
    `already` left out by the source (e.g. DICOMs that could not be decoded).

    With strict=True the list is an error instead (one line per file)."""
    bad = {**(already or {}), **find_unreadable(df["path"].tolist())}
    if bad and strict:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in sorted(bad.items()))
        raise DataError(f"{len(bad)} unreadable image(s) (--strict):\n{lines}")
    return df[~df["path"].isin(bad)].reset_index(drop=True), bad
