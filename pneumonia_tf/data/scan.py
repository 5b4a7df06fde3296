"""Find unreadable images before a run starts, so a corrupt file never kills a long run.

The check is the decode itself: each file is decoded into the persistent decoded cache at the run's
image size and channels (pneumonia_tf.data.decoded_cache.decode_missing), which the pipeline reads
next, so a first run decodes each file once and a later run only finds its entry (a run that bypasses
the cache decodes without writing). A file that fails is read again with PIL, for a reason a person
can act on.
"""
from __future__ import annotations

import os

from PIL import Image

from pneumonia_tf.data import decoded_cache
from pneumonia_tf.data.index import DataError


def reason(path: str, decode_error: str) -> str:
    """Why `path` did not decode (TensorFlow said `decode_error`), in words a person can act on: it
    cannot be read, it is zero bytes, PIL finds it truncated or corrupt, or else TensorFlow's error."""
    try:
        with open(path, "rb") as handle:
            if not handle.read(1):
                return "zero-byte file"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    try:
        with Image.open(path) as image:
            image.load()  # a full decode: catches truncated JPEGs that Image.verify() misses
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        return f"truncated or corrupt image ({error})"
    return f"TensorFlow cannot decode it ({decode_error})"


_READABLE: dict[tuple[str, int, int], tuple[int, int]] = {}  # (path, size, channels) -> (bytes, mtime ns) found readable


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def find_unreadable(paths: list[str], image_size: int, channels: int = 3, keep: bool = True) -> dict[str, str]:
    """{path: reason} for every path that does not decode at (image_size, image_size, channels); the
    others are decoded into the persistent cache (keep=False: only decoded, where the run bypasses the
    cache). A file this process found readable at that shape before, with the same size and
    modification time, is not looked up again (one stat): every cell of a study reads the same files."""
    unseen = [path for path in paths if _READABLE.get((path, image_size, channels), -1) != _identity(path)]
    errors = decoded_cache.decode_missing(unseen, image_size, channels, keep)
    _READABLE.update(((path, image_size, channels), _identity(path)) for path in unseen if path not in errors)
    return {path: reason(path, error) for path, error in errors.items()}


def drop_unreadable(df, image_size: int, already: dict[str, str] | None = None, strict: bool = False,
                    channels: int = 3, keep: bool = True):
    """Index without unreadable rows (checked at the run's size and channels, see find_unreadable), and
    the {path: reason} that were dropped, together with those `already` left out by the source (e.g.
    DICOMs that could not be decoded).

    With strict=True the list is an error instead (one line per file)."""
    bad = {**(already or {}), **find_unreadable(df["path"].tolist(), image_size, channels, keep)}
    if bad and strict:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in sorted(bad.items()))
        raise DataError(f"{len(bad)} unreadable image(s) (--strict):\n{lines}")
    return df[~df["path"].isin(bad)].reset_index(drop=True), bad
