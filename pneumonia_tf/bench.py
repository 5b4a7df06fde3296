"""Benchmarks, each measured side by side in one run and printed as ratios.

python -m pneumonia_tf.bench pipeline --data PATH --size 128
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SEED_004_AUGMENTATION = dict(rescale=1 / 255, shear_range=0.2, zoom_range=0.2, horizontal_flip=True)


def _rate(batches, limit: int) -> float:
    """Images per second while drawing up to `limit` images from an iterable of (x, y) batches."""
    start, seen = time.perf_counter(), 0
    for x, _ in batches:
        seen += len(x)
        if seen >= limit:
            break
    return seen / (time.perf_counter() - start)


def bench_pipeline(args) -> None:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator  # gone from Keras 3's public API

    from pneumonia_tf.data.kermany import find_root, load_kermany
    from pneumonia_tf.data.pipeline import make_dataset, split_rescale

    index = load_kermany(args.data)
    train = index[index["split"] == "train"]
    n = len(train) if args.images is None else min(args.images, len(train))
    print(f"{len(train)} training images from {args.data}, {args.size}x{args.size} RGB, batch {args.batch_size}, "
          f"augmentation {SEED_004_AUGMENTATION}; {n} images timed per pass")
    generator = ImageDataGenerator(**SEED_004_AUGMENTATION).flow_from_directory(
        str(find_root(Path(args.data)) / "train"), target_size=(args.size, args.size),
        batch_size=args.batch_size, class_mode="binary", shuffle=True, seed=0)
    idg = _rate(generator, n)
    augmentation, normalization = split_rescale(SEED_004_AUGMENTATION)
    ds = make_dataset(train["path"], train["label"], image_size=args.size, channels=3, batch_size=args.batch_size,
                      shuffle=True, seed=0, augmentation=augmentation, normalization=normalization)
    cold = _rate(ds, n)  # first pass decodes every file
    warm = min(_rate(ds, n) for _ in range(args.epochs))  # later passes read the uint8 cache
    print(f"{'ImageDataGenerator.flow_from_directory':45s} {idg:8.0f} images/s   1.00x")
    print(f"{'pneumonia_tf pipeline, first epoch (decode)':45s} {cold:8.0f} images/s   {cold / idg:.2f}x")
    print(f"{'pneumonia_tf pipeline, later epochs (cached)':45s} {warm:8.0f} images/s   {warm / idg:.2f}x "
          f"(slowest of {args.epochs})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumonia_tf.bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pipeline", help="tf.data pipeline vs ImageDataGenerator.flow_from_directory")
    p.add_argument("--data", required=True, help="Kermany folder or zip")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--images", type=int, default=None, help="images per timed pass (default: all)")
    p.add_argument("--epochs", type=int, default=2, help="cached epochs timed")
    p.set_defaults(run=bench_pipeline)
    args = parser.parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
