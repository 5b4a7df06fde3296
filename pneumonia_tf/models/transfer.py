"""ImageNet transfer models (seed 002: VGG16, ResNet50V2, DenseNet201; seed 003: ResNet50).

The graph is flat: the application's layers sit directly in the model (head on base.output), so
Grad-CAM reaches inner conv layers. Head layers are named head_*; everything else is the base.
Top (seed 002): global average pooling, Dense 512, Dropout, Dense 512, Dropout, sigmoid; seed 003:
global average pooling, sigmoid (dense_layers=0). The bases: pneumonia_tf.models.registry.
"""
from __future__ import annotations

import keras

from pneumonia_tf.models.head import output_head

def transfer_model(name: str, application, input_shape=(256, 256, 3), weights="imagenet", dense=512,
                   dense_layers: int = 2, dropout=0.5, freeze_base: bool = True) -> keras.Model:
    """A keras.applications `application` (e.g. keras.applications.VGG16) without its top, then global
    average pooling, `dense_layers` x (Dense `dense` + Dropout `dropout`) and the logit. weights:
    "imagenet", None, or a path to a local weights file (no download needed). The models and where each
    default comes from: pneumonia_tf.models.registry."""
    inputs = keras.Input(input_shape, name="image")
    base = application(include_top=False, weights=weights, input_tensor=inputs)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(base.output)
    for i in range(1, dense_layers + 1):
        x = keras.layers.Dense(dense, activation="relu", name=f"head_dense{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"head_dropout{i}")(x)
    model = keras.Model(inputs, output_head(x), name=name)
    set_base_trainable(model, not freeze_base)
    return model


def base_layers(model: keras.Model) -> list:
    """The pretrained layers of a flat transfer model (not the input, head, logit or probability)."""
    return [layer for layer in model.layers
            if not layer.name.startswith("head_") and layer.name not in ("image", "logit", "probability")
            and not isinstance(layer, keras.layers.InputLayer)]


def set_base_trainable(model: keras.Model, trainable: bool, last: int | None = None,
                       keep_batch_norm_frozen: bool = True) -> None:
    """Freeze or unfreeze the base (only its `last` layers when given). Batch normalization stays
    frozen, i.e. in inference mode with its ImageNet statistics, unless keep_batch_norm_frozen=False.
    A frozen layer in Keras 3 runs BatchNormalization in inference mode."""
    layers = base_layers(model)
    chosen = set(id(layer) for layer in (layers[-last:] if trainable and last else layers))
    for layer in layers:
        unfreeze = trainable and id(layer) in chosen
        if isinstance(layer, keras.layers.BatchNormalization) and keep_batch_norm_frozen:
            unfreeze = False
        layer.trainable = unfreeze
