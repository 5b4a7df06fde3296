"""Heatmaps and their checks for a trained run (the library is pneumonia_tf.cam.explain).

python -m pneumonia_tf.cam --run runs/NAME (--images FILE ... | --split test --n 6) --out DIR
    [--method NAME | --methods NAME ...]
python -m pneumonia_tf.cam score --run runs/NAME [--split test --n 64] [--methods NAME ... | all] [--out FILE.json]

Methods: gradcam, gradcam_plus_plus, hirescam, layercam, scorecam, cam (global-average-pooling nets).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from pneumonia_tf import cli
from pneumonia_tf.cam.explain import pick, save_maps, score_run, write_maps
from pneumonia_tf.cam.figures import randomization_figure, road_figure
from pneumonia_tf.cam.methods import METHODS
from pneumonia_tf.records import write_json
from pneumonia_tf.run_folder import open_run

GRADIENT_METHODS = [name for name in METHODS if name != "cam"]


def chosen_methods(args) -> list[str]:
    if not args.methods:
        return [args.method]
    return GRADIENT_METHODS if args.methods == ["all"] else args.methods


def maps_command(args) -> int:
    run = open_run(args.run)
    rows = (pd.DataFrame({"path": [str(p) for p in args.images], "label": -1}) if args.images
            else pick(run, args.split, args.n))
    methods = chosen_methods(args)
    write_maps(run, run.model(), rows, methods, args.target, args.layer, args.out)
    extra = " and methods_grid.png" if len(methods) > 1 else ""
    print(f"wrote {len(rows)} overlays and heatmaps ({methods[0]}), overlay_grid.png, three_rows.png{extra} to {args.out}")
    return 0


def print_scorecard(result: dict) -> None:
    """The scorecard as one table: a row per method and baseline, a column per score."""
    columns = ["pointing_game", "iou", "auprc", "randomization_ssim", "randomization_rank_correlation",
               "road_morf_area", "road_lerf_area", "deletion_auc", "insertion_auc", "border_mass", "corner_mass"]
    rows = {**result["methods"], **{f"baseline: {k}": v for k, v in result["baselines"].items()}}
    table = pd.DataFrame([{"map": name, **{c: scores.get(c) for c in columns}} for name, scores in rows.items()])
    print(f"scorecard on {result['images']} PNEUMONIA images (what a good value is: score.json 'good')")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    for pair, value in result["agreement_ssim"].items():
        print(f"agreement SSIM {pair}: {value:.3f}")
    if "shortcut" in result:
        s = result["shortcut"]
        print(f"shortcut audit on {s['images']} test images: ROC AUC {s['roc_auc']:.3f}, border blanked "
              f"{s['roc_auc_border_blanked']:.3f} (p {s['p_border']:.3g}), centre blanked "
              f"{s['roc_auc_centre_blanked']:.3f} (p {s['p_centre']:.3g}): {s['verdict']}")


def score_command(args) -> int:
    run = open_run(args.run)
    result, rows, by_method = score_run(run, run.model(), chosen_methods(args), args.n, args.split)
    out = args.out or args.run / "cam_score.json"
    write_json(out, result)
    save_maps(out.parent, rows, by_method)
    road_figure(result, out.with_name(out.stem + "_road.png"))
    randomization_figure(result, out.with_name(out.stem + "_randomization.png"))
    print_scorecard(result)
    print(f"written to {out}")
    return 0


@cli.entry_point
def main(argv) -> int:
    scoring = bool(argv) and argv[0] == "score"
    parser = cli.make_parser("python -m pneumonia_tf.cam" + (" score" if scoring else ""), __doc__)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--method", default="gradcam", choices=list(METHODS))
    parser.add_argument("--methods", nargs="+", choices=[*METHODS, "all"], help="several methods ('all': every "
                                                                                 "gradient or score method)")
    if scoring:
        parser.add_argument("--n", type=int, default=64, help="PNEUMONIA images scored")
        parser.add_argument("--out", type=Path)
        return score_command(parser.parse_args(argv[1:]))
    parser.add_argument("--images", nargs="*", type=Path)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--target", default="predicted", choices=["predicted", "PNEUMONIA", "NORMAL"])
    parser.add_argument("--layer", help="conv layer to explain (default: found automatically)")
    parser.add_argument("--out", type=Path, required=True)
    return maps_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
