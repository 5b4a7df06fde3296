"""Grad-CAM (Selvaraju et al. 2017) and CAM (Zhou et al. 2016) for every model here.

gradcam(model, images) -> (N, H, W) heatmaps in [0, 1] at the input size, one GradientTape per batch,
gradients of the LOGIT (pre-sigmoid); for target NORMAL in a one-output model, of the negated logit.
"""
from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from pneumonia_tf.models.transfer import BASES

TARGETS = {"predicted": None, "PNEUMONIA": 1.0, "NORMAL": -1.0, 1: 1.0, 0: -1.0}
_TRACED: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def _spatial(layer) -> bool:
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def find_conv_layer(model: keras.Model, name: str | None = None):
    """(container, layer): the named layer, else 'last_conv', else the ImageNet base's known last conv
    output, else the last layer with a 4-D output; searched in nested models too. `container` is
    the model (or nested model) that holds it."""
    wanted = [name] if name else ["last_conv", *(conv for _, conv in BASES.values())]
    for candidate in wanted:
        for container in [model, *[layer for layer in model.layers if isinstance(layer, keras.Model)]]:
            try:
                return container, container.get_layer(candidate)
            except ValueError:
                continue
    if name:
        raise ValueError(f"layer {name!r} not found in model {model.name!r} or its nested models")
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            return find_conv_layer(layer)
        if _spatial(layer) and not isinstance(layer, keras.layers.InputLayer):
            return model, layer
    raise ValueError(f"model {model.name!r} has no layer with a 4-D (N, H, W, C) output")


def _logit_from(layer, x):
    """Apply the output layer without its sigmoid: the logit (N,)."""
    if layer.name == "probability" or isinstance(layer, keras.layers.Activation):
        return None
    if isinstance(layer, keras.layers.Dense) and layer.activation is keras.activations.sigmoid:
        return keras.ops.matmul(x, layer.kernel)[:, 0] + layer.bias[0]
    return None


def conv_and_logit(model: keras.Model, layer: str | None = None):
    """A function images -> (conv activations (N, h, w, k), logits (N,)), inference mode.

    Flat functional and Sequential models: one sub-model to (conv output, input of the output layer).
    Nested base: the outer layers are applied in order around a sub-model of the base."""
    container, conv = find_conv_layer(model, layer)
    out_layer = model.layers[-1]
    if container is model:
        has_logit = any(l.name == "logit" for l in model.layers)
        tail = model.get_layer("logit").output if has_logit else out_layer.input
        sub = keras.Model(model.inputs, [conv.output, tail])

        def run(images):
            activations, pre = sub(images, training=False)
            return activations, pre[:, 0] if has_logit else _logit_from(out_layer, pre)
        return run
    inner = keras.Model(container.inputs, [conv.output, container.output])

    def run(images):
        x, activations = images, None
        for current in model.layers:
            if current is container:
                activations, x = inner(x, training=False)
            elif current is out_layer:
                logit = _logit_from(current, x)
                return activations, logit if logit is not None else current(x, training=False)[:, 0]
            elif current.name == "logit":
                return activations, current(x, training=False)[:, 0]
            elif not isinstance(current, keras.layers.InputLayer):
                x = current(x, training=False)
        raise ValueError(f"model {model.name!r}: could not find its output layer")
    return run


def _signs(logits, target) -> tf.Tensor:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
    sign = TARGETS[target]
    return tf.where(logits >= 0, 1.0, -1.0) if sign is None else tf.fill(tf.shape(logits), sign)


def _finish(maps, size) -> np.ndarray:
    """ReLU, resize to the input size, per-image max normalisation (an all-zero map stays zero)."""
    maps = tf.image.resize(tf.nn.relu(tf.cast(maps, tf.float32))[..., None], size, method="bilinear")[..., 0]
    peak = tf.reduce_max(maps, axis=[1, 2], keepdims=True)
    return tf.clip_by_value(tf.math.divide_no_nan(maps, peak), 0.0, 1.0).numpy()


def _batch_function(model: keras.Model, layer: str | None, target):
    """The traced batch -> raw Grad-CAM maps function, made once per (model, layer, target)."""
    traced = _TRACED.setdefault(model, {})
    if (layer, target) not in traced:
        run = conv_and_logit(model, layer)

        @tf.function(reduce_retracing=True)
        def batch_maps(x):
            with tf.GradientTape() as tape:
                activations, logits = run(x)
                tape.watch(activations)  # as computed: a float32 copy would be off the logit's path
                logits = tf.cast(logits, tf.float32)
                scores = logits * _signs(logits, target)
            # images are independent: one tape per batch; under a mixed policy the activations and their
            # gradients are float16/bfloat16 and are averaged and summed in float32
            grads = tf.cast(tape.gradient(scores, activations), tf.float32)
            weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
            return tf.reduce_sum(weights * tf.cast(activations, tf.float32), axis=-1)
        traced[(layer, target)] = batch_maps
    return traced[(layer, target)]


def gradcam(model: keras.Model, images, layer: str | None = None, target="predicted",
            batch_size: int = 32) -> np.ndarray:
    """Grad-CAM heatmaps (N, H, W) in [0, 1] for images (N, H, W, C) as the model takes them.

    target: "predicted" (per image), "PNEUMONIA"/1 or "NORMAL"/0."""
    _signs(tf.zeros([1]), target)  # validates target
    run = _batch_function(model, layer, target)
    images = np.asarray(images, dtype=np.float32)
    maps = [run(tf.constant(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return _finish(tf.concat(maps, 0), images.shape[1:3])


def cam(model: keras.Model, images, target="predicted", batch_size: int = 32) -> np.ndarray:
    """Class activation maps (N, H, W) in [0, 1] for global-average-pooling nets (resnet18_1ch):
    sum_k w_k A_k with w the logit layer's weights (negated for NORMAL)."""
    run = conv_and_logit(model)
    weights = model.get_layer("logit").kernel[:, 0]
    images = np.asarray(images, dtype=np.float32)
    maps = []
    for i in range(0, len(images), batch_size):
        activations, logits = run(tf.constant(images[i:i + batch_size]))
        signs = _signs(tf.cast(logits, tf.float32), target)
        maps.append(tf.einsum("nhwk,k->nhw", tf.cast(activations, tf.float32), weights) * signs[:, None, None])
    return _finish(tf.concat(maps, 0), images.shape[1:3])
