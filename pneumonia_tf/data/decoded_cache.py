"""The persistent decoded-image cache: each source image is decoded once per machine for each
(size, channels), and every later run (the cells of a study, DCGANs, tuner trials, cam, evaluate)
reads the raw pixels instead.

Entry: <cache>/decoded/<size>x<size>x<channels>/<key[:2]>/<key>.u8, the raw uint8 bytes of a
(size, size, channels) image; key = sha1 of the resolved path, file size, modification time (ns) and
the decoder (pneumonia_tf.data.decode.DECODER), so a changed file or decoder is decoded again.
Each entry is written to a private temporary file and renamed: a reader sees a whole entry or none,
concurrent writers of one entry all finish with the same pixels, and a killed writer leaves only a
temporary file nobody reads or waits on (removed by `python -m pneumonia_tf.data cache --clear`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import tensorflow as tf

from pneumonia_tf.data.cache import cache_dir, file_key
from pneumonia_tf.data.decode import DECODER, decode_resized
from pneumonia_tf.records import atomic_write

FOLDER = "decoded"


def entry_path(path: str, size: int, channels: int) -> Path:
    """Where the decoded pixels of `path` at (size, size, channels) are (or will be) kept."""
    key = file_key(path, DECODER)
    return cache_dir(FOLDER) / f"{size}x{size}x{channels}" / key[:2] / f"{key}.u8"


def fill(paths, size: int, channels: int) -> list[str]:
    """Entry paths for `paths` (same order), decoding (in parallel, with tf.data) only those missing."""
    entries = [entry_path(str(p), size, channels) for p in paths]
    missing = {str(p): e for p, e in zip(paths, entries) if not e.exists()}
    if missing:
        sources = list(missing)
        ds = tf.data.Dataset.from_tensor_slices(sources).map(
            lambda p: decode_resized(tf.io.read_file(p), size, channels), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True)
        for source, pixels in zip(sources, ds.as_numpy_iterator()):
            atomic_write(missing[source], pixels.tobytes())
    return [str(e) for e in entries]


def read_entry(entry, size: int, channels: int):
    """An entry path (string tensor) -> (size, size, channels) uint8 tensor."""
    return tf.reshape(tf.io.decode_raw(tf.io.read_file(entry), tf.uint8), [size, size, channels])


def info() -> dict:
    """{"folder", "entries", "bytes", "by_shape": {"128x128x3": {"entries", "bytes"}}, "temporary_files"}."""
    root = cache_dir(FOLDER)
    result = {"folder": str(root), "entries": 0, "bytes": 0, "by_shape": {}, "temporary_files": 0}
    for shape in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [f for f in shape.rglob("*") if f.is_file()]
        entries = [f for f in files if f.suffix == ".u8" and not f.name.startswith(".")]
        size = sum(f.stat().st_size for f in entries)
        result["by_shape"][shape.name] = {"entries": len(entries), "bytes": size}
        result["entries"] += len(entries)
        result["bytes"] += size
        result["temporary_files"] += len(files) - len(entries)
    return result


def clear() -> int:
    """Remove the whole decoded cache; returns the number of entries removed."""
    removed = info()["entries"]
    shutil.rmtree(cache_dir(FOLDER), ignore_errors=True)
    return removed
