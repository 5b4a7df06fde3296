"""What the suite makes of a finished run's maps: overlays and grids, and a trust scorecard per method.

explain(run_dir) is what `reproduce` makes for a study whose paper shows Grad-CAM or CAM ([explain]):
run_dir/cam/ with the first method's overlays (overlay_grid.png, three_rows.png), every method side by
side (methods_grid.png), the scored images' maps (maps_<method>.npz, for repeatability across seeds and
agreement across architectures) and score.json, the scorecard of scorecard().
"""
from __future__ import annotations

import io
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pneumonia_tf import CLASSES
from pneumonia_tf.cam.checks import (auprc, boxes_to_mask, cascading_randomization, default_tolerance,
                                     deletion_insertion, iou, pointing_game, ssim)
from pneumonia_tf.cam.figures import (method_grid, overlay, overlay_grid, randomization_figure, road_figure,
                                      three_row_grid)
from pneumonia_tf.cam.methods import maps
from pneumonia_tf.cam.road import baseline_maps, road_curves
from pneumonia_tf.cam.shortcut import border_mass, occlusion_audit
from pneumonia_tf.data.pipeline import load_image, make_dataset
from pneumonia_tf.records import atomic_write, read_json, timed, write_json
from pneumonia_tf.run_folder import Run, open_run

GOOD = {  # what a good value is, for every score of the scorecard (the report prints it)
    "pointing_game": "high (1: every map's peak in the region)", "iou": "high", "auprc": "high (region prevalence: chance)",
    "randomization_ssim": "low (the maps depend on the trained weights)",
    "randomization_rank_correlation": "near 0", "road_morf_area": "low (removing the top pixels kills the score)",
    "road_lerf_area": "high (removing the least relevant pixels keeps it)", "deletion_auc": "low",
    "insertion_auc": "high", "border_mass": "near or below the uniform share (markers sit in the border)",
    "corner_mass": "near or below the uniform share", "repeatability_ssim": "high (seeds agree)",
    "agreement_ssim": "high (methods or architectures agree)"}


def run_inputs(run: Run, paths) -> tuple[np.ndarray, np.ndarray]:
    """(model inputs (N, S, S, C) normalized as in training, display images (N, S, S) in [0, 1])."""
    config = run.config
    normalization, mean_std = run.normalization()
    ds = make_dataset(list(paths), np.zeros(len(paths)), image_size=config["image_size"],
                      channels=config["channels"], batch_size=64, normalization=normalization,
                      mean_std=mean_std, cache=False)
    inputs = np.concatenate([x.numpy() for x, _ in ds])
    display = np.stack([load_image(str(p), config["image_size"], 1).numpy()[..., 0] / 255.0 for p in paths])
    return inputs, display


def pick(run: Run, split: str, n: int, seed: int = 0) -> pd.DataFrame:
    """n rows of a split of the run's data, about half per class, seeded (the same rows for every seed
    of a study, whose runs share one split)."""
    rows = run.data().split(split)
    per_class = [rows[rows["label"] == c].sample(min(n - n // 2 if c else n // 2, (rows["label"] == c).sum()),
                                                 random_state=seed) for c in (0, 1)]
    return pd.concat(per_class, ignore_index=True)


def write_maps(run: Run, model, rows: pd.DataFrame, methods: list[str], target, layer, out: Path) -> None:
    """Overlays and heatmaps of `rows` (first method) into `out`, with overlay_grid.png, three_rows.png
    (seed 002's figure: one NORMAL and two PNEUMONIA images; image, heatmap, overlay) and, for several
    methods, methods_grid.png (every method side by side)."""
    inputs, display = run_inputs(run, rows["path"])
    by_method = {name: maps(model, inputs, name, layer, target) for name in methods}
    first = by_method[methods[0]]
    probs = model.predict(inputs, verbose=0)[:, 0]
    out.mkdir(parents=True, exist_ok=True)
    titles = []
    for path, label, image, heatmap, p in zip(rows["path"], rows["label"], display, first, probs):
        stem = Path(path).stem
        buffer = io.BytesIO()
        np.save(buffer, heatmap)
        atomic_write(out / f"{stem}_heatmap.npy", buffer.getvalue())
        Image.fromarray((overlay(image, heatmap) * 255).astype(np.uint8)).save(out / f"{stem}_overlay.png")
        truth = CLASSES[label] if label >= 0 else "?"
        titles.append(f"{stem}\ntrue {truth}\np(PNEUMONIA) = {p:.2f}")
    overlay_grid(display, first, titles, out / "overlay_grid.png")
    normal, pneumonia = np.flatnonzero(rows["label"] == 0)[:1], np.flatnonzero(rows["label"] == 1)[:2]
    chosen = list(normal) + list(pneumonia) if len(normal) and len(pneumonia) else list(range(min(3, len(rows))))
    three_row_grid(display[chosen], first[chosen], [titles[i] for i in chosen], out / "three_rows.png")
    if len(methods) > 1:
        method_grid(display, by_method, titles, out / "methods_grid.png")


def region_masks(rows: pd.DataFrame, size: int) -> np.ndarray:
    """(N, S, S) bool: the phantom's opacity masks, else the boxes (RSNA)."""
    masks = []
    for _, row in rows.iterrows():
        if row.get("mask"):
            masks.append(np.asarray(Image.open(row["mask"]).resize((size, size), Image.NEAREST)) > 0)
        else:
            masks.append(boxes_to_mask(row.get("boxes", "[]"), size, size))
    return np.stack(masks)


def localization(heatmaps: np.ndarray, masks: np.ndarray | None, size: int) -> dict:
    """Pointing game (Zhang et al.'s 15 px at 224 px, scaled), IoU at 0.5 and AUPRC against the regions."""
    if masks is None:
        return {}
    has = masks.any(axis=(1, 2))
    if not has.any():
        return {}
    return {"pointing_game": float(pointing_game(heatmaps[has], masks[has], default_tolerance(size)).mean()),
            "iou": float(iou(heatmaps[has], masks[has]).mean()), "auprc": float(np.nanmean(auprc(heatmaps[has],
                                                                                              masks[has])))}


def _faithfulness(model, inputs, heatmaps, targets, road_images: int, seed: int) -> dict:
    road = road_curves(model, inputs[:road_images], heatmaps[:road_images], targets[:road_images], seed=seed)
    deletion, insertion = deletion_insertion(model, inputs, heatmaps, targets)
    return {"road_morf_area": road["morf_area"], "road_lerf_area": road["lerf_area"],
            "road_morf_curve": list(map(float, road["morf"])), "road_lerf_curve": list(map(float, road["lerf"])),
            "road_fractions": road["fractions"], "deletion_auc": float(deletion.mean()),
            "insertion_auc": float(insertion.mean())}


def scorecard(model, run: Run, rows: pd.DataFrame, methods: list[str], audit_rows: pd.DataFrame | None = None,
              seed: int = 0, road_images: int = 16) -> tuple[dict, dict[str, np.ndarray]]:
    """The trust scorecard of `model`'s maps of every method on `rows` (PNEUMONIA images, target
    PNEUMONIA), and the maps: ({"images", "methods": {method: scores}, "baselines": {"random",
    "centre": scores}, "agreement_ssim": {"a vs b": mean SSIM}, "shortcut": occlusion audit of
    `audit_rows`, "good": what a good value is}, {method: (N, S, S) maps}). Per method: localization
    (pointing game, IoU, AUPRC) where regions are known, cascading model randomization (SSIM and rank
    correlation after each step; the last step's as randomization_ssim / _rank_correlation), ROAD
    (MoRF and LeRF curves and areas, on the first `road_images`), deletion / insertion, border mass."""
    size = run.config["image_size"]
    inputs, _ = run_inputs(run, rows["path"])
    masks = region_masks(rows, size) if {"boxes", "mask"} & set(rows.columns) else None
    targets = np.ones(len(rows), int)
    result, by_method = {"images": int(len(rows)), "methods": {}, "baselines": {}}, {}
    for name in methods:
        maps_of = lambda m, name=name: maps(m, inputs, name, target="PNEUMONIA")  # noqa: E731
        heatmaps = by_method[name] = maps_of(model)
        steps = cascading_randomization(model, maps_of, seed=seed)
        result["methods"][name] = {**localization(heatmaps, masks, size), "randomization": steps,
                                   "randomization_ssim": steps[-1]["ssim"],
                                   "randomization_rank_correlation": steps[-1]["rank_correlation"],
                                   **_faithfulness(model, inputs, heatmaps, targets, road_images, seed),
                                   **border_mass(heatmaps)}
    for name, heatmaps in baseline_maps(next(iter(by_method.values())).shape, seed).items():
        result["baselines"][name] = {**localization(heatmaps, masks, size),
                                     **_faithfulness(model, inputs, heatmaps, targets, road_images, seed),
                                     **border_mass(heatmaps)}
    result["agreement_ssim"] = {f"{a} vs {b}": float(np.mean(ssim(by_method[a], by_method[b])))
                                for a, b in combinations(methods, 2)}
    if audit_rows is not None:
        audit_inputs, _ = run_inputs(run, audit_rows["path"])
        result["shortcut"] = occlusion_audit(model, audit_inputs, audit_rows["label"].to_numpy())
    result["good"] = GOOD
    return result, by_method


def save_maps(out: Path, rows: pd.DataFrame, by_method: dict[str, np.ndarray]) -> None:
    """out/maps_<method>.npz: the scored images' paths and maps (repeatability across seeds, agreement
    across architectures: pneumonia_tf.cam.study)."""
    for name, heatmaps in by_method.items():
        buffer = io.BytesIO()
        np.savez_compressed(buffer, paths=np.array(rows["path"].tolist()), maps=heatmaps.astype(np.float16))
        atomic_write(out / f"maps_{name}.npz", buffer.getvalue())


def score_run(run: Run, model, methods: list[str], n: int, split: str = "test") -> tuple[dict, pd.DataFrame,
                                                                                        dict[str, np.ndarray]]:
    """The scorecard of a run on n PNEUMONIA images of `split` and the shortcut audit on 2n of both
    classes: (scorecard, the scored rows, {method: maps})."""
    audit = pick(run, split, 2 * n)
    rows = audit[audit["label"] == 1].reset_index(drop=True)  # localization targets are the PNEUMONIA images
    result, by_method = scorecard(model, run, rows, methods, audit_rows=audit)
    return result, rows, by_method


def explain(run_dir: Path, method: str = "gradcam", methods: list[str] | None = None, n_grid: int = 6,
            n_score: int = 32) -> dict:
    """run_dir/cam/ (module docstring) for `methods` (default [method]): done once, a run whose
    cam/score.json scores every asked method is returned as it is."""
    methods = list(methods or [method])
    out = run_dir / "cam"
    if (out / "score.json").exists() and set(methods) <= set(read_json(out / "score.json").get("methods", {})):
        return read_json(out / "score.json")
    run, timings = open_run(run_dir), {}
    model = run.model()
    with timed(timings, "grid"):
        write_maps(run, model, pick(run, "test", n_grid), methods, "predicted", None, out)
    with timed(timings, "score"):
        result, rows, by_method = score_run(run, model, methods, n_score)
    with timed(timings, "figures"):
        save_maps(out, rows, by_method)
        road_figure(result, out / "road.png")
        randomization_figure(result, out / "randomization.png")
    result = {**result, "timings_s": timings}
    write_json(out / "score.json", result)
    return result
