"""The CAM family, each only its own weighting of the activations A (n, h, w, K) with the gradients G
of the target score (see base.py for what they share):

- gradcam (Selvaraju et al. 2017): w_k = mean_ij G_ijk; map = sum_k w_k A_k.
- gradcam_plus_plus (Chattopadhay et al. 2018): alpha_ijk = G^2 / (2 G^2 + sum_ab A_abk G^3) (0 where
  G = 0), the second- and third-order terms of the exponential-score assumption written with powers of
  the first-order gradient, as pytorch-grad-cam does; w_k = sum_ij alpha_ijk relu(G_ijk).
- hirescam (Draelos and Carin 2020): map = sum_k G_k * A_k, element-wise (no spatial averaging).
- layercam (Jiang et al. 2021): map = sum_k relu(G_k) * A_k, element-wise.
- scorecam (Wang et al. 2020): w_k = the target-class probability of the image multiplied by A_k
  upsampled and min-max normalized to [0, 1]; no softmax over channels (one sigmoid output); all
  masked images of a batch go through the model in large batches, except those of channels that are
  zero on the image, which add nothing to its map.
- cam (Zhou et al. 2016), for global-average-pooling nets: w_k = the logit layer's kernel, negated
  for NORMAL.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pneumonia_tf.cam.base import _TRACED, BaseCAM, conv_and_logit, signs

EPS = 1e-7


class GradCAM(BaseCAM):
    name = "gradcam"

    def weights(self, activations, grads, model):
        return tf.reduce_mean(grads, axis=[1, 2], keepdims=True)


class GradCAMPlusPlus(BaseCAM):
    name = "gradcam_plus_plus"

    def weights(self, activations, grads, model):
        squared = grads * grads
        cubed = squared * grads
        total = tf.reduce_sum(activations, axis=[1, 2], keepdims=True)
        alpha = tf.where(grads != 0, squared / (2 * squared + total * cubed + EPS), 0.0)
        return tf.reduce_sum(alpha * tf.nn.relu(grads), axis=[1, 2], keepdims=True)


class HiResCAM(BaseCAM):
    name = "hirescam"

    def combine(self, activations, grads, model):
        return tf.reduce_sum(grads * activations, axis=-1)


class LayerCAM(BaseCAM):
    name = "layercam"

    def combine(self, activations, grads, model):
        return tf.reduce_sum(tf.nn.relu(grads) * activations, axis=-1)


class CAM(BaseCAM):
    """Needs a logit Dense layer fed by global average pooling of the explained layer (resnet18_1ch)."""
    name = "cam"
    uses_gradients = False

    def raw_maps(self, model, images, layer, target, batch_size):
        run = conv_and_logit(model, layer)
        kernel = tf.cast(model.get_layer("logit").kernel[:, 0], tf.float32)
        maps = []
        for i in range(0, len(images), batch_size):
            activations, logits = run(tf.constant(images[i:i + batch_size]))
            maps.append(tf.einsum("nhwk,k->nhw", tf.cast(activations, tf.float32), kernel)
                        * signs(logits, target)[:, None, None])
        return tf.concat(maps, 0)


class ScoreCAM(BaseCAM):
    name = "scorecam"
    uses_gradients = False

    def __init__(self, mask_batch: int = 256):
        self.mask_batch = mask_batch  # masked images per forward pass (1: one per channel per image)

    def _traced(self, model, layer, target):
        """(images -> (activations, logits), the traced channel-score function), made once per model and
        layer."""
        traced = _TRACED.setdefault(model, {})
        key = (self.name, layer)
        if key not in traced:
            run = conv_and_logit(model, layer)

            @tf.function(reduce_retracing=True)
            def channel_scores(x, activations, sign, image_index, channel_index):
                """Target-class probability of x[image] * normalized upsampled A[image, :, :, channel]."""
                chosen = tf.gather_nd(tf.transpose(activations, [0, 3, 1, 2]),
                                      tf.stack([image_index, channel_index], 1))
                up = tf.image.resize(chosen[..., None], tf.shape(x)[1:3], method="bilinear")
                low = tf.reduce_min(up, axis=[1, 2, 3], keepdims=True)
                mask = tf.math.divide_no_nan(up - low, tf.reduce_max(up, axis=[1, 2, 3], keepdims=True) - low)
                _, logits = run(tf.gather(x, image_index) * mask)
                return tf.sigmoid(tf.cast(logits, tf.float32) * tf.gather(sign, image_index))
            traced[key] = run, channel_scores
        return traced[key]

    def raw_maps(self, model, images, layer, target, batch_size):
        run, channel_scores = self._traced(model, layer, target)
        maps = []
        for i in range(0, len(images), batch_size):
            x = tf.constant(images[i:i + batch_size])
            activations, logits = run(x)
            activations = tf.cast(activations, tf.float32)
            sign = signs(logits, target)
            n, k = int(activations.shape[0]), int(activations.shape[-1])
            # Only channels with some non-zero activation on the image: an all-zero A_k adds w_k * 0 to the
            # map whatever its score (after a ReLU, ~half the channels of a trained CNN on an image).
            pairs = np.argwhere(tf.reduce_any(activations != 0, axis=[1, 2]).numpy()).astype("int32")
            scores = tf.zeros((n, k))
            if len(pairs):
                computed = tf.concat([channel_scores(x, activations, sign, tf.constant(chunk[:, 0]),
                                                     tf.constant(chunk[:, 1]))
                                      for chunk in np.array_split(pairs, -(-len(pairs) // self.mask_batch))], 0)
                scores = tf.tensor_scatter_nd_update(scores, pairs, computed)
            maps.append(tf.reduce_sum(activations * scores[:, None, None, :], axis=-1))
        return tf.concat(maps, 0)


METHODS: dict[str, type[BaseCAM]] = {cls.name: cls for cls in (GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM,
                                                                ScoreCAM, CAM)}


def method(name: str) -> BaseCAM:
    """The method called `name` (one of METHODS)."""
    if name not in METHODS:
        raise ValueError(f"unknown CAM method {name!r}; expected one of {', '.join(METHODS)}")
    return METHODS[name]()


def maps(model: keras.Model, images, name: str = "gradcam", layer: str | None = None, target="predicted",
         batch_size: int = 32) -> np.ndarray:
    """Maps (N, H, W) in [0, 1] of `name` for images (N, H, W, C) as the model takes them."""
    return method(name)(model, images, layer, target, batch_size)
