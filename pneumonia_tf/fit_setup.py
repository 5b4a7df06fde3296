"""What every fit of the suite is set up with (train.py is the run driver that uses it; tune, lr_find,
the DCGAN and the benchmarks use it too): the optimizer from a config, the compile with the suite's
metrics, the mixed-precision policy, class weights, and the training inputs drawn from one iterator."""
from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from pneumonia_tf.errors import UserError
from pneumonia_tf.keras_compat import op_determinism

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
              "rmsprop": keras.optimizers.RMSprop}


def default_metrics() -> list:
    """Fresh metric objects with fixed names (history keys: accuracy, auc, precision, recall)."""
    return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc"),
            keras.metrics.Precision(name="precision"), keras.metrics.Recall(name="recall")]


MOMENTUM = ("sgd", "rmsprop")  # the optimizers that take a momentum


def make_optimizer(name: str = "adam", learning_rate: float = 1e-3, clipnorm: float | None = None,
                   weight_decay: float | None = None, momentum: float | None = None) -> keras.optimizers.Optimizer:
    """An optimizer by name; clipnorm clips each gradient's norm (seed 003). A weight decay of 0 is 0
    (not AdamW's default of 0.004); momentum applies to SGD and RMSprop, and is refused elsewhere."""
    if name not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    options = {}
    if weight_decay is not None:
        options["weight_decay"] = weight_decay
    if momentum is not None:
        if name not in MOMENTUM:
            raise UserError(f"momentum {momentum} given to optimizer {name!r}; only {', '.join(MOMENTUM)} take one")
        options["momentum"] = momentum
    return OPTIMIZERS[name](learning_rate=learning_rate, clipnorm=clipnorm, **options)


def optimizer_from_config(config: dict) -> keras.optimizers.Optimizer:
    """The optimizer of a resolved training config (optimizer, learning_rate, clipnorm, weight_decay,
    momentum): the one factory train, tune and lr_find use."""
    return make_optimizer(config["optimizer"], config["learning_rate"], config["clipnorm"], config["weight_decay"],
                          config["momentum"])


@contextlib.contextmanager
def process_state(seed: int, deterministic: bool = True, policy: str | None = None):
    """The process-wide state one run sets, restored when it ends: Keras's seeds (Python, NumPy, TF),
    TensorFlow's op determinism (same seed, same CPU: same numbers, whatever ran before in the process)
    and the mixed-precision policy."""
    keras.utils.set_random_seed(seed)
    with op_determinism(deterministic), mixed_precision(policy):
        yield


@contextlib.contextmanager
def mixed_precision(policy: str | None):
    """Build (and train) under a Keras mixed-precision policy ("mixed_float16", "mixed_bfloat16"; None
    keeps the current one), restoring the previous global policy afterwards."""
    previous = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


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
