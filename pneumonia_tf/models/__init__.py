"""`build(name, input_shape, **options)` -> keras.Model for every model in the five studies; each
model is described once in pneumonia_tf.models.registry (builder, defaults and their sources,
channels, preprocessing, Grad-CAM layer).

Every model ends in a Dense(1) layer named "logit" and a float32 sigmoid named "probability"
(so Grad-CAM can take gradients of the logit, and mixed precision keeps a float32 output).
"""
from __future__ import annotations

import keras

from pneumonia_tf.models.registry import MODELS, spec  # noqa: F401


def build(name: str, input_shape: tuple[int, int, int], **options) -> keras.Model:
    """input_shape: (H, W, C). Options go to the family's builder (e.g. weights=None for transfer)."""
    return spec(name).build(input_shape, **options)
