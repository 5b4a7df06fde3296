"""Figures (matplotlib, PNG, Agg backend): training curves, confusion matrix, ROC, PR, worst errors."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay  # noqa: E402

from pneumonia_tf import CLASSES  # noqa: E402
from pneumonia_tf.records import atomic_write  # noqa: E402


def save(fig, path: str | Path) -> Path:
    """Save a figure atomically as PNG and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())


def training_curves(history: pd.DataFrame, path) -> Path:
    """Loss and accuracy per epoch, train vs validation."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, unit in zip(axes, ("loss", "accuracy"), ("binary cross-entropy (nats)", "fraction correct")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            if prefix + key in history:
                ax.plot(history["epoch"] + 1, history[prefix + key], marker="o", label=label)
        ax.set(xlabel="epoch", ylabel=f"{key}: {unit}", title=key)
        ax.legend()
    return save(fig, path)


def confusion(labels, scores, threshold: float, path) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(labels, np.asarray(scores) >= threshold, display_labels=CLASSES,
                                            ax=ax, colorbar=False)
    ax.set_title(f"test split, threshold {threshold:.3f}")
    return save(fig, path)


def roc(labels, scores, path) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    RocCurveDisplay.from_predictions(labels, scores, ax=ax, plot_chance_level=True, name="model")
    ax.set(xlabel=f"false positive rate ({CLASSES[0]} called {CLASSES[1]})",
           ylabel=f"true positive rate ({CLASSES[1]} found)", title="ROC, test split")
    return save(fig, path)


def precision_recall(labels, scores, path) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    PrecisionRecallDisplay.from_predictions(labels, scores, ax=ax, plot_chance_level=True, name="model")
    ax.set(xlabel=f"recall ({CLASSES[1]} found)", ylabel=f"precision (of images called {CLASSES[1]})",
           title="precision-recall, test split")
    return save(fig, path)


def image_grid(images, path, titles=None, cols: int = 4, cell: tuple[float, float] = (3, 3.2), title: str = "",
               empty: str = "no images", vmin=None, vmax=None, fontsize: int = 9) -> Path:
    """One grid of images, `cols` per row: gray (H, W) images drawn in gray (vmin / vmax fix the scale,
    else each image is stretched), RGB (H, W, 3) as they are; a title over each and over the whole.
    Used for worst errors, CAM overlays and DCGAN samples."""
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows + (0.4 if title else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        image = np.asarray(image)
        ax.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image,
                  cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None, vmin=vmin, vmax=vmax)
        if titles:
            ax.set_title(titles[i], fontsize=fontsize)
    if not len(images):
        axes.flat[0].set_title(empty)
    if title:
        fig.suptitle(title, fontsize=18)
    return save(fig, path)


def worst_errors(paths, labels, scores, path, n: int = 12) -> Path:
    """Grid of the n test images the model got most confidently wrong."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    error = np.abs(labels - scores)
    order = [i for i in np.argsort(-error) if (scores[i] >= 0.5) != bool(labels[i])][:n]
    return image_grid([np.asarray(Image.open(paths[i]).convert("L")) for i in order], path,
                      [f"true {CLASSES[int(labels[i])]}\np(PNEUMONIA)={scores[i]:.2f}" for i in order],
                      empty="no misclassified images")
