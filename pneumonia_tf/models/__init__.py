"""`build(name, input_shape, **options)` -> keras.Model for every model in the five studies.

Every model ends in a Dense(1) layer named "logit" and a float32 sigmoid named "probability"
(so Grad-CAM can take gradients of the logit, and mixed precision keeps a float32 output).
"""
from __future__ import annotations

import keras

from pneumonia_tf.models.cnn import TABLE1, table1_cnn
from pneumonia_tf.models.resnet18 import resnet18_1ch
from pneumonia_tf.models.transfer import BASES, transfer_model
from pneumonia_tf.errors import UserError

MODELS = (*TABLE1, *BASES, "resnet18_1ch")


def build(name: str, input_shape: tuple[int, int, int], **options) -> keras.Model:
    """input_shape: (H, W, C). Options go to the family's builder (e.g. weights=None for transfer)."""
    if name in TABLE1:
        return table1_cnn(name, input_shape, **options)
    if name in BASES:
        return transfer_model(name, input_shape, **options)
    if name == "resnet18_1ch":
        return resnet18_1ch(input_shape, **options)
    raise UserError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def default_channels(name: str) -> int:
    """Channels a model expects: 3 for ImageNet bases, 1 for the 1-channel ResNet18, 3 for Table 1
    (seed 004 used ImageDataGenerator's default color_mode='rgb')."""
    return 1 if name == "resnet18_1ch" else 3
