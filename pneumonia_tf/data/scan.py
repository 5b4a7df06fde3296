"""Find unreadable images before a run starts, so a corrupt file never kills a long run.

The check is the decode itself: each file is decoded into the persistent decoded cache at the run's
image size (pneumonia_tf.data.decoded_cache.decode_missing), which the pipeline reads next, so a first
run decodes each file once and a later run only finds its entry. A file that fails is read again with
PIL, for a reason a person can act on.
"""
from __future__ import annotations

import os

from PIL import Image

from pneumonia_tf.data import decoded_cache
from pneumonia_tf.data.index import DataError

CHANNELS = 3  # the channels the check decodes (and caches) at; a 1-channel model's pipeline decodes its own


def reason(path: str) -> str:
    """Why `path` does not decode: zero-byte, truncated or corrupt (PIL's words), or, when PIL reads it
    in full, that TensorFlow cannot."""
    try:
        with open(path, "rb") as handle:
            if not handle.read(1):
                return "zero-byte file"
        with Image.open(path) as image:
            image.load()  # a full decode: catches truncated JPEGs that Image.verify() misses
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        return f"truncated or corrupt image ({error})"
    return "TensorFlow cannot decode it"


_READABLE: dict[str, tuple[int, int]] = {}  # path -> (size, mtime ns) this process found readable


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def find_unreadable(paths: list[str], image_size: int) -> dict[str, str]:
    """{path: reason} for every path that does not decode at (image_size, image_size, 3); the others are
    in the decoded cache after this. A file this process found readable before, with the same size and
    modification time, is not looked up again (one stat): every cell of a study reads the same files."""
    unseen = [path for path in paths if path not in _READABLE or _READABLE[path] != _identity(path)]
    bad = {path: reason(path) for path in decoded_cache.decode_missing(unseen, image_size, CHANNELS)}
    _READABLE.update((path, _identity(path)) for path in unseen if path not in bad)
    return bad


def drop_unreadable(df, image_size: int, already: dict[str, str] | None = None, strict: bool = False):
    """Index without unreadable rows, and the {path: reason} that were dropped, together with those
    `already` left out by the source (e.g. DICOMs that could not be decoded).

    With strict=True the list is an error instead (one line per file)."""
    bad = {**(already or {}), **find_unreadable(df["path"].tolist(), image_size)}
    if bad and strict:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in sorted(bad.items()))
        raise DataError(f"{len(bad)} unreadable image(s) (--strict):\n{lines}")
    return df[~df["path"].isin(bad)].reset_index(drop=True), bad
