"""tf.distribute strategies by name, for training and tuning."""
from __future__ import annotations

import tensorflow as tf
from pneumonia_tf.errors import UserError

STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """default: one device; mirrored: every local device (GPUs, or logical CPUs); multiworker:
    MultiWorkerMirroredStrategy, which reads the cluster from the TF_CONFIG environment variable."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
