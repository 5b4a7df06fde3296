"""ImageDataGenerator-style augmentation as one Keras preprocessing layer, run on batches in tf.data.

Argument names and meanings follow keras' legacy ImageDataGenerator: rotation_range and shear_range
are in DEGREES (so seed 004's shear_range=0.2 is a 0.2 degree shear, as in the original code),
width/height_shift_range are fractions of the side, zoom_range r draws each axis' factor in
[1 - r, 1 + r], brightness_range multiplies pixel values. All geometric parts (rotation, shifts,
shear, zoom, flips, random resized crop) are fused into ONE projective transform per image.
Input and output: (N, H, W, C) float32 pixel values in [0, 255].
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf


def _pair(value, around: float) -> tuple[float, float]:
    """ImageDataGenerator convention: a float r means [around - r, around + r]; a pair is used as is."""
    if isinstance(value, (int, float)):
        return around - value, around + value
    low, high = value
    return float(low), float(high)


class ImageDataGeneratorAugmentation(keras.layers.Layer):
    """Random ImageDataGenerator-style augmentation of a batch (see module docstring).

    Call as layer(images, seed=s) with a stateless seed s (int tensor of shape (2,)) for repeatable
    results in tf.data, or without seed to draw one from the layer's SeedGenerator.
    vertical_flip and horizontal_flip take a bool or a probability (seed 000 uses 0.005).
    contrast_range and saturation_range are factor ranges, hue_range a shift in [0, 0.5] of the hue
    circle (RGB only), random_resized_crop an area-fraction range (seed 001, e.g. (0.8, 1.0)).
    """

    def __init__(self, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0, shear_range=0.0,
                 zoom_range=0.0, horizontal_flip=False, vertical_flip=False, brightness_range=None,
                 contrast_range=None, hue_range=0.0, saturation_range=None, random_resized_crop=None,
                 crop_ratio=(3 / 4, 4 / 3), fill_mode="nearest", cval=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.config = dict(rotation_range=rotation_range, width_shift_range=width_shift_range,
                           height_shift_range=height_shift_range, shear_range=shear_range, zoom_range=zoom_range,
                           horizontal_flip=horizontal_flip, vertical_flip=vertical_flip,
                           brightness_range=brightness_range, contrast_range=contrast_range, hue_range=hue_range,
                           saturation_range=saturation_range, random_resized_crop=random_resized_crop,
                           crop_ratio=crop_ratio, fill_mode=fill_mode, cval=cval, seed=seed)
        self.ranges = dict(rotation=_pair(rotation_range, 0.0), shear=_pair(shear_range, 0.0),
                           width_shift=_pair(width_shift_range, 0.0), height_shift=_pair(height_shift_range, 0.0),
                           zoom=_pair(zoom_range, 1.0))
        self.p_hflip = float(horizontal_flip) * (0.5 if horizontal_flip is True else 1.0)
        self.p_vflip = float(vertical_flip) * (0.5 if vertical_flip is True else 1.0)
        self.geometric = any([rotation_range, width_shift_range, height_shift_range, shear_range, zoom_range,
                              horizontal_flip, vertical_flip, random_resized_crop])
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self):
        return {**super().get_config(), **self.config}

    def _transforms(self, seed, n, height, width):
        """(n, 8) projective transforms mapping output pixel (x, y) to input coordinates."""
        c = self.config
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 8))
        r = self.ranges
        uniform = lambda s, low, high: tf.random.stateless_uniform([n], s, low, max(high, low + 1e-9))  # noqa: E731
        zeros, ones = tf.zeros([n]), tf.ones([n])
        theta = uniform(seeds[0], *r["rotation"]) * (math.pi / 180)
        shear = uniform(seeds[1], *r["shear"]) * (math.pi / 180)
        zx, zy = uniform(seeds[2], *r["zoom"]), uniform(seeds[3], *r["zoom"])
        tx = uniform(seeds[4], *r["width_shift"]) * width
        ty = uniform(seeds[5], *r["height_shift"]) * height
        if c["random_resized_crop"]:
            crop_seeds = tf.unstack(tf.random.experimental.stateless_split(seeds[6], 4))
            area = uniform(crop_seeds[0], *c["random_resized_crop"])
            log_ratio = uniform(crop_seeds[1], math.log(c["crop_ratio"][0]), math.log(c["crop_ratio"][1]))
            cw = tf.minimum(tf.sqrt(area * tf.exp(log_ratio)), 1.0)
            ch = tf.minimum(tf.sqrt(area / tf.exp(log_ratio)), 1.0)
            zx, zy = zx * cw, zy * ch
            tx += uniform(crop_seeds[2], -0.5, 0.5) * (1 - cw) * width
            ty += uniform(crop_seeds[3], -0.5, 0.5) * (1 - ch) * height
        flips = tf.random.stateless_uniform([n, 2], seeds[7])
        fx = tf.where(flips[:, 0] < self.p_hflip, -ones, ones)
        fy = tf.where(flips[:, 1] < self.p_vflip, -ones, ones)
        cos, sin = tf.cos(theta), tf.sin(theta)
        # A = rotation @ shear @ zoom @ flip, about the image centre (cx, cy), then shifted by (tx, ty).
        a00 = cos * zx * fx
        a01 = (-cos * tf.sin(shear) - sin * tf.cos(shear)) * zy * fy
        a10 = sin * zx * fx
        a11 = (-sin * tf.sin(shear) + cos * tf.cos(shear)) * zy * fy
        cx, cy = (width - 1) / 2, (height - 1) / 2
        a02 = cx - a00 * cx - a01 * cy + tx
        a12 = cy - a10 * cx - a11 * cy + ty
        return tf.stack([a00, a01, a02, a10, a11, a12, zeros, zeros], axis=1)

    def call(self, images, seed=None):
        c = self.config
        if seed is None:
            seed = self.seed_generator.next()
        seed = tf.cast(seed, tf.int64)
        n, height, width, channels = tf.unstack(tf.shape(images))
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
        if self.geometric:
            transforms = self._transforms(seeds[0], n, tf.cast(height, tf.float32), tf.cast(width, tf.float32))
            images = keras.ops.image.affine_transform(images, transforms, interpolation="bilinear",
                                                      fill_mode=c["fill_mode"], fill_value=c["cval"])
        per_image = lambda s, low, high: tf.random.stateless_uniform([n, 1, 1, 1], s, low, high)  # noqa: E731
        if c["brightness_range"]:
            images = images * per_image(seeds[1], *c["brightness_range"])
        if c["contrast_range"]:
            mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
            images = (images - mean) * per_image(seeds[2], *c["contrast_range"]) + mean
        if (c["hue_range"] or c["saturation_range"]) and images.shape[-1] == 3:
            hsv = tf.image.rgb_to_hsv(tf.clip_by_value(images / 255.0, 0, 1))
            hue, sat, val = tf.unstack(hsv, axis=-1)
            if c["hue_range"]:
                hue = tf.math.floormod(hue + per_image(seeds[3], -c["hue_range"], c["hue_range"])[..., 0], 1.0)
            if c["saturation_range"]:
                sat = tf.clip_by_value(sat * per_image(seeds[4], *c["saturation_range"])[..., 0], 0, 1)
            images = tf.image.hsv_to_rgb(tf.stack([hue, sat, val], axis=-1)) * 255.0
        return tf.clip_by_value(images, 0.0, 255.0)
