"""ROAD, RemOve And Debias (Rong et al. 2022): a map's faithfulness from how the model's score falls as
the pixels it ranks most relevant (MoRF) or least relevant (LeRF) are removed, where removed pixels are
filled by noisy linear imputation instead of a constant, so the removal itself does not carry
information (the out-of-distribution artefact of deletion with a constant baseline).

Noisy linear imputation: every removed pixel equals the weighted mean of its 8 neighbours (weight 1/6
for the 4 direct ones, 1/12 for the diagonals, as in ROAD's NoisyLinearImputer), a sparse linear system
solved per image and shared by its channels, plus Gaussian noise of 1% of the image's standard deviation.
A good map: low MoRF area (the score falls fast), high LeRF area (it barely moves).
"""
from __future__ import annotations

import keras
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
NEIGHBOURS = [(-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
              (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12)]
NOISE = 0.01


def impute(image: np.ndarray, removed: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """image (H, W, C) with the pixels of `removed` (H, W) bool filled by noisy linear imputation."""
    h, w = removed.shape
    index = -np.ones((h, w), int)
    rows, cols = np.nonzero(removed)
    index[rows, cols] = np.arange(len(rows))
    if not len(rows):
        return image.copy()
    diagonal = np.zeros(len(rows))
    rhs = np.zeros((len(rows), image.shape[-1]))
    a_rows, a_cols, a_values = [], [], []
    for dy, dx, weight in NEIGHBOURS:
        y, x = rows + dy, cols + dx
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        diagonal[inside] += weight
        yi, xi, unknowns = y[inside], x[inside], np.flatnonzero(inside)
        neighbour = index[yi, xi]
        free = neighbour >= 0  # a removed neighbour is an unknown too
        a_rows.append(unknowns[free]), a_cols.append(neighbour[free]), a_values.append(np.full(free.sum(), -weight))
        np.add.at(rhs, unknowns[~free], weight * image[yi[~free], xi[~free]])
    matrix = sparse.csr_matrix((np.concatenate([diagonal, *a_values]),
                                (np.concatenate([np.arange(len(rows)), *a_rows]),
                                 np.concatenate([np.arange(len(rows)), *a_cols]))), shape=(len(rows),) * 2)
    solved = spsolve(matrix.tocsc(), rhs).reshape(len(rows), -1)
    out = image.astype(np.float64).copy()
    out[rows, cols] = solved + rng.normal(0, noise * image.std() + 1e-12, solved.shape)
    return out.astype(image.dtype)


def road_curves(model: keras.Model, images: np.ndarray, maps: np.ndarray, target_class: np.ndarray,
                fractions=FRACTIONS, seed: int = 0, batch_size: int = 64) -> dict:
    """{"fractions", "morf", "lerf": (F,) mean target-class probability after removing each fraction
    of the most / least relevant pixels, "morf_area", "lerf_area": the curves' means over the fractions,
    per image as "morf_per_image" / "lerf_per_image" (N,)}. images (N, H, W, C) as the model takes them,
    maps (N, H, W), target_class (N,) 1 PNEUMONIA / 0 NORMAL."""
    rng = np.random.default_rng(seed)
    n, h, w = maps.shape
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")
    out = {}
    for name, ranked in (("morf", order), ("lerf", order[:, ::-1])):
        batch = []
        for fraction in fractions:
            k = int(round(fraction * h * w))
            for image, ranking in zip(images, ranked):
                removed = np.zeros(h * w, bool)
                removed[ranking[:k]] = True
                batch.append(impute(image, removed.reshape(h, w), rng))
        p = model.predict(np.stack(batch).astype(np.float32), batch_size=batch_size, verbose=0)[:, 0]
        scores = np.where(np.tile(target_class, len(fractions)) == 1, p, 1 - p).reshape(len(fractions), n)
        out[name], out[f"{name}_per_image"] = scores.mean(1), scores.mean(0)
        out[f"{name}_area"] = float(scores.mean())
    return {"fractions": list(fractions), **out}


def baseline_maps(shape: tuple[int, int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """The maps every method is compared with on the same images: a uniform random map and a centred
    Gaussian prior (sigma a quarter of the side), (N, H, W) each."""
    n, h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    prior = np.exp(-(((y - (h - 1) / 2) / (h / 4)) ** 2 + ((x - (w - 1) / 2) / (w / 4)) ** 2) / 2)
    return {"random": np.random.default_rng(seed).uniform(size=shape), "centre": np.broadcast_to(prior, shape).copy()}
