"""Is a saliency map right? Checks users can run on any model.

- randomization_correlation, cascading_randomization: Adebayo et al. 2018 model-randomization test, as
  Arun et al. (2021) ran it: maps of a trained model should NOT resemble those of the same
  architecture with weights re-initialized (low SSIM and rank correlation), layer by layer from the top.
- pointing_game / iou / auprc: localization against known regions (phantom masks, RSNA boxes).
- ssim: structural similarity of two map sets (repeatability across seeds, agreement across methods).
- deletion_insertion: faithfulness; removing the most salient pixels first should drop the score
  fast (low deletion AUC), adding them first should raise it fast (high insertion AUC). ROAD, which
  avoids deletion's out-of-distribution artefact, is in road.py.
"""
from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf
from scipy.ndimage import binary_dilation
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score


def randomized_copy(model: keras.Model, seed: int = 0) -> keras.Model:
    """Same architecture, freshly initialised weights."""
    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)


def randomization_correlation(maps_trained: np.ndarray, maps_random: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per image between two (N, H, W) map sets; (N,). A constant map (e.g.
    all zero) carries no ranking, so its correlation is 0."""
    return np.array([spearmanr(a.ravel(), b.ravel()).statistic if np.ptp(a) > 0 and np.ptp(b) > 0 else 0.0
                     for a, b in zip(maps_trained, maps_random)])


def ssim(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    """(N,) structural similarity (Wang et al. 2004, tf.image.ssim, maps in [0, 1]) of two (N, H, W) map
    sets, image by image; 1 is identical."""
    a, b = (tf.constant(np.asarray(m, np.float32)[..., None]) for m in (maps_a, maps_b))
    return tf.image.ssim(a, b, max_val=1.0, filter_size=min(11, int(a.shape[1]), int(a.shape[2]))).numpy()


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that hold weights, outermost first in the order data flows (nested bases flattened)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += weighted_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def cascading_randomization(model: keras.Model, maps_of, steps: int = 4, seed: int = 0) -> list[dict]:
    """Re-initialize the weighted layers from the top (the logit) down, cumulatively, in `steps` steps,
    and after each compare the maps with the trained model's: [{"randomized_from": first layer
    re-initialized, "layers": how many, "ssim", "rank_correlation"}] (means over images). `maps_of`:
    model -> (N, H, W) maps. The trained model is left as it was."""
    trained = maps_of(model)
    random_model = randomized_copy(model, seed)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    layers, fresh = weighted_layers(copy)[::-1], weighted_layers(random_model)[::-1]
    cuts = sorted({int(round(c)) for c in np.linspace(1, len(layers), min(steps, len(layers)))})  # top layer first
    out, done = [], 0
    for cut in cuts:
        for layer, new in zip(layers[done:cut], fresh[done:cut]):
            layer.set_weights(new.get_weights())
        done = cut
        maps = maps_of(copy)
        out.append({"randomized_from": layers[cut - 1].name, "layers": cut,
                    "ssim": float(np.mean(ssim(trained, maps))),
                    "rank_correlation": float(np.nanmean(randomization_correlation(trained, maps)))})
    return out


def auprc(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N,) area under the precision-recall curve of each map's pixels against its region mask
    (Arun et al. 2021's localization score); NaN where the mask is empty or full."""
    return np.array([average_precision_score(m.ravel(), s.ravel()) if 0 < m.sum() < m.size else np.nan
                     for s, m in zip(maps, masks)])


def boxes_to_mask(boxes: str | list, height: int, width: int) -> np.ndarray:
    """JSON or list of [x, y, w, h] fractions -> (H, W) bool."""
    boxes = json.loads(boxes) if isinstance(boxes, str) else boxes
    mask = np.zeros((height, width), bool)
    for x, y, w, h in boxes:
        mask[int(y * height):int(np.ceil((y + h) * height)), int(x * width):int(np.ceil((x + w) * width))] = True
    return mask


def pointing_game(maps: np.ndarray, masks: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """(N,) bool: does each map's maximum fall inside its mask grown by `tolerance` pixels? (Zhang et al.
    2016 use 15 pixels at 224x224; see default_tolerance.)"""
    if tolerance:
        disk = np.hypot(*np.mgrid[-tolerance:tolerance + 1, -tolerance:tolerance + 1]) <= tolerance
        masks = np.stack([binary_dilation(mask, disk) for mask in masks])
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return masks.reshape(len(masks), -1)[np.arange(len(maps)), flat]


def default_tolerance(size: int) -> int:
    """The pointing game's 15 pixels at 224x224, scaled to an image side of `size` pixels."""
    return int(round(15 * size / 224))


def iou(maps: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(N,) intersection over union of (map >= threshold) with the mask."""
    hot = maps >= threshold
    inter = (hot & masks).sum(axis=(1, 2))
    union = (hot | masks).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def deletion_insertion(model: keras.Model, images: np.ndarray, maps: np.ndarray, target_class: np.ndarray,
                       steps: int = 16, baseline: np.ndarray | None = None,
                       batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(deletion AUC (N,), insertion AUC (N,)) of the target-class probability as pixels are replaced
    by `baseline` (default: each image's mean) in order of decreasing saliency, and vice versa. Every
    step of both curves goes through the model in one predict call."""
    n, h, w = maps.shape
    if baseline is None:
        baseline = np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape)
    order = np.argsort(-maps.reshape(n, -1), axis=1)
    fractions = np.linspace(0, 1, steps + 1)
    batches = {"deletion": [], "insertion": []}
    for fraction in fractions:
        chosen = np.zeros((n, h * w), bool)
        np.put_along_axis(chosen, order[:, :int(round(fraction * h * w))], True, axis=1)
        chosen = chosen.reshape(n, h, w, 1)
        batches["deletion"].append(np.where(chosen, baseline, images))
        batches["insertion"].append(np.where(chosen, images, baseline))
    stacked = np.concatenate([*batches["deletion"], *batches["insertion"]]).astype(np.float32)
    p = model.predict(stacked, batch_size=batch_size, verbose=0)[:, 0].reshape(2, len(fractions), n)
    scores = np.where(target_class == 1, p, 1 - p)
    return tuple(np.trapezoid(scores[i], fractions, axis=0) for i in range(2))
