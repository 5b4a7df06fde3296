"""Seed 004's Table 1: six custom CNNs, kept as data.

All: 3x3 convolutions, 'same' padding, ReLU, 2x2 max-pooling after each block, flatten, one dense
layer, sigmoid output. Batch normalization follows each convolution's ReLU; dropout follows each conv
block and the dense layer; regularizers apply to every conv and dense kernel.
"""
from __future__ import annotations

import keras

from pneumonia_tf.models.head import output_head

TABLE1 = {
    "model1": dict(blocks=[[32], [64], [128]], conv_dropout=0.0, dense=128, dense_dropout=0.0,
                   batch_norm=False, l1=0.0, l2=0.0),
    "model2": dict(blocks=[[32], [64], [128]], conv_dropout=0.25, dense=128, dense_dropout=0.5,
                   batch_norm=False, l1=0.0, l2=0.0),
    "model3": dict(blocks=[[32], [64], [128]], conv_dropout=0.25, dense=128, dense_dropout=0.5,
                   batch_norm=True, l1=0.0, l2=0.0),
    "model4": dict(blocks=[[16, 32], [32, 64], [128]], conv_dropout=0.25, dense=128, dense_dropout=0.5,
                   batch_norm=True, l1=0.0, l2=0.0),
    "model5": dict(blocks=[[16, 32], [32, 64], [128]], conv_dropout=0.25, dense=128, dense_dropout=0.5,
                   batch_norm=True, l1=0.001, l2=0.001),
    "model6": dict(blocks=[[64], [128], [256]], conv_dropout=0.0, dense=256, dense_dropout=0.0,
                   batch_norm=False, l1=0.0, l2=0.0),
}


POOLING = {"flatten": keras.layers.Flatten, "avg": keras.layers.GlobalAveragePooling2D,
           "max": keras.layers.GlobalMaxPooling2D}


def table1_cnn(name: str, input_shape=(128, 128, 3), pooling: str = "flatten", **overrides) -> keras.Model:
    """A Table-1 CNN; overrides replace table fields (the tuner uses this). Last conv is 'last_conv'.
    pooling: "flatten" (Table 1), or global "avg" / "max" pooling before the dense layer (not in
    Table 1; global max pooling localizes small findings, Oquab et al. 2015)."""

    spec = {**TABLE1.get(name, TABLE1["model1"]), **overrides}
    regularizer = keras.regularizers.L1L2(spec["l1"], spec["l2"]) if spec["l1"] or spec["l2"] else None
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    n_convs = sum(len(block) for block in spec["blocks"])
    index = 0
    for b, block in enumerate(spec["blocks"], 1):
        for width in block:
            index += 1
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", kernel_regularizer=regularizer,
                                    name="last_conv" if index == n_convs else f"conv{index}")(x)
            if spec["batch_norm"]:
                x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{b}")(x)
        if spec["conv_dropout"]:
            x = keras.layers.Dropout(spec["conv_dropout"], name=f"dropout{b}")(x)
    if pooling not in POOLING:
        raise ValueError(f"pooling must be one of {', '.join(POOLING)}, got {pooling!r}")
    x = POOLING[pooling](name="pool")(x)
    x = keras.layers.Dense(spec["dense"], activation="relu", kernel_regularizer=regularizer, name="dense")(x)
    if spec["dense_dropout"]:
        x = keras.layers.Dropout(spec["dense_dropout"], name="dense_dropout")(x)
    return keras.Model(inputs, output_head(x), name=name)
