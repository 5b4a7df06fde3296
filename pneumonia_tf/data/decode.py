"""Decode an image file at the scale it is needed: file bytes -> (S, S, C) uint8.

JPEGs are decoded with libjpeg's DCT scaling (tf.io.decode_jpeg's `ratio`) at the largest ratio of
8, 4 or 2 that still leaves both sides at least S, so no pixel the target needs is lost; then, as for
every format, resized to S x S with antialiased bilinear interpolation and rounded. PNG and other
formats are decoded in full. The difference from a full decode + resize is bounded in
tests/test_decode.py.
"""
from __future__ import annotations

import tensorflow as tf

RATIOS = (1, 2, 4, 8)
DECODER = "dct-scaled-jpeg+antialiased-bilinear-v1"  # part of the decoded-cache key: change it when this changes


def jpeg_ratio_index(height, width, size: int):
    """Index into RATIOS of the largest DCT scale ratio that keeps both sides >= size."""
    smaller = tf.minimum(height, width)
    return tf.add_n([tf.cast(smaller >= size * r, tf.int32) for r in RATIOS[1:]])


def decode_resized(contents, size: int, channels: int, scaled: bool = True):
    """File bytes -> (size, size, channels) uint8 (grayscale files become RGB when channels=3).
    scaled=False decodes every JPEG in full (the reference the scaled decode is measured against)."""
    def full():
        return tf.io.decode_image(contents, channels=channels, expand_animations=False)

    def jpeg():
        shape = tf.io.extract_jpeg_shape(contents)
        return tf.switch_case(jpeg_ratio_index(shape[0], shape[1], size), [
            lambda r=r: tf.io.decode_jpeg(contents, channels=channels, ratio=r) for r in RATIOS])

    image = tf.cond(tf.io.is_jpeg(contents), jpeg, full) if scaled else full()
    image = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
