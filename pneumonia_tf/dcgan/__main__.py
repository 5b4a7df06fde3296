"""Train a DCGAN on one class and write generated images.

python -m pneumonia_tf.dcgan --class NORMAL|PNEUMONIA [--data PATH|synthetic] [--epochs 200]
    [--num-images 10000] [--image-size 128] [--batch-size 128] [--seed 0] [--out generated/]

Training state lives in --run-dir (default runs/dcgan/<CLASS>-<size>px): a checkpoint every epoch (a
killed run resumes), sample grids, loss curves, generator.keras. A finished run is not retrained:
asking for more images only generates. Images go to <out>/<CLASS>/*.png with manifest.json.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pneumonia_tf import CLASSES, cli
from pneumonia_tf.config import resolve
from pneumonia_tf.data.index import label_of
from pneumonia_tf.dcgan.run import quality_report, real_images, sample_grid, trained_gan, write_images, write_manifest
from pneumonia_tf.records import read_json
from pneumonia_tf.run_folder import open_run


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.dcgan", __doc__)
    parser.add_argument("--class", dest="class_name", required=True, help="NORMAL or PNEUMONIA")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--num-images", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-seed", type=int, default=0,
                        help="the seed that carves validation from train (the studies' split_seed, default 0)")
    parser.add_argument("--rgb", action="store_true", help="3-channel images (default grayscale)")
    parser.add_argument("--sample-every", type=int, default=5)
    parser.add_argument("--jit-compile", choices=["auto", "true", "false"], default="false",
                        help="XLA; off by default: slower on CPU (python -m pneumonia_tf.bench dcgan)")
    parser.add_argument("--feature-run", type=Path, help="a trained classifier run for the quality report")
    parser.add_argument("--baselines", action="store_true", help="also score an untrained generator and noise")
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("generated"))
    parser.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
    args = parser.parse_args(argv)
    class_name = CLASSES[label_of(args.class_name, "--class")]
    run_dir = args.run_dir or Path("runs") / "dcgan" / f"{class_name}-{args.image_size}px"
    channels = 3 if args.rgb else 1
    if args.feature_run:
        open_run(args.feature_run)  # checked before hours of training, not after
    paths = real_images(resolve({"data": args.data, "image_size": args.image_size, "split_seed": args.split_seed}),
                        class_name)["path"].tolist()
    if args.force:
        shutil.rmtree(run_dir, ignore_errors=True)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    gan = trained_gan(paths, run_dir, image_size=args.image_size, channels=channels, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed, sample_every=args.sample_every,
                      jit_compile=jit)
    images = gan.generate(args.num_images, seed=args.seed)
    folder = args.out / class_name
    written = write_images(images, folder)
    sample_grid(images[:32], run_dir / "samples" / "final.png", f"{class_name}, {read_json(run_dir / 'training.json')['epochs']} epochs")
    report = quality_report(paths, images, args.image_size, args.feature_run, args.baselines, args.seed)
    write_manifest(folder, class_name, written, run_dir, image_size=args.image_size, channels=channels, seed=args.seed,
                   data=args.data, split={"split_seed": args.split_seed}, quality=report)
    print(f"wrote {len(written)} images to {folder}; quality: "
          + ", ".join(f"{k}={v:.3f}" for k, v in report.items() if isinstance(v, float)))
    if report["mode_collapse_warning"]:
        print("WARNING: generated images are far less diverse than real ones (possible mode collapse)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
