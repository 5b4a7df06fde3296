"""Compile and callbacks shared by every training entry point (train, tune, reproduce)."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from pneumonia_tf.errors import UserError

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
              "rmsprop": keras.optimizers.RMSprop}


def default_metrics() -> list:
    """Fresh metric objects with fixed names (history keys: accuracy, auc, precision, recall)."""
    return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc"),
            keras.metrics.Precision(name="precision"), keras.metrics.Recall(name="recall")]


def make_optimizer(name: str = "adam", learning_rate: float = 1e-3, clipnorm: float | None = None,
                   weight_decay: float | None = None, **options) -> keras.optimizers.Optimizer:
    """An optimizer by name; clipnorm clips each gradient's norm (seed 003)."""
    if name not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    if weight_decay:
        options["weight_decay"] = weight_decay
    return OPTIMIZERS[name](learning_rate=learning_rate, clipnorm=clipnorm, **options)


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer, jit_compile="auto",
                  steps_per_execution: int = 1) -> keras.Model:
    """Binary cross-entropy with default_metrics(); jit_compile="auto" lets Keras use XLA."""
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=default_metrics(),
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model


def class_weights(labels) -> dict[int, float]:
    """'balanced' weights from the training labels: n / (2 * n_class). The PNEUMONIA/NORMAL ratio of
    these equals seed 001's pos_weight = n_negative / n_positive."""
    labels = np.asarray(labels).astype(int)
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    return {0: float(weights[0]), 1: float(weights[1])}


def training_inputs(train_ds: tf.data.Dataset, one_iterator: bool = True, steps_per_execution: int = 1) -> dict:
    """fit() keyword arguments for the training data: with one_iterator and a dataset of known length
    (a whole number of steps_per_execution), the dataset repeated and its batches per epoch as
    steps_per_epoch, so that Keras draws every epoch from one iterator. Without steps_per_epoch Keras 3
    starts a new iterator each epoch, and that stalled an epoch's first step by 2-7 s on 2 cores
    (issue 14). The batches of every epoch are the same either way. (Validation data gets a new
    iterator each epoch whatever is given: Keras resets it in evaluate.)"""
    batches = int(train_ds.cardinality())
    if one_iterator and batches > 0 and batches % steps_per_execution == 0:
        return {"x": train_ds.repeat(), "steps_per_epoch": batches}
    return {"x": train_ds}  # else a repeated dataset would carry batches over into the next epoch
