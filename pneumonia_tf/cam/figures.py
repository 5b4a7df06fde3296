"""Heatmap overlays and the grids the seeds show (matplotlib, PNG)."""
from __future__ import annotations

import numpy as np

from pneumonia_tf.plots import image_grid, plt, save


def overlay(image: np.ndarray, heatmap: np.ndarray, cmap: str = "jet", alpha: float = 0.4) -> np.ndarray:
    """image (H, W) or (H, W, C) in [0, 1], heatmap (H, W) in [0, 1] -> RGB (H, W, 3) in [0, 1]."""
    gray = image if image.ndim == 2 else image.mean(axis=-1)
    rgb = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=-1)
    colored = plt.get_cmap(cmap)(np.clip(heatmap, 0, 1))[..., :3]
    return (1 - alpha) * rgb + alpha * colored


def _gray(image):
    return image if image.ndim == 2 else image.mean(axis=-1)


def three_row_grid(images, heatmaps, titles, path, cmap="jet", alpha=0.4):
    """Seed 002's figure: row 1 the images, row 2 the heatmaps, row 3 superimposed; one column each."""
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(3 * n, 9), squeeze=False)
    for j, (image, heatmap, title) in enumerate(zip(images, heatmaps, titles)):
        axes[0, j].imshow(_gray(image), cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(title, fontsize=9)
        axes[1, j].imshow(heatmap, cmap=cmap, vmin=0, vmax=1)
        axes[2, j].imshow(overlay(image, heatmap, cmap, alpha))
    for ax, label in zip(axes[:, 0], ("image", "heatmap", "superimposed")):
        ax.set_ylabel(label)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, path)


def overlay_grid(images, heatmaps, titles, path, cols: int = 4, cmap="jet", alpha=0.4):
    """Seed 000's figure: a grid of overlays with titles."""
    return image_grid([overlay(image, heatmap, cmap, alpha) for image, heatmap in zip(images, heatmaps)], path,
                      list(titles), cols=cols, cell=(3, 3.6))


def method_grid(images, by_method: dict, titles, path, cmap="jet", alpha=0.4):
    """Several methods side by side: one row per image (its title on the left), the image, then one
    overlay per method (the column titles)."""
    names = list(by_method)
    fig, axes = plt.subplots(len(images), len(names) + 1, figsize=(2.6 * (len(names) + 1), 2.8 * len(images)),
                             squeeze=False)
    for i, (image, title) in enumerate(zip(images, titles)):
        axes[i, 0].imshow(_gray(image), cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title(title, fontsize=8)
        for j, name in enumerate(names, 1):
            axes[i, j].imshow(overlay(image, by_method[name][i], cmap, alpha))
            if i == 0:
                axes[i, j].set_title(name, fontsize=11)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, path)


def road_figure(result: dict, path):
    """ROAD curves of every method and baseline of a scorecard: the target-class probability as the most
    (MoRF, left) and least (LeRF, right) relevant pixels are removed. Good: MoRF falls fast (low area),
    LeRF stays high (high area)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    entries = {**result["methods"], **{f"baseline: {k}": v for k, v in result["baselines"].items()}}
    for name, scores in entries.items():
        style = "--" if name.startswith("baseline") else "-"
        for ax, kind in zip(axes, ("morf", "lerf")):
            ax.plot(scores["road_fractions"], scores[f"road_{kind}_curve"], style, marker="o", markersize=3,
                    label=f"{name} ({scores[f'road_{kind}_area']:.2f})")
    for ax, title in zip(axes, ("MoRF: most relevant removed first (lower is better)",
                                "LeRF: least relevant removed first (higher is better)")):
        ax.set(xlabel="fraction of pixels removed (noisy linear imputation)", title=title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("target-class probability")
    return save(fig, path)


def randomization_figure(result: dict, path):
    """Cascading model randomization of every method: SSIM to the trained model's maps as the layers
    are re-initialized from the top. Good: it falls towards 0 (the maps depend on the weights)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, scores in result["methods"].items():
        steps = scores["randomization"]
        ax.plot([s["layers"] for s in steps], [s["ssim"] for s in steps], marker="o", label=name)
    ax.set(xlabel="weighted layers re-initialized, from the logit down", ylabel="SSIM to the trained maps",
           title="cascading randomization (lower is better)", ylim=(-0.05, 1.05))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, path)
