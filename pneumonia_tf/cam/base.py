"""What every class-activation-map method shares, as pytorch-grad-cam's BaseCAM: the sub-model from
the input to a convolutional layer and the logit, the target, batching, mixed precision, upsampling
and normalization. A method is then only its own weighting of the activations (methods.py).

Shapes: images (N, H, W, C) as the model takes them; activations A (n, h, w, K) of the explained layer;
gradients G (n, h, w, K) of the target score, the logit (pre-sigmoid) for PNEUMONIA and its negation
for NORMAL; a raw map (n, h, w); a finished map (N, H, W) in [0, 1]: ReLU, bilinear upsampling to the
input size, each map divided by its maximum (an all-zero map stays zero).
"""
from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from pneumonia_tf.keras_compat import model_input
from pneumonia_tf.models.registry import SPECS

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
    wanted = [name] if name else list(dict.fromkeys(s.gradcam_layer for s in SPECS.values()))  # "last_conv" first
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
        sub = keras.Model(model_input(model), [conv.output, tail])

        def run(images):
            activations, pre = sub(images, training=False)
            return activations, pre[:, 0] if has_logit else _logit_from(out_layer, pre)
        return run
    inner = keras.Model(model_input(container), [conv.output, container.output])

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


def check_target(target) -> None:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")


def signs(logits, target) -> tf.Tensor:
    """+1 where the target is PNEUMONIA, -1 where it is NORMAL ("predicted": the logit's sign)."""
    check_target(target)
    sign = TARGETS[target]
    logits = tf.cast(logits, tf.float32)
    return tf.where(logits >= 0, 1.0, -1.0) if sign is None else tf.fill(tf.shape(logits), sign)


def finish(maps, size) -> np.ndarray:
    """ReLU, resize to the input size, per-image max normalisation (an all-zero map stays zero)."""
    maps = tf.image.resize(tf.nn.relu(tf.cast(maps, tf.float32))[..., None], size, method="bilinear")[..., 0]
    peak = tf.reduce_max(maps, axis=[1, 2], keepdims=True)
    return tf.clip_by_value(tf.math.divide_no_nan(maps, peak), 0.0, 1.0).numpy()


class BaseCAM:
    """One CAM method: `combine(A, G, model)` turns activations and gradients (float32) into raw maps.
    The base owns the rest; `uses_gradients = False` methods (Score-CAM) override `raw_maps`."""
    name = "base"
    uses_gradients = True

    def combine(self, activations: tf.Tensor, grads: tf.Tensor, model: keras.Model) -> tf.Tensor:
        """Raw maps (n, h, w): by default sum_k weights_k A_k, with weights from `weights`."""
        return tf.reduce_sum(self.weights(activations, grads, model) * activations, axis=-1)

    def weights(self, activations: tf.Tensor, grads: tf.Tensor, model: keras.Model) -> tf.Tensor:
        """(n, 1, 1, K) channel weights."""
        raise NotImplementedError

    def _traced(self, model: keras.Model, layer: str | None, target):
        """The traced batch -> raw maps function, made once per (model, layer, target, method)."""
        traced = _TRACED.setdefault(model, {})
        key = (self.name, layer, target)
        if key not in traced:
            run = conv_and_logit(model, layer)

            @tf.function(reduce_retracing=True)
            def batch_maps(x):
                with tf.GradientTape() as tape:
                    activations, logits = run(x)
                    tape.watch(activations)  # as computed: a float32 copy would be off the logit's path
                    logits = tf.cast(logits, tf.float32)
                    scores = logits * signs(logits, target)
                # images are independent: one tape per batch; under a mixed policy the activations and their
                # gradients are float16/bfloat16 and are combined in float32
                grads = tf.cast(tape.gradient(scores, activations), tf.float32)
                return self.combine(tf.cast(activations, tf.float32), grads, model)
            traced[key] = batch_maps
        return traced[key]

    def raw_maps(self, model: keras.Model, images: np.ndarray, layer: str | None, target,
                 batch_size: int) -> tf.Tensor:
        run = self._traced(model, layer, target)
        return tf.concat([run(tf.constant(images[i:i + batch_size])) for i in range(0, len(images), batch_size)], 0)

    def __call__(self, model: keras.Model, images, layer: str | None = None, target="predicted",
                 batch_size: int = 32) -> np.ndarray:
        """Finished maps (N, H, W) in [0, 1] of images (N, H, W, C). target: "predicted" (per image),
        "PNEUMONIA"/1 or "NORMAL"/0."""
        check_target(target)
        images = np.asarray(images, dtype=np.float32)
        return finish(self.raw_maps(model, images, layer, target, batch_size), images.shape[1:3])
