"""ResNet18 (He et al. 2016, basic blocks [2, 2, 2, 2]) with a 1-channel input, global average
pooling and one output (seed 001). The last conv stage's output is named 'last_conv' for CAM.

Batch normalization uses PyTorch's defaults, as seed 001 did: momentum 0.1 in PyTorch's convention
is momentum=0.9 in Keras', epsilon 1e-5. Keras' own default (0.99) moves the inference statistics so
slowly that on small data sets the model predicts a constant in inference mode for many epochs."""
from __future__ import annotations

import functools

import keras

from pneumonia_tf.models.head import output_head

BatchNorm = functools.partial(keras.layers.BatchNormalization, momentum=0.9, epsilon=1e-5)


def _basic_block(x, filters: int, stride: int, name: str):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = BatchNorm(name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = BatchNorm(name=f"{name}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False, name=f"{name}_down")(x)
        shortcut = BatchNorm(name=f"{name}_down_bn")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([y, shortcut])


def resnet18_1ch(input_shape=(224, 224, 1), width: int = 64) -> keras.Model:

    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(width, 7, 2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = BatchNorm(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for stage, multiple in enumerate((1, 2, 4, 8), 1):
        for block in (1, 2):
            stride = 2 if stage > 1 and block == 1 else 1
            x = _basic_block(x, width * multiple, stride, f"stage{stage}_block{block}")
            last = stage == 4 and block == 2
            x = keras.layers.ReLU(name="last_conv" if last else f"stage{stage}_block{block}_out")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, output_head(x), name="resnet18_1ch")
