"""Built-in synthetic chest phantom, used when no data set is given.

Numbers measured on it are NOT comparable to any paper: it exists so every command runs anywhere.
Each image is a grayscale radiograph-like drawing (torso, lung fields, ribs, spine, heart shadow,
low-frequency and pixel noise). PNEUMONIA images carry one focal or diffuse opacity inside a lung,
whose mask is saved next to the image (Grad-CAM localization checks use it). Deterministic from a seed,
any size, balanced; opacity strength varies so the task is learnable but not trivial.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pneumonia_tf import CLASSES
from pneumonia_tf.data.cache import cache_dir, fill_once
from pneumonia_tf.data.kermany import load_kermany

_noticed = False
VERSION = 2  # part of the cache key: bump whenever the drawing changes
NOTICE = ("*** SYNTHETIC DATA: the built-in chest phantom is in use. Numbers from this run are NOT "
          "comparable to any paper. Pass --data PATH for the real data set. ***")


def announce() -> None:
    """The synthetic-data notice, from this one place: logged when the phantom is first loaded, and again
    by train and reproduce when they end, after their output."""
    logging.getLogger(__name__).warning(NOTICE)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1], (size, size) float32."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))


def _ellipse(x, y, cx, cy, rx, ry, soft=0.08):
    """Soft-edged ellipse indicator in [0, 1]."""
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return np.clip((1 - r) / soft, 0, 1)


def phantom(rng: np.random.Generator, size: int, pneumonia: bool) -> tuple[np.ndarray, np.ndarray]:
    """One image and its opacity mask: (size, size) float32 in [0, 1] and (size, size) bool."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j].astype(np.float32)
    j = lambda scale: rng.uniform(-scale, scale)  # noqa: E731  anatomical jitter
    image = 0.08 + 0.47 * _ellipse(x, y, j(0.03), 0.05 + j(0.03), 0.92 + j(0.04), 1.1, soft=0.15)
    lungs = [(side * (0.40 + j(0.04)), -0.08 + j(0.05), 0.27 + j(0.03), 0.58 + j(0.05)) for side in (-1, 1)]
    lung = np.maximum(*[_ellipse(x, y, *p) for p in lungs])
    image -= 0.30 * lung
    ribs = 0.5 + 0.5 * np.sin(y * (16 + j(2.0)) * np.pi / 2 - 4.0 * np.abs(x) + j(3.0))
    image += 0.08 * lung * (ribs > 0.8)
    image += 0.30 * np.clip(1 - np.abs(x + j(0.02)) / (0.07 + j(0.01)), 0, 1) * (y > -0.9)  # spine
    image += 0.16 * _ellipse(x, y, 0.12 + j(0.05), 0.36 + j(0.05), 0.30 + j(0.04), 0.26 + j(0.03), soft=0.6)  # heart
    mask = np.zeros((size, size), bool)
    if pneumonia:
        cx, cy, rx, ry = lungs[rng.integers(2)]
        px, py = cx + rng.uniform(-0.5, 0.5) * rx, cy + rng.uniform(-0.2, 0.6) * ry
        strength = rng.uniform(0.2, 0.45)
        if rng.random() < 0.5:  # focal: one blob
            sigma = rng.uniform(0.07, 0.14)
            blob = np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma ** 2))
        else:  # diffuse: patchy texture over a wider region
            sigma = rng.uniform(0.14, 0.22)
            patches = 0.6 + 0.4 * _smooth_noise(rng, size, 10)
            blob = patches * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma ** 2))
        blob *= lung
        image += strength * blob
        mask = blob > 0.35 * blob.max()
    image += 0.06 * _smooth_noise(rng, size, 6) + rng.normal(0, 0.025, (size, size))
    return np.clip(image, 0, 1).astype(np.float32), mask


def _box(mask: np.ndarray) -> list[list[float]]:
    """[(x, y, w, h)] bounding box of a mask as fractions of the image side; [] when empty."""
    if not mask.any():
        return []
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    return [[cols.min() / w, rows.min() / h, (cols.max() + 1 - cols.min()) / w, (rows.max() + 1 - rows.min()) / h]]


def draw_marker(image: np.ndarray) -> np.ndarray:
    """A bright letter L in the top-left corner (inside the outer 10% of each side), where radiographs
    carry orientation letters: the class-correlated shortcut of the marker phantom."""
    size = image.shape[0]
    a, b, stroke = max(1, round(0.015 * size)), max(2, round(0.09 * size)), max(1, round(0.02 * size))
    image = image.copy()
    image[a:b, a:a + stroke] = 1.0
    image[b - stroke:b, a:b] = 1.0
    return image


def materialize(partial: Path, per_class: dict[str, int], size: int, seed: int, marker: bool = False) -> None:
    """Write the phantom as a Kermany-style folder into the empty folder `partial`:
    {train,test}/{NORMAL,PNEUMONIA}/SYN-<patient>-<n>.png. Patients have one or two images. Masks go to
    masks/<same name>.png. With `marker`, every PNEUMONIA image also carries draw_marker's letter."""
    for split_index, (split, count) in enumerate(per_class.items()):
        for label, name in enumerate(CLASSES):
            folder = partial / split / name
            (partial / "masks").mkdir(parents=True, exist_ok=True)
            folder.mkdir(parents=True, exist_ok=True)
            written, patient = 0, 0
            while written < count:
                patient += 1
                pid = 100_000 * split_index + 10_000 * label + patient
                rng = np.random.default_rng([seed, pid])
                for shot in range(1, min(1 + rng.integers(1, 3), count - written + 1)):
                    image, mask = phantom(rng, size, pneumonia=bool(label))
                    if marker and label:
                        image = draw_marker(image)
                    file = f"SYN-{pid:06d}-{shot:04d}.png"
                    Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / file)
                    Image.fromarray(mask.astype(np.uint8) * 255).save(partial / "masks" / file)
                    written += 1


def load_synthetic(size: int = 128, train_per_class: int = 300, test_per_class: int = 100,
                   seed: int = 0, quiet: bool = False, marker: bool = False) -> pd.DataFrame:
    """Index of the phantom (made once and cached), with mask and boxes columns; `marker`: the variant
    whose PNEUMONIA images carry a bright letter in a corner (draw_marker). Prints NOTICE (once per
    process)."""
    global _noticed
    if not quiet and not _noticed:
        announce()
        _noticed = True
    root = cache_dir("synthetic") / (f"v{VERSION}-s{size}-n{train_per_class}-{test_per_class}-seed{seed}"
                                     + ("-marker" if marker else ""))
    fill_once(root, lambda partial: materialize(partial, {"train": train_per_class, "test": test_per_class},
                                                size, seed, marker))
    df = load_kermany(root)
    df["source"] = "synthetic"
    df["mask"] = [str(root / "masks" / Path(p).name) if label else "" for p, label in zip(df["path"], df["label"])]
    df["boxes"] = [json.dumps(_box(np.asarray(Image.open(m)) > 0)) if m else "[]" for m in df["mask"]]
    return df
