"""The head every model of the suite ends in: a Dense(1) layer named "logit" and a float32 sigmoid
named "probability" (Grad-CAM takes gradients of the logit; mixed precision keeps a float32 output)."""
from __future__ import annotations

import keras


def output_head(x):
    """Dense(1) logit -> float32 sigmoid probability."""
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.layers.Activation("sigmoid", dtype="float32", name="probability")(logit)
