"""The persistent decoded-image cache: each source image is decoded once per machine for each
(size, channels), and every later run (the cells of a study, DCGANs, tuner trials, cam, evaluate)
reads the pixels instead.

Entry: <cache>/decoded/<size>x<size>x<channels>/<key[:2]>/<key>.tensor, a serialized uint8 tensor
(tf.io.serialize_tensor) of the (size, size, channels) image, or of its first channel alone,
(size, size, 1), when all its channels are equal (a radiograph saved as RGB). key = sha1 of the
resolved path, file size, modification time (ns) and the decoder (pneumonia_tf.data.decode.DECODER), so
a changed file or decoder is decoded again. load() fills it at the run's size as its check for
unreadable files (pneumonia_tf.data.scan). Entries are decoded in parallel by tf.data, and each is
written to a private temporary file and renamed: a reader sees a whole entry or none,
concurrent writers of one entry all finish with the same pixels, and a killed writer leaves only a
temporary file nobody reads or waits on (removed by `python -m pneumonia_tf.data cache --clear`).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import tensorflow as tf

from pneumonia_tf.data.cache import cache_dir, exclusive, file_key
from pneumonia_tf.data.decode import DECODER, decode_resized
from pneumonia_tf.data.index import DataError
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
    """Entries for `paths` (same order), decoding (in parallel, with tf.data) only those missing.
    A file that cannot be decoded is a DataError naming it (load() leaves such files out first, so this
    is one that broke since)."""
    paths = list(map(str, paths))
    undecodable = decode_missing(paths, size, channels)
    if undecodable:
        path, error = next(iter(undecodable.items()))
        raise DataError(f"{path}: cannot be decoded ({error}; {len(undecodable)} such file(s)); "
                        "it changed or broke after the data set was loaded")
    folder = cache_dir(FOLDER, f"{size}x{size}x{channels}")
    entries = [_entry_path(folder, path) for path in paths]
    one_channel = [entry.stat().st_size < 2 * size * size for entry in entries]  # 1 channel: S*S bytes + header
    return Entries([str(e) for e in entries], 1 if all(one_channel) else channels)


def decode_missing(paths: list[str], size: int, channels: int, keep: bool = True) -> dict[str, str]:
    """Decode each of `paths` that has no entry at (size, size, channels), in parallel with tf.data,
    and write its entry (keep=False: decode only, e.g. where the cache is bypassed); returns {path:
    TensorFlow's error} for those that cannot be read or decoded (no entry is written for them). This is
    also the check that a file is readable (pneumonia_tf.data.scan), so a first run decodes each file
    once. One process of the machine decodes a folder's missing entries at a time; the others wait for
    it, then find them."""
    folder = cache_dir(FOLDER, f"{size}x{size}x{channels}")
    errors: dict[str, str] = {}

    def missing() -> list[tuple[str, Path]]:
        pending = []
        for source in paths:
            if source in errors:
                continue
            try:
                entry = _entry_path(folder, source)
            except OSError as error:  # the source itself is gone or unreadable
                errors[source] = str(error)
                continue
            if not entry.exists():
                pending.append((source, entry))
        return pending

    if not missing():
        return errors
    with exclusive(cache_dir("locks") / f"{FOLDER}-{size}x{size}x{channels}"):
        todo = missing()  # what another process did not fill while this one waited
        if not todo:
            return errors
        # The map must stay free of stateful ops (no file writes): under op determinism, which training
        # turns on, tf.data runs a map with a stateful function on one thread. Each element carries its
        # index, so the order it comes in does not matter (deterministic=False; op determinism, which
        # load() runs under in training, makes it True). A file that fails drops out of the stream
        # (ignore_errors) and is decoded again on its own below, for TensorFlow's error: so an error
        # that passes (too many open files) costs the file nothing.
        encoded = tf.data.Dataset.from_tensor_slices((tf.range(len(todo)), tf.constant([s for s, _ in todo]))).map(
            lambda i, p: (i, encoded_entry(p, size, channels)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).ignore_errors()
        decoded = set()
        for i, data in encoded.as_numpy_iterator():
            if keep:
                atomic_write(todo[i][1], data)
            decoded.add(int(i))
        for source, entry in (item for i, item in enumerate(todo) if i not in decoded):
            try:
                data = encoded_entry(tf.constant(source), size, channels).numpy()
            except tf.errors.OpError as error:
                errors[source] = error.message.strip().splitlines()[0]
                continue
            if keep:
                atomic_write(entry, data)
    return errors


def encoded_entry(path, size: int, channels: int):
    """A source path (string tensor) -> the entry's bytes, a serialized uint8 tensor: the decoded
    (size, size, channels) image, or its first channel alone when all are equal."""
    image = decode_resized(tf.io.read_file(path), size, channels)
    pixels = tf.cond(tf.reduce_all(tf.equal(image, image[..., :1])), lambda: image[..., :1], lambda: image)
    return tf.io.serialize_tensor(pixels)


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
