"""The hyperparameter spaces of the Keras Tuner searches (pneumonia_tf.tune), as data: what a study's
[tune].space may name is checked against them when the study is read (pneumonia_tf.experiments)."""
from __future__ import annotations

# A list is a choice; a dict is a range {min, max, log} (float) or {min, max, step} (int). sgd_momentum
# (optional) is SGD's momentum, applied to the trials whose optimizer is SGD.
SPACES = {
    "cnn": {"conv1": [16, 32, 64], "conv2": [32, 64, 128], "conv3": [64, 128, 256], "conv_dropout": [0.0, 0.25],
            "dense": [128, 256], "dense_dropout": [0.0, 0.5], "batch_norm": [False, True], "l1": [0.0, 0.001],
            "l2": [0.0, 0.001], "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}, "batch_size": [16, 32, 64],
            "optimizer": ["adam"], "weight_decay": [0.0], "sgd_momentum": [0.9]},
    "transfer": {"base": ["vgg16", "resnet50v2", "densenet201"], "threshold_epoch": {"min": 1, "max": 3, "step": 1},
                 "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True}, "dropout": [0.3, 0.5],
                 "batch_size": [32], "optimizer": ["adam"], "weight_decay": [0.0], "sgd_momentum": [0.9]},
}
