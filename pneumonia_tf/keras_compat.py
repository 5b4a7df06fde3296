"""Where the suite relies on Keras and Keras Tuner internals, in one place, each with what it works
around or why.

- build_compile_state: after a recompile inside fit (the saturation-threshold unfreeze), Keras builds
  metrics given as strings or functions lazily, inside the next traced train step; under a
  MirroredStrategy that creates their variables inside the replica graph and the step fails with
  "You must feed a value for placeholder tensor". fit builds them symbolically before its first step
  (Trainer._symbolic_build); this does the same after the recompile, from zero batches of the model's
  own input and output shapes.
- tuner_role: keras-tuner's own chief / worker rule (its distribute utilities have no public path).
- model_input: a model's symbolic input(s) to build a sub-model from, single or a list: a sub-model built
  on the flat `model.inputs` list expects a list, and Keras 3 warns "The structure of `inputs` doesn't
  match the expected structure" on every call with one array (`model.input` raises on a Sequential
  built without an Input).
- op_determinism: TensorFlow's op determinism for one run, switched back off after it (TensorFlow's
  public API can only switch it on, for the rest of the process).
"""
from __future__ import annotations

import contextlib

import keras
import numpy as np


def _zeros(tensors):
    """Zero arrays of batch 1 shaped like (a structure of) symbolic tensors."""
    return keras.tree.map_structure(
        lambda t: np.zeros((1, *t.shape[1:]), dtype=keras.backend.standardize_dtype(t.dtype)), tensors)


def model_input(model: keras.Model):
    """The model's one symbolic input, or the list of them where it has several."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def build_compile_state(model: keras.Model) -> None:
    """Build a freshly compiled model's metrics and loss state now, outside any traced function, in the
    current strategy scope (Trainer._symbolic_build, which fit runs before its first step)."""
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    model._symbolic_build(data_batch=(_zeros(model_input(model)),
                                      _zeros(outputs)))


def tuner_role() -> str | None:
    """This process's part in a distributed Keras Tuner search: "chief" (serves the oracle), "worker",
    or None (not distributed), by keras-tuner's own rule (keras_tuner.src.distribute.utils: a tuner id
    containing "chief" is the chief; KERASTUNER_ORACLE_IP without a port or an id is its error)."""
    from keras_tuner.src.distribute import utils

    if not utils.has_chief_oracle():
        return None
    return "chief" if utils.is_chief_oracle() else "worker"


@contextlib.contextmanager
def op_determinism(enabled: bool = True):
    """TensorFlow's op determinism on inside the block and as it was after it. TensorFlow offers only
    tf.config.experimental.enable_op_determinism, which stays on for the rest of the process; the
    switch back (and the state) are tensorflow.python.framework.config's, its private module."""
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    if enabled and not before:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not before:
            tf_config.disable_op_determinism()
