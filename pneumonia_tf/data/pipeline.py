"""(paths, labels) -> a batched tf.data.Dataset: parallel decode, resize, cache, seeded shuffle,
batch, augment, normalize, prefetch.

Files are decoded at the scale needed (pneumonia_tf.data.decode) once per machine into the persistent
decoded cache (pneumonia_tf.data.decoded_cache), which every later run reads; within a run the uint8
images are also cached in memory. Gray images (a radiograph's three channels are equal) are read,
kept and augmented as one channel, and repeated to `channels` just before normalization: a third of
the memory and of the augmentation's work, and the same values.
Augmentation runs on whole batches with per-batch stateless seeds drawn from the run seed, so the same
seed gives the same batches and the same augmentations, epoch after epoch.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import tensorflow as tf

from pneumonia_tf.data.augment import ImageDataGeneratorAugmentation
from pneumonia_tf.data.cache import cache_dir
from pneumonia_tf.data.decode import decode_resized
from pneumonia_tf.data.decoded_cache import fill as decoded_cache_fill
from pneumonia_tf.data.decoded_cache import read_entry
from pneumonia_tf.data.index import label_of
from pneumonia_tf.errors import UserError
from pneumonia_tf.models.registry import imagenet_models, spec

AUTOTUNE = tf.data.AUTOTUNE
DATA_THREADS = "PNEUMONIA_TF_DATA_THREADS"  # set by reproduce --jobs: tf.data's private pool size in a child
NORMALIZATIONS = ("unit", "symmetric", "standardize", *imagenet_models())


def load_image(path, image_size: int, channels: int):
    """File -> (image_size, image_size, channels) uint8, decoded at the scale needed, without the
    persistent cache. Gray files become RGB when channels=3."""
    return decode_resized(tf.io.read_file(path), image_size, channels)


def normalizer(normalization, mean_std: tuple[float, float] | None = None):
    """A function on float32 [0, 255] batches for a normalization mode.

    unit: [0, 1]; symmetric: [-1, 1] (seed 000, DCGAN); standardize: (x/255 - mean) / std over the
    training set (seed 001; mean_std required); vgg16/resnet50/resnet50v2/densenet201: that model's
    keras.applications preprocess_input; a float: multiply (ImageDataGenerator's rescale)."""
    if isinstance(normalization, (int, float)):
        return lambda x: x * float(normalization)
    if normalization == "unit":
        return lambda x: x / 255.0
    if normalization == "symmetric":
        return lambda x: x / 127.5 - 1.0
    if normalization == "standardize":
        if mean_std is None:
            raise UserError("normalization 'standardize' needs mean_std=(mean, std) of the training images")
        mean, std = mean_std
        return lambda x: (x / 255.0 - mean) / std
    if normalization in imagenet_models():  # the ImageNet base's own preprocess_input
        return spec(normalization).preprocess
    raise UserError(f"unknown normalization {normalization!r}; expected a float or one of {NORMALIZATIONS}")


def split_rescale(augmentation: dict | None, normalization=None):
    """ImageDataGenerator kwargs -> (augmentation kwargs without rescale, normalization).

    `rescale` is preprocessing, applied to every split, so it becomes the normalization."""
    augmentation = dict(augmentation or {})
    rescale = augmentation.pop("rescale", None)
    if rescale is not None and normalization not in (None, rescale):
        raise UserError(f"give either rescale={rescale} or normalization={normalization!r}, not both")
    return augmentation, rescale if rescale is not None else (normalization or "unit")


def oversample_minority(paths, labels, seed: int):
    """Repeat randomly chosen minority-class examples until both classes have the same count
    (seed 002 scenario 2; the copies are augmented independently)."""
    paths, labels = np.asarray(paths), np.asarray(labels)
    counts = np.bincount(labels, minlength=2)
    minority = int(np.argmin(counts))
    extra = np.random.default_rng(seed).choice(np.flatnonzero(labels == minority), counts.max() - counts.min())
    return np.concatenate([paths, paths[extra]]), np.concatenate([labels, labels[extra]])


def make_dataset(paths, labels, *, image_size: int, channels: int = 1, batch_size: int = 32,
                 shuffle: bool = False, seed: int = 0, augmentation: dict | None = None,
                 normalization="unit", mean_std=None, cache: str | bool = "memory",
                 oversample: bool = False, decoded_cache: bool = True,
                 class_augmentation: dict | None = None) -> tf.data.Dataset:
    """Batched dataset of (images (N, S, S, C) float32, labels (N,) float32).

    augmentation: ImageDataGenerator-style kwargs (see ImageDataGeneratorAugmentation), or None.
    class_augmentation: {class name: kwargs}, applied after `augmentation` to that class's images only
    (seed 002 flips NORMAL images, and only those).
    cache: "memory", "file" (under the cache dir, keyed by the paths, size and channels) or False.
    decoded_cache: read (and first fill) the persistent decoded cache; False decodes every file here."""
    paths, labels = list(map(str, paths)), np.asarray(labels, dtype=np.int64)
    if oversample:
        paths, labels = oversample_minority(paths, labels, seed)
    normalize = normalizer(normalization, mean_std)
    if decoded_cache:
        entries = decoded_cache_fill(paths, image_size, channels)
        stored = entries.channels  # 1 for gray images, repeated to `channels` after augmentation
        ds = tf.data.Dataset.from_tensor_slices((entries.paths, labels.astype(np.float32)))
        ds = ds.map(lambda e, y: (read_entry(e, image_size, stored), y), num_parallel_calls=AUTOTUNE)
    else:
        stored = channels
        ds = tf.data.Dataset.from_tensor_slices((paths, labels.astype(np.float32)))
        ds = ds.map(lambda p, y: (load_image(p, image_size, channels), y), num_parallel_calls=AUTOTUNE)
    if cache == "file":
        key = hashlib.sha1(f"{image_size}:{stored}:{sorted(paths)}".encode()).hexdigest()[:16]
        ds = ds.cache(str(cache_dir("tfdata") / key))
    elif cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=AUTOTUNE)
    if augmentation:
        augment = ImageDataGeneratorAugmentation(**augmentation)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: (augment(xy[0], seed=s), xy[1]),
                                                 num_parallel_calls=AUTOTUNE)
    for label, kwargs in _class_augmentations(class_augmentation):
        augment_class = ImageDataGeneratorAugmentation(**kwargs)
        seeds = tf.data.Dataset.random(seed=seed + 1 + label, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda xy, s, label=label, layer=augment_class: (
                tf.where(tf.equal(xy[1], label)[:, None, None, None], layer(xy[0], seed=s), xy[0]), xy[1]),
            num_parallel_calls=AUTOTUNE)
    if stored != channels:  # gray: every channel is equal, so augmenting one and repeating it is the same
        normalize = lambda x, one_channel=normalize: one_channel(tf.repeat(x, channels, axis=-1))  # noqa: E731
    ds = ds.map(lambda x, y: (normalize(x), y), num_parallel_calls=AUTOTUNE)
    return with_pipeline_options(ds.prefetch(AUTOTUNE))


def with_pipeline_options(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` with the options of every pipeline of the suite: tf.data's autotuning off, and a private
    thread pool of $PNEUMONIA_TF_DATA_THREADS threads where that is set (a child of reproduce --jobs N,
    limited to its share of the cores).

    Autotuning is off because its model thread makes deleting an iterator wait: cancellation wakes the
    thread before it is marked cancelled, so the thread may sleep out its optimization period (which
    doubles up to 60 s) while the deleting thread waits for it. After fit, that held the return 8-60 s in
    1 of 24 quick table1 cells with one job and 10 of 24 with two (`bench teardown` shows it). Off, the
    parallel maps run at tf.data's initial parallelism, capped by the pool, and prefetch grows its
    buffer as before; the batches are the same, and fit's images/s were within 5% on 2 cores."""
    options = tf.data.Options()
    options.autotune.enabled = False
    threads = int(os.environ.get(DATA_THREADS, 0))
    if threads > 0:
        options.threading.private_threadpool_size = threads
    return ds.with_options(options)


def _class_augmentations(class_augmentation: dict | None) -> list[tuple[int, dict]]:
    """{class name: kwargs} -> [(label, kwargs)]; an unknown class name is an error."""
    return [(label_of(name, "class_augmentation"), kwargs) for name, kwargs in (class_augmentation or {}).items()]


def mean_std(paths, image_size: int, channels: int = 1) -> tuple[float, float]:
    """Mean and standard deviation of pixel values in [0, 1], in one streaming pass (sums and sums of
    squares in float64), over the images as the pipeline decodes them."""
    entries = decoded_cache_fill(list(map(str, paths)), image_size, channels)
    ds = tf.data.Dataset.from_tensor_slices(entries.paths)
    ds = ds.map(lambda e: read_entry(e, image_size, entries.channels), num_parallel_calls=AUTOTUNE).batch(64)
    total = total_sq = count = 0.0
    for batch in ds.as_numpy_iterator():
        values = batch.astype(np.float64) / 255.0
        total, total_sq, count = total + values.sum(), total_sq + np.square(values).sum(), count + values.size
    mean = total / count
    return float(mean), float(np.sqrt(max(total_sq / count - mean ** 2, 0.0)))
