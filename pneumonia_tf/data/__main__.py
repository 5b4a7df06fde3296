"""python -m pneumonia_tf.data summary --data PATH|synthetic [--json] [--strict]
python -m pneumonia_tf.data cache --info | --clear     (the persistent decoded-image cache)
python -m pneumonia_tf.data tfds kermany_pneumonia|rsna_pneumonia --manual-dir PATH [--data-dir DIR]
    (prepare a TensorFlow Datasets build offline; then --data tfds:NAME anywhere, see pneumonia_tf.tfds)"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from pneumonia_tf import cli
from pneumonia_tf.data.sources import load


def summary_table(counts: dict) -> pd.DataFrame:
    rows = [{"split": split, "class": cls, "images": c[cls]["images"], "patients": c[cls]["patients"]}
            for split, c in counts.items() for cls in ("NORMAL", "PNEUMONIA")]
    return pd.DataFrame(rows)


def cache_command(args) -> int:
    from pneumonia_tf.data import decoded_cache
    from pneumonia_tf.data.cache import cache_dir
    if args.clear:
        removed = decoded_cache.clear()
        shutil.rmtree(cache_dir("scanned"), ignore_errors=True)  # the scan records of versions before 2026-12
        print(f"removed {removed} decoded images from {cache_dir()}")
        return 0
    info = decoded_cache.info()
    print(f"decoded-image cache: {info['folder']}")
    for shape, counts in info["by_shape"].items():
        print(f"  {shape:14s} {counts['entries']:8d} images {counts['bytes'] / 2**20:10.1f} MiB")
    print(f"  {'total':14s} {info['entries']:8d} images {info['bytes'] / 2**20:10.1f} MiB"
          f"  ({info['temporary_files']} temporary files left by interrupted writers)")
    return 0


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.data", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="images and patients per split and class; unreadable files; leakage")
    p.add_argument("--data", default="synthetic", help="Kermany folder or zip, RSNA folder, generated/, or synthetic")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strict", action="store_true", help="stop with the list of unreadable files")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("cache", help="the persistent decoded-image cache: what it holds, or clear it")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--info", action="store_true")
    group.add_argument("--clear", action="store_true")
    p = sub.add_parser("tfds", help="prepare a TensorFlow Datasets build of a data set, offline")
    p.add_argument("name", choices=["kermany_pneumonia", "rsna_pneumonia"])
    p.add_argument("--manual-dir", type=Path, required=True, help="the data set's folder (or the Kermany zip)")
    p.add_argument("--data-dir", type=Path, help="TFDS data_dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    args = parser.parse_args(argv)
    if args.command == "cache":
        return cache_command(args)
    if args.command == "tfds":
        from pneumonia_tf.tfds import prepare
        builder = prepare(args.name, args.manual_dir, args.data_dir)
        counts = {name: split.num_examples for name, split in builder.info.splits.items()}
        print(f"prepared {builder.info.full_name} in {builder.data_dir}: {counts}; use --data tfds:{args.name}")
        return 0
    data = load(args.data, image_size=args.image_size, val_fraction=args.val_fraction, seed=args.seed,
                strict=args.strict)
    info = data.summary()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"data: {info['data']}\nroot: {info['root']}")
    print("\nofficial splits (val/ merged into train):")
    print(summary_table(info["official"]).to_string(index=False))
    print(f"\nafter carving validation from train by patient ({args.val_fraction:.0%}, seed {args.seed}):")
    print(summary_table(info["splits"]).to_string(index=False))
    print(f"\nunreadable files skipped: {len(info['skipped'])}")
    for item in info["skipped"]:
        print(f"  {item['path']}: {item['reason']}")
    print("patients shared between splits: " + ", ".join(f"{k} {v}" for k, v in info["shared_patients"].items()))
    shared = info["official_shared_patients"]
    if shared["count"]:
        print(f"*** WARNING: {shared['count']} patient(s) in both the OFFICIAL train and test splits, e.g. "
              f"{', '.join(shared['examples'])}: test metrics on this data are optimistic ***")
    return 0


if __name__ == "__main__":
    sys.exit(main())
