"""A shortcut audit: does the model read the image's border and corners (where Kermany's orientation
letters and scanner markers sit, seed 002; Zech et al. 2018, DeGrave et al. 2021) rather than the lungs?

- border mass: the share of each map's mass in the outer 10% band and in the four corner squares
  (10% of the side), against what a uniform map puts there (36% and 4%);
- occlusion: the test ROC AUC with the border band blanked, and with the central region (the middle
  70% of each side, the lung fields) blanked, each against the unoccluded AUC with DeLong's paired
  test. Blanked pixels take the mean of all the audited images (one constant per channel: a per-image
  mean would carry what was blanked, a bright marker raises its image's mean). A model whose AUC falls when only the border is blanked,
  or that keeps its AUC with the lungs blanked, is reading something else.
"""
from __future__ import annotations

import keras
import numpy as np

from pneumonia_tf.stats import delong

BORDER = 0.10  # the band's width, as a fraction of the side
CENTRE = 0.70  # the central region's side, as a fraction of the side
CENTRE_AUC = 0.75  # with the lungs blanked, an AUC at least this high: the model reads something else
BORDER_DROP = 0.05  # blanking only the border costs at least this much AUC (and DeLong p < 0.05)


def regions(h: int, w: int) -> dict[str, np.ndarray]:
    """{"border": the outer band, "corners": the four corner squares, "centre": the central region},
    (H, W) bool each."""
    by, bx = max(1, round(BORDER * h)), max(1, round(BORDER * w))
    border = np.ones((h, w), bool)
    border[by:h - by, bx:w - bx] = False
    corners = np.zeros((h, w), bool)
    for ys in (slice(0, by), slice(h - by, h)):
        for xs in (slice(0, bx), slice(w - bx, w)):
            corners[ys, xs] = True
    cy, cx = round((1 - CENTRE) / 2 * h), round((1 - CENTRE) / 2 * w)
    centre = np.zeros((h, w), bool)
    centre[cy:h - cy, cx:w - cx] = True
    return {"border": border, "corners": corners, "centre": centre}


def border_mass(maps: np.ndarray) -> dict:
    """Mean share of map mass in the border band and the corners, and a uniform map's shares."""
    n, h, w = maps.shape
    parts = regions(h, w)
    total = maps.reshape(n, -1).sum(1)
    share = {name: np.where(total > 0, maps[:, parts[name]].sum(1) / np.maximum(total, 1e-12), np.nan)
             for name in ("border", "corners")}
    return {"border_mass": float(np.nanmean(share["border"])), "corner_mass": float(np.nanmean(share["corners"])),
            "border_mass_uniform": float(parts["border"].mean()), "corner_mass_uniform": float(parts["corners"].mean())}


def blank(images: np.ndarray, region: np.ndarray) -> np.ndarray:
    """images (N, H, W, C) with `region` (H, W) replaced by the mean of all the images, per channel."""
    means = images.mean(axis=(0, 1, 2), keepdims=True)
    return np.where(region[None, :, :, None], means, images)


def occlusion_audit(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int = 64) -> dict:
    """ROC AUC unoccluded, with the border blanked and with the centre blanked (each with DeLong's
    paired p against unoccluded), and the verdict: "shortcut suspected" when the border carries the
    decision or the lungs do not (module docstring), else "no shortcut found"."""
    h, w = images.shape[1:3]
    parts = regions(h, w)
    score = lambda x: model.predict(x.astype(np.float32), batch_size=batch_size, verbose=0)[:, 0]  # noqa: E731
    plain = score(images)
    out = {"images": int(len(images))}
    for name in ("border", "centre"):
        test = delong(labels, plain, score(blank(images, parts[name])))
        out.update({"roc_auc": test["auc_a"], f"roc_auc_{name}_blanked": test["auc_b"], f"p_{name}": test["p"]})
    reasons = []
    drop = out["roc_auc"] - out["roc_auc_border_blanked"]
    if drop >= BORDER_DROP and out["p_border"] < 0.05:
        reasons.append(f"blanking the border costs {drop:.2f} ROC AUC (DeLong p {out['p_border']:.2g})")
    if out["roc_auc_centre_blanked"] >= CENTRE_AUC:
        reasons.append(f"with the lungs blanked the ROC AUC is still {out['roc_auc_centre_blanked']:.2f}")
    out["verdict"] = "shortcut suspected: " + "; ".join(reasons) if reasons else "no shortcut found"
    return out
