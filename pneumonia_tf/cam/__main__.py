"""Heatmaps and their checks for a trained run.

python -m pneumonia_tf.cam --run runs/NAME (--images FILE ... | --split test --n 6) --out DIR
python -m pneumonia_tf.cam score --run runs/NAME [--split test --n 64] [--out FILE.json]
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pneumonia_tf import CLASSES, cli
from pneumonia_tf.cam import cam, gradcam
from pneumonia_tf.cam.checks import (boxes_to_mask, default_tolerance, deletion_insertion, iou, pointing_game,
                                     randomization_correlation, randomized_copy)
from pneumonia_tf.cam.figures import overlay, overlay_grid, three_row_grid
from pneumonia_tf.data.pipeline import load_image, make_dataset
from pneumonia_tf.records import atomic_write, read_json, write_json
from pneumonia_tf.run_folder import Run, open_run


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


def heatmaps(model, inputs, method: str, target, layer=None) -> np.ndarray:
    return cam(model, inputs, target) if method == "cam" else gradcam(model, inputs, layer, target)


def pick(run: Run, split: str, n: int, seed: int = 0) -> pd.DataFrame:
    """n rows of a split of the run's data, about half per class, seeded."""
    rows = run.data().split(split)
    per_class = [rows[rows["label"] == c].sample(min(n - n // 2 if c else n // 2, (rows["label"] == c).sum()),
                                                 random_state=seed) for c in (0, 1)]
    return pd.concat(per_class, ignore_index=True)


def write_maps(run: Run, model, rows: pd.DataFrame, method: str, target, layer, out: Path) -> None:
    """Overlays and heatmaps of `rows` into `out`, with overlay_grid.png and three_rows.png (seed 002's
    figure: one NORMAL and two PNEUMONIA images; image, heatmap, overlay)."""
    inputs, display = run_inputs(run, rows["path"])
    maps = heatmaps(model, inputs, method, target, layer)
    probs = model.predict(inputs, verbose=0)[:, 0]
    out.mkdir(parents=True, exist_ok=True)
    titles = []
    for path, label, image, heatmap, p in zip(rows["path"], rows["label"], display, maps, probs):
        stem = Path(path).stem
        buffer = io.BytesIO()
        np.save(buffer, heatmap)
        atomic_write(out / f"{stem}_heatmap.npy", buffer.getvalue())
        Image.fromarray((overlay(image, heatmap) * 255).astype(np.uint8)).save(out / f"{stem}_overlay.png")
        truth = CLASSES[label] if label >= 0 else "?"
        titles.append(f"{stem}\ntrue {truth}\np(PNEUMONIA) = {p:.2f}")
    overlay_grid(display, maps, titles, out / "overlay_grid.png")
    normal, pneumonia = np.flatnonzero(rows["label"] == 0)[:1], np.flatnonzero(rows["label"] == 1)[:2]
    chosen = list(normal) + list(pneumonia) if len(normal) and len(pneumonia) else list(range(min(3, len(rows))))
    three_row_grid(display[chosen], maps[chosen], [titles[i] for i in chosen], out / "three_rows.png")


def maps_command(args) -> int:
    run = open_run(args.run)
    rows = (pd.DataFrame({"path": [str(p) for p in args.images], "label": -1}) if args.images
            else pick(run, args.split, args.n))
    write_maps(run, run.model(), rows, args.method, args.target, args.layer, args.out)
    print(f"wrote {len(rows)} overlays and heatmaps, overlay_grid.png and three_rows.png to {args.out}")
    return 0


def explain(run_dir: Path, method: str = "gradcam", n_grid: int = 6, n_score: int = 32) -> dict:
    """What `reproduce` makes for a study whose paper shows Grad-CAM or CAM: run_dir/cam/ with the
    maps of `n_grid` test images (overlay_grid.png, three_rows.png) and score.json, the sanity,
    localization and faithfulness scores of `n_score` PNEUMONIA test images. Done once: a run with
    cam/score.json is returned as it is."""
    out = run_dir / "cam"
    if (out / "score.json").exists():
        return read_json(out / "score.json")
    run = open_run(run_dir)
    model = run.model()
    write_maps(run, model, pick(run, "test", n_grid), method, "predicted", None, out)
    rows = pick(run, "test", 2 * n_score)
    result = score(model, run, rows[rows["label"] == 1].reset_index(drop=True), method)
    write_json(out / "score.json", result)
    return result


def region_masks(rows: pd.DataFrame, size: int) -> np.ndarray:
    """(N, S, S) bool: the phantom's opacity masks, else the boxes (RSNA)."""
    masks = []
    for _, row in rows.iterrows():
        if row.get("mask"):
            masks.append(np.asarray(Image.open(row["mask"]).resize((size, size), Image.NEAREST)) > 0)
        else:
            masks.append(boxes_to_mask(row.get("boxes", "[]"), size, size))
    return np.stack(masks)


def score(model, run: Run, rows: pd.DataFrame, method: str = "gradcam", seed: int = 0) -> dict:
    """Sanity, localization and faithfulness of `model`'s maps on `rows` (PNEUMONIA rows with regions)."""
    size = run.config["image_size"]
    inputs, _ = run_inputs(run, rows["path"])
    maps = heatmaps(model, inputs, method, "PNEUMONIA")
    random_maps = heatmaps(randomized_copy(model, seed), inputs, method, "PNEUMONIA")
    result = {"images": int(len(rows)), "method": method,
              "randomization_rank_correlation": float(np.nanmean(randomization_correlation(maps, random_maps)))}
    if "boxes" in rows or "mask" in rows:
        masks = region_masks(rows, size)
        has_region = masks.any(axis=(1, 2))
        tolerance = default_tolerance(size)
        uniform = np.random.default_rng(seed).uniform(size=maps.shape)
        result.update(
            pointing_game_tolerance_px=tolerance,
            pointing_game=float(pointing_game(maps[has_region], masks[has_region], tolerance).mean()),
            pointing_game_random_map=float(pointing_game(uniform[has_region], masks[has_region], tolerance).mean()),
            iou_at_0_5=float(iou(maps[has_region], masks[has_region]).mean()))
    targets = np.ones(len(rows), int)
    deletion, insertion = deletion_insertion(model, inputs, maps, targets)
    rand_del, rand_ins = deletion_insertion(model, inputs, np.random.default_rng(seed).uniform(size=maps.shape),
                                            targets)
    result.update(deletion_auc=float(deletion.mean()), insertion_auc=float(insertion.mean()),
                  deletion_auc_random_map=float(rand_del.mean()), insertion_auc_random_map=float(rand_ins.mean()))
    return result


def score_command(args) -> int:
    run = open_run(args.run)
    model = run.model()
    rows = pick(run, args.split, 2 * args.n)
    rows = rows[rows["label"] == 1].reset_index(drop=True)  # localization targets are the PNEUMONIA images
    result = score(model, run, rows, args.method)
    out = args.out or args.run / "cam_score.json"
    write_json(out, result)
    for key, value in result.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    print(f"written to {out}")
    return 0


@cli.entry_point
def main(argv) -> int:
    scoring = bool(argv) and argv[0] == "score"
    parser = cli.make_parser("python -m pneumonia_tf.cam" + (" score" if scoring else ""), __doc__)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--method", default="gradcam", choices=["gradcam", "cam"])
    if scoring:
        parser.add_argument("--n", type=int, default=64, help="PNEUMONIA images scored")
        parser.add_argument("--out", type=Path)
        args = parser.parse_args(argv[1:])
        return score_command(args)
    parser.add_argument("--images", nargs="*", type=Path)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--target", default="predicted", choices=["predicted", "PNEUMONIA", "NORMAL"])
    parser.add_argument("--layer", help="conv layer to explain (default: found automatically)")
    parser.add_argument("--out", type=Path, required=True)
    return maps_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
