"""The persistent decoded-image cache: each source image is decoded once per machine for each
(size, channels), and every later run (the cells of a study, DCGANs, tuner trials, cam, evaluate)
reads the pixels instead.

Entry: <cache>/decoded/<size>x<size>x<channels>/<key[:2]>/<key>.tensor, a serialized uint8 tensor
(tf.io.serialize_tensor) of the (size, size, channels) image, or of its first channel alone,
(size, size, 1), when all its channels are equal (a radiograph saved as RGB). key = sha1 of the
resolved path, file size, modification time (ns) and the decoder (pneumonia_tf.data.decode.DECODER), so
a changed file or decoder is decoded again. Entries are decoded in parallel by tf.data, and each is
written to a private temporary file and renamed: a reader sees a whole entry or none,
concurrent writers of one entry all finish with the same pixels, and a killed writer leaves only a
temporary file nobody reads or waits on (removed by `python -m pneumonia_tf.data cache --clear`).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import tensorflow as tf

from pneumonia_tf.data.cache import cache_dir, file_key
from pneumonia_tf.data.decode import DECODER, decode_resized
from pneumonia_tf.records import atomic_write

FOLDER = "decoded"
SUFFIX = ".tensor"


class Entries(NamedTuple):
    """Cache entries of a list of images: `paths` in the order asked, and the `channels` to read them
    with: 1 when every image is gray (all channels equal), even where 3 were asked; else those asked."""
    paths: list[str]
    channels: int


def entry_path(path: str, size: int, channels: int) -> Path:
    """Where the decoded pixels of `path` at (size, size, channels) are (or will be) kept."""
    return _entry_path(cache_dir(FOLDER, f"{size}x{size}x{channels}"), path)


def _entry_path(folder: Path, path: str) -> Path:
    key = file_key(path, DECODER)
    return folder / key[:2] / f"{key}{SUFFIX}"


def fill(paths, size: int, channels: int) -> Entries:
    """Entries for `paths` (same order), decoding (in parallel, with tf.data) only those missing."""
    folder = cache_dir(FOLDER, f"{size}x{size}x{channels}")
    entries = [_entry_path(folder, str(p)) for p in paths]
    one_channel, missing = [], []
    for source, entry in zip(map(str, paths), entries):
        try:
            one_channel.append(entry.stat().st_size < 2 * size * size)  # 1 channel: S*S bytes and a header
        except FileNotFoundError:
            missing.append((source, entry))
    if missing:
        # The map must stay free of stateful ops (no file writes): under op determinism, which training
        # turns on, tf.data runs a map with a stateful function on one thread.
        sources = [source for source, _ in missing]
        encoded = tf.data.Dataset.from_tensor_slices(sources).map(
            lambda p: encoded_entry(p, size, channels), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        for (_, entry), (data, stored) in zip(missing, encoded.as_numpy_iterator()):
            atomic_write(entry, data)
            one_channel.append(stored == 1)
    return Entries([str(e) for e in entries], 1 if all(one_channel) else channels)


def encoded_entry(path, size: int, channels: int):
    """A source path (string tensor) -> (the entry's bytes, a serialized uint8 tensor; its channels):
    the decoded (size, size, channels) image, or its first channel alone when all are equal."""
    image = decode_resized(tf.io.read_file(path), size, channels)
    pixels = tf.cond(tf.reduce_all(tf.equal(image, image[..., :1])), lambda: image[..., :1], lambda: image)
    return tf.io.serialize_tensor(pixels), tf.shape(pixels)[-1]


def read_entry(entry, size: int, channels: int):
    """An entry path (string tensor) -> (size, size, channels) uint8 tensor; a one-channel entry is
    repeated when `channels` is larger."""
    pixels = tf.io.parse_tensor(tf.io.read_file(entry), tf.uint8)
    return tf.ensure_shape(tf.broadcast_to(pixels, [size, size, channels]), [size, size, channels])


def info() -> dict:
    """{"folder", "entries", "bytes", "by_shape": {"128x128x3": {"entries", "bytes"}}, "temporary_files"}."""
    root = cache_dir(FOLDER)
    result = {"folder": str(root), "entries": 0, "bytes": 0, "by_shape": {}, "temporary_files": 0}
    for shape in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [f for f in shape.rglob("*") if f.is_file()]
        entries = [f for f in files if f.suffix == SUFFIX]
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
