"""Is a saliency map right? Checks users can run on any model.

- randomization_correlation: Adebayo et al. 2018 model-randomization test; maps of a trained model
  should NOT resemble those of the same architecture with random weights (low rank correlation).
- pointing_game / iou: localization against known regions (phantom masks, RSNA boxes).
- deletion_insertion: faithfulness; removing the most salient pixels first should drop the score
  fast (low deletion AUC), adding them first should raise it fast (high insertion AUC).
"""
from __future__ import annotations

import json

import keras
import numpy as np
from scipy.ndimage import binary_dilation
from scipy.stats import spearmanr


def randomized_copy(model: keras.Model, seed: int = 0) -> keras.Model:
    """Same architecture, freshly initialised weights."""
    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)


def randomization_correlation(maps_trained: np.ndarray, maps_random: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per image between two (N, H, W) map sets; (N,). A constant map (e.g.
    all zero) carries no ranking, so its correlation is 0."""
    return np.array([spearmanr(a.ravel(), b.ravel()).statistic if np.ptp(a) > 0 and np.ptp(b) > 0 else 0.0
                     for a, b in zip(maps_trained, maps_random)])


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
                       steps: int = 16, baseline: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(deletion AUC (N,), insertion AUC (N,)) of the target-class probability as pixels are replaced
    by `baseline` (default: each image's mean) in order of decreasing saliency, and vice versa."""
    n, h, w = maps.shape
    if baseline is None:
        baseline = np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape)
    order = np.argsort(-maps.reshape(n, -1), axis=1)
    fractions = np.linspace(0, 1, steps + 1)
    curves = {"deletion": [], "insertion": []}
    for fraction in fractions:
        chosen = np.zeros((n, h * w), bool)
        k = int(round(fraction * h * w))
        np.put_along_axis(chosen, order[:, :k], True, axis=1)
        chosen = chosen.reshape(n, h, w, 1)
        for kind, batch in (("deletion", np.where(chosen, baseline, images)),
                            ("insertion", np.where(chosen, images, baseline))):
            p = model.predict(batch.astype(np.float32), verbose=0)[:, 0]
            curves[kind].append(np.where(target_class == 1, p, 1 - p))
    return tuple(np.trapezoid(np.array(curves[kind]), fractions, axis=0) for kind in ("deletion", "insertion"))
