"""One entry point for every data source: `load(data, ...)` -> Data (an index with train/val/test):
folders, zips, the phantom and generated images (pneumonia_tf.data.folders) and prepared TensorFlow
Datasets builds, "tfds:NAME" (pneumonia_tf.data.prepared)."""
from __future__ import annotations

from pneumonia_tf.data.folders import Data, load_files, make_data, read_index  # noqa: F401


def load(data: str, image_size: int = 128, val_fraction: float = 0.1, seed: int = 0,
         strict: bool = False, channels: int = 3, decoded_cache: bool = True) -> Data:
    """Index with a validation split carved from train by patient (stratified, seeded) where the data
    has none, unreadable images dropped (listed in .skipped; with strict=True they are an error). The
    check decodes every new file at (image_size, image_size, channels), the run's shape, into the
    persistent decoded cache (decoded_cache=False: without writing it)."""
    if data.startswith("tfds:"):  # a prepared TensorFlow Datasets build: its own splits
        from pneumonia_tf.data.prepared import load_prepared  # tensorflow_datasets, only when asked for
        index, folder = load_prepared(data.removeprefix("tfds:"))
        return make_data(index, data, str(folder), {}, image_size, val_fraction, seed, strict, channels,
                         decoded_cache)
    return load_files(data, image_size, val_fraction, seed, strict, channels, decoded_cache)
