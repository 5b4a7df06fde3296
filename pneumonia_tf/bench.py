"""Benchmarks, each measured side by side in one run and printed as ratios.

python -m pneumonia_tf.bench pipeline --data PATH --size 128
python -m pneumonia_tf.bench decode --data PATH --size 128
python -m pneumonia_tf.bench train --model model1 --size 128
python -m pneumonia_tf.bench fit [--study table1 --profile quick --cell model1 --data PATH]   (real pipeline vs held batches)
python -m pneumonia_tf.bench teardown [--cell model1 --data PATH]   (deleting a pipeline's iterator, autotune off vs on)
python -m pneumonia_tf.bench cam [--model model1 --size 128 --images 64 | --from-run RUN]   (every CAM method, batched vs a loop)
python -m pneumonia_tf.bench dcgan [--batch-size 32]
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pneumonia_tf import cli

SEED_004_AUGMENTATION = dict(rescale=1 / 255, shear_range=0.2, zoom_range=0.2, horizontal_flip=True)


def _rate(batches, limit: int) -> float:
    """Images per second while drawing up to `limit` images from an iterable of (x, y) batches."""
    start, seen = time.perf_counter(), 0
    for x, _ in batches:
        seen += len(x)
        if seen >= limit:
            break
    return seen / (time.perf_counter() - start)


def _private_cache() -> str:
    """Point the suite's caches at a fresh temporary folder (so a benchmark starts cold); returns it."""
    folder = tempfile.mkdtemp(prefix="pneumonia_tf_bench_")
    os.environ["PNEUMONIA_TF_CACHE"] = folder
    return folder


def bench_pipeline(args) -> None:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator  # gone from Keras 3's public API

    from pneumonia_tf.data import scan
    from pneumonia_tf.data.kermany import kermany_root, load_kermany
    from pneumonia_tf.data.pipeline import make_dataset, split_rescale

    index = load_kermany(args.data)
    train = index[index["split"] == "train"]
    n = len(train) if args.images is None else min(args.images, len(train))
    print(f"{len(train)} training images from {args.data}, {args.size}x{args.size} RGB, batch {args.batch_size}, "
          f"augmentation {SEED_004_AUGMENTATION}; {n} images timed per pass; best of {args.repeats} rounds, "
          f"each run but the second with an empty cache; every run checks its files first, as load() does")
    augmentation, normalization = split_rescale(SEED_004_AUGMENTATION)
    paths, labels = train["path"][:n], train["label"][:n]

    def idg_rate() -> float:
        generator = ImageDataGenerator(**SEED_004_AUGMENTATION).flow_from_directory(
            str(kermany_root(args.data) / "train"), target_size=(args.size, args.size),
            batch_size=args.batch_size, class_mode="binary", shuffle=True, seed=0)
        return _rate(generator, n)

    def run_rate(decoded_cache: bool, epochs: int = 1, cold: bool = True) -> list[float]:
        """A new run (on a machine whose persistent cache is empty unless cold=False): check the files as
        load() does, which on a first run decodes them into the persistent cache, build the dataset and
        draw `epochs` epochs; images/s of each epoch, the first including the check and the build."""
        if cold:
            caches.append(_private_cache())
        scan._READABLE.clear()  # what a new process knows
        start = time.perf_counter()
        scan.find_unreadable(list(map(str, paths)), args.size, keep=decoded_cache)  # as load() checks for such a run
        ds = make_dataset(paths, labels, image_size=args.size, channels=3, batch_size=args.batch_size,
                          shuffle=True, seed=0, augmentation=augmentation, normalization=normalization,
                          decoded_cache=decoded_cache)
        rates = [n / (time.perf_counter() - start + n / _rate(ds, n))]
        return rates + [_rate(ds, n) for _ in range(epochs - 1)]

    best, caches = {}, []
    for _ in range(args.repeats):  # the machine's speed drifts: every setting gets the same rounds
        measured = {"ImageDataGenerator.flow_from_directory": idg_rate(),
                    "first epoch, persistent cache bypassed": run_rate(False)[0],
                    "first epoch, first run (fills the cache)": run_rate(True)[0]}
        second, *later = run_rate(True, 1 + args.epochs, cold=False)
        measured["first epoch, second run (finds the cache)"] = second
        measured[f"later epochs (in-memory cache), slowest of {args.epochs}"] = min(later)
        best = {name: max(rate, best.get(name, 0.0)) for name, rate in measured.items()}
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)
    idg = best["ImageDataGenerator.flow_from_directory"]
    for name, rate in best.items():
        print(f"{name:52s} {rate:8.0f} images/s   {rate / idg:6.2f}x")


def bench_decode(args) -> None:
    """Images/s of a full decode + resize, a DCT-scaled decode + resize, and a read of the persistent
    cache, on the same files, with the pixel difference between the first two."""
    import numpy as np
    import tensorflow as tf

    from pneumonia_tf.data import decoded_cache
    from pneumonia_tf.data.decode import decode_resized
    from pneumonia_tf.data.kermany import load_kermany

    cache = _private_cache()
    paths = load_kermany(args.data)["path"].tolist()[:args.images]
    contents = [tf.io.read_file(p) for p in paths]  # bytes in memory: decoding alone is timed
    full_fn = tf.function(lambda c: decode_resized(c, args.size, 3, scaled=False))
    scaled_fn = tf.function(lambda c: decode_resized(c, args.size, 3))

    def timed(fn, items):
        fn(items[0])
        start = time.perf_counter()
        out = [fn(x).numpy() for x in items]
        return len(items) / (time.perf_counter() - start), out

    full_rate, full = timed(full_fn, contents)
    scaled_rate, scaled = timed(scaled_fn, contents)
    parallel = tf.data.Dataset.from_tensor_slices(tf.stack(contents)).map(
        lambda c: decode_resized(c, args.size, 3), num_parallel_calls=tf.data.AUTOTUNE)
    parallel_rate = len(paths) / _best_seconds(lambda: [None for _ in parallel], repeats=2)
    checks = []

    def first_run_check():  # as a first run's load() does it: into a cache with none of these entries yet
        checks.append(_private_cache())
        decoded_cache.decode_missing(paths, args.size, 3)
    check_rate = len(paths) / _best_seconds(first_run_check, repeats=2)  # warmed up and best of 2, as the bound
    for folder in checks:
        shutil.rmtree(folder, ignore_errors=True)
    os.environ["PNEUMONIA_TF_CACHE"] = cache
    entries = decoded_cache.fill(paths, args.size, 3)
    read_fn = tf.function(lambda e: decoded_cache.read_entry(e, args.size, entries.channels))
    read_rate, _ = timed(read_fn, [tf.constant(e) for e in entries.paths])
    diff = np.stack(full).astype(np.float64) - np.stack(scaled).astype(np.float64)
    psnr = [10 * np.log10(255 ** 2 / max(np.mean(d ** 2), 1e-12)) for d in diff]
    print(f"{len(paths)} files from {args.data} to {args.size}x{args.size} RGB, one at a time, bytes in memory")
    for name, rate in [("full decode + antialiased resize", full_rate), ("DCT-scaled decode + same resize", scaled_rate),
                       ("persistent cache read", read_rate)]:
        print(f"{name:36s} {rate:8.0f} images/s   {rate / full_rate:6.2f}x")
    print(f"on all cores (tf.data): DCT-scaled decode alone, bytes in memory {parallel_rate:8.0f} images/s (the bound); "
          f"a first run's check, which reads the files, decodes them and fills the cache, {check_rate:8.0f} images/s "
          f"({check_rate / parallel_rate:.0%} of the bound)")
    print(f"scaled vs full: mean |difference| {np.abs(diff).mean():.3f} grey levels, max {np.abs(diff).max():.0f}, "
          f"PSNR min {min(psnr):.1f} dB, mean {np.mean(psnr):.1f} dB")
    shutil.rmtree(cache, ignore_errors=True)


def _best_seconds(fn, repeats: int = 5, warm_up: bool = True) -> float:
    """The least wall seconds of `repeats` calls of fn(), after one untimed call (tracing, oneDNN
    primitive creation) unless warm_up=False."""
    if warm_up:
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_gflops(dtype) -> dict:
    """Measured peak of this machine in `dtype`: best of 3x3 convolutions (64 and 128 channels) and a
    2048^3 matmul, in GFLOP/s."""
    import tensorflow as tf

    def conv(batch, size, channels):
        x = tf.cast(tf.random.uniform((batch, size, size, channels)), dtype)
        k = tf.cast(tf.random.uniform((3, 3, channels, channels)), dtype)
        f = tf.function(lambda: tf.nn.conv2d(x, k, 1, "SAME"))
        return 2 * batch * size * size * 9 * channels * channels / _best_seconds(lambda: f().numpy()) / 1e9

    a = tf.cast(tf.random.uniform((2048, 2048)), dtype)
    matmul = tf.function(lambda: a @ a)
    return {"conv": max(conv(32, 64, 64), conv(32, 32, 128)),
            "matmul": 2 * 2048 ** 3 / _best_seconds(lambda: matmul().numpy()) / 1e9}


def training_flops(model) -> int:
    """FLOPs of one training step per image: forward F of every conv and dense layer, plus F for its
    weight gradient and F for its input gradient (none for the first layer, whose input is data)."""
    import keras

    total, first = 0, True
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, _ = layer.output.shape
            flops = 2 * h * w * int(keras.ops.size(layer.kernel))
        elif isinstance(layer, keras.layers.Dense):
            flops = 2 * int(keras.ops.size(layer.kernel))
        else:
            continue
        total += flops * (2 if first else 3)
        first = False
    return total


def bench_train(args) -> None:
    import keras
    import tensorflow as tf

    from pneumonia_tf.models import build, spec
    from pneumonia_tf.fit_setup import compile_model, make_optimizer

    shape = (args.size, args.size, spec(args.model).channels)
    peaks = {"float32": peak_gflops(tf.float32), "mixed_bfloat16": peak_gflops(tf.bfloat16)}
    for policy, peak in peaks.items():
        print(f"measured peak ({policy.replace('mixed_', '')}): conv {peak['conv']:.0f} GFLOP/s, "
              f"matmul {peak['matmul']:.0f} GFLOP/s")
    # XLA (jit_compile=True) was 2-4x slower than these on a 2-core AVX-512 CPU, so it is not among them.
    settings = [("plain fit: float32, batch 32", "float32", 32, 1),
                ("float32, batch 128, steps_per_execution 4", "float32", 128, 4),
                ("mixed_bfloat16, batch 128, steps_per_execution 4", "mixed_bfloat16", 128, 4)]
    print(f"\n{args.model} at {args.size}px, training step on in-memory batches, best of {args.repeats}:")
    baseline = None
    for label, policy, batch, steps_per_execution in settings:
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = compile_model(build(args.model, shape), make_optimizer("adam", 1e-3), jit_compile=False,
                              steps_per_execution=steps_per_execution)
        x = tf.random.uniform((batch * 4, *shape))
        y = tf.cast(tf.random.uniform((batch * 4,)) > 0.5, tf.float32)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().prefetch(4)
        steps = max(args.steps // steps_per_execution, 1) * steps_per_execution
        seconds = _best_seconds(lambda: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False),
                                args.repeats)
        keras.mixed_precision.set_global_policy("float32")
        rate = batch * steps / seconds
        gflops = rate * training_flops(model) / 1e9
        baseline = baseline or rate
        peak = peaks[policy]
        print(f"  {label:50s} {rate:7.1f} images/s {gflops:7.1f} GFLOP/s = "
              f"{gflops / peak['conv']:4.0%} of conv peak, {gflops / peak['matmul']:4.0%} of matmul peak "
              f"({rate / baseline:.2f}x plain fit)")


def _cell_config(args) -> dict:
    """The resolved training config (seed 0) of --study / --profile / --cell on --data."""
    from pneumonia_tf.config import resolve
    from pneumonia_tf.experiments import cell_config, experiment_path, load_experiment

    return resolve({**cell_config(load_experiment(experiment_path(args.study)), args.profile, args.cell, args.data),
                    "seed": 0})


def bench_fit(args) -> None:
    """images/s of fit() on a study cell's own training pipeline (from the decoded cache, with its
    augmentation, under its process state) against fit() on batches of that pipeline held in memory,
    same model. Each fit call trains two epochs from one iterator, as train does, and only the second is
    timed (the first has the tracing and the iterator's start); the sides alternate. The gap is what
    the pipeline costs training."""
    import keras

    from pneumonia_tf.fit_setup import compile_model, optimizer_from_config, process_state
    from pneumonia_tf.inputs import build_model, datasets_for

    config = _cell_config(args)

    class EpochSeconds(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    with process_state(0, deterministic=config["deterministic"], policy=config["mixed_precision"]):
        train = datasets_for(config).train
        epoch = int(train.cardinality())
        steps = min(args.steps or epoch, epoch)
        held = train.take(steps).cache()  # one pass of the pipeline, augmented once, kept as float32 batches
        images = sum(len(x) for x, _ in held)  # fills the cache
        model = build_model({**config, "weights": None})  # the cost, not the weights: nothing downloaded
        compile_model(model, optimizer_from_config(config), jit_compile=config["jit_compile"],
                      steps_per_execution=config["steps_per_execution"])
        sides = {"real pipeline (decoded cache, augmented)": train.repeat(),
                 "same pipeline's batches held in memory": held.repeat()}
        best = dict.fromkeys(sides, 0.0)
        for _ in range(args.repeats):  # in alternation: the machine's speed drifts
            for name, batches in sides.items():
                seconds = []
                model.fit(batches, steps_per_epoch=steps, epochs=2, verbose=0, shuffle=False,
                          callbacks=[EpochSeconds()])
                best[name] = max(best[name], images / seconds[-1])  # the first epoch: tracing, warm-up
    print(f"{args.study} / {args.profile} / {args.cell}: {config['model']} at {config['image_size']} px, batch "
          f"{config['batch_size']}, {steps} of {epoch} batches of an epoch per timed epoch ({images} images), "
          f"augmentation {config['augmentation']}; data {config['data']}; best of {args.repeats}:")
    for name, rate in best.items():
        print(f"  fit on the {name:42s} {rate:8.1f} images/s")
    real, held_rate = best.values()
    gap = 1 - real / held_rate
    print(f"  the pipeline costs fit {gap:.1%} of its rate on held batches "
          f"({'within' if gap <= 0.05 else 'ABOVE'} the 5% target)")


def bench_teardown(args) -> None:
    """Seconds to delete an iterator of a study cell's training pipeline as the suite builds it (tf.data
    autotuning off) and with autotuning on, in alternation. Each iterator is drawn from for --seconds
    while a thread multiplies matrices, standing in for training's use of the cores; then it is deleted,
    as fit deletes its iterator when it returns. With autotuning on, a deletion may wait for the autotune
    thread to sleep out its optimization period (see pneumonia_tf.data.pipeline.with_pipeline_options)."""
    import threading

    import numpy as np
    import tensorflow as tf

    from pneumonia_tf.inputs import datasets_for

    config = _cell_config(args)
    train = datasets_for(config).train.repeat()
    autotune = tf.data.Options()
    autotune.autotune.enabled = True
    sides = {"the suite's pipeline (autotuning off)": train,
             "the same with tf.data autotuning on": train.with_options(autotune)}
    deletions = {name: [] for name in sides}
    busy = threading.Event()

    def load() -> None:
        a = np.random.default_rng(0).random((400, 400))
        while not busy.is_set():
            a @ a

    threading.Thread(target=load, daemon=True).start()
    try:
        for _ in range(args.repeats):
            for name, ds in sides.items():
                iterator, end = iter(ds), time.perf_counter() + args.seconds
                while time.perf_counter() < end:
                    next(iterator)
                start = time.perf_counter()
                del iterator
                deletions[name].append(time.perf_counter() - start)
    finally:
        busy.set()
    print(f"{args.study} / {args.profile} / {args.cell}: deleting an iterator of the training pipeline after "
          f"{args.seconds:g} s of use, {args.repeats} times each, in alternation:")
    for name, seconds in deletions.items():
        print(f"  {name:40s} longest {max(seconds):6.2f} s, mean {np.mean(seconds):6.2f} s, "
              f"{sum(s > 1 for s in seconds)} of {len(seconds)} over 1 s")


def per_image_maps(img_array, model, layer: str, method: str):
    """One image's raw map the way a user loops it (the keras-io Grad-CAM example's make_gradcam_heatmap,
    generalized): a fresh sub-model and an eager tape per call, then the method's own weighting
    (pneumonia_tf.cam.methods, the same formula); Score-CAM with one forward pass per channel. Here only
    for comparison."""
    import keras
    import tensorflow as tf

    from pneumonia_tf.cam.methods import METHODS
    from pneumonia_tf.keras_compat import model_input
    grad_model = keras.models.Model(model_input(model), [model.get_layer(layer).output, model.get_layer("logit").output])
    if method == "scorecam":
        activations, _ = grad_model(img_array)
        weights = []
        for k in range(activations.shape[-1]):
            mask = tf.image.resize(activations[..., k:k + 1], img_array.shape[1:3])
            mask = (mask - tf.reduce_min(mask)) / (tf.reduce_max(mask) - tf.reduce_min(mask) + 1e-12)
            weights.append(tf.sigmoid(grad_model(img_array * mask)[1][:, 0]))
        return tf.reduce_sum(activations * tf.stack(weights, -1)[:, None, None, :], axis=-1).numpy()
    with tf.GradientTape() as tape:
        activations, logits = grad_model(img_array)
        score = logits[:, 0]
    grads = tape.gradient(score, activations)
    return METHODS[method]().combine(activations, grads, model).numpy()


def forward_ceilings(model, x, batch_size: int) -> tuple[float, float]:
    """Maps/s no batched method can beat on this machine: (gradient methods: images/s of the batched
    forward pass to the explained layer and the logit, which they need once per map; Score-CAM: masked
    images/s in batches of 256 divided by the explained layer's channels, one forward pass per channel)."""
    import numpy as np
    import tensorflow as tf

    from pneumonia_tf.cam import conv_and_logit
    forward = tf.function(conv_and_logit(model), reduce_retracing=True)
    channels = int(forward(tf.constant(x[:1]))[0].shape[-1])
    rates = []
    for batch in (batch_size, 256):
        images = tf.constant(np.resize(x, (batch, *x.shape[1:])))
        rates.append(batch / _best_seconds(lambda: forward(images)))
    return rates[0], rates[1] / channels


def bench_cam(args) -> None:
    import numpy as np

    from pneumonia_tf.cam import find_conv_layer, maps
    from pneumonia_tf.cam.methods import METHODS
    from pneumonia_tf.models import build, spec

    if args.from_run:  # a trained model on its own test images: Score-CAM skips the channels zero on an image
        from pneumonia_tf.cam.explain import pick, run_inputs
        from pneumonia_tf.run_folder import open_run
        run = open_run(args.from_run)
        model, (x, _) = run.model(), run_inputs(run, pick(run, "test", args.images)["path"])
        what = f"{args.from_run} (trained, {run.config['model']} at {run.config['image_size']}px, its test images)"
    else:
        shape = (args.size, args.size, spec(args.model).channels)
        model = build(args.model, shape, **({"weights": None} if spec(args.model).imagenet else {}))
        x = np.random.default_rng(0).uniform(0, 1, (args.images, *shape)).astype("float32")
        what = f"{args.model} at {args.size}px (untrained, random images)"
    layer = find_conv_layer(model)[1].name
    forward_rate = forward_ceilings(model, x, args.batch_size)
    print(f"{what}, {len(x)} images, layer {layer}; each method batched (batch {args.batch_size}) against a "
          f"per-image loop of the same method (keras-io style; Score-CAM one forward pass per channel), measured "
          f"side by side, best of {args.repeats} (Score-CAM: of 1):")
    for method in (m for m in METHODS if m != "cam"):
        repeats = 1 if method == "scorecam" else args.repeats
        loop_images = max(2, len(x) // (8 if method == "scorecam" else 1))
        per_image_maps(x[:1], model, layer, method)  # warm up
        loop = loop_images / _best_seconds(lambda: [per_image_maps(x[i:i + 1], model, layer, method)
                                                    for i in range(loop_images)], repeats, warm_up=False)
        maps(model, x[:args.batch_size], method, target="PNEUMONIA", batch_size=args.batch_size)  # trace once
        batched = len(x) / _best_seconds(lambda: maps(model, x, method, target="PNEUMONIA", batch_size=args.batch_size),
                                         repeats, warm_up=False)
        ceiling = forward_rate[method == "scorecam"]
        print(f"  {method:18s} per-image loop {loop:8.1f} maps/s   batched {batched:8.1f} maps/s   {batched / loop:6.1f}x"
              f"   forward-pass ceiling {ceiling:8.1f} maps/s ({batched / ceiling:4.0%} of it)")
    print("  (Score-CAM's ceiling counts every channel; skipping those zero on an image can pass it)")


def bench_dcgan(args) -> None:
    import keras
    import numpy as np

    from pneumonia_tf.dcgan import DCGAN, discriminator, generator

    print(f"DCGAN train step (both networks), batch {args.batch_size}, best of {args.repeats} x {args.steps} steps:")
    for size in (64, 128):
        times = {}
        for xla in (False, True):
            keras.utils.set_random_seed(0)
            gan = DCGAN(discriminator(size), generator(size), seed=0)
            gan.compile(jit_compile=xla)
            x = np.random.default_rng(0).uniform(-1, 1, (args.batch_size * args.steps, size, size, 1)).astype("float32")
            fit = lambda: gan.fit(x, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False)  # noqa: E731
            times[xla] = _best_seconds(fit, args.repeats) / args.steps
        print(f"  {size:3d}px: without XLA {times[False] * 1000:7.0f} ms/step, with XLA {times[True] * 1000:7.0f} "
              f"ms/step, XLA speed-up {times[False] / times[True]:.2f}x")


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.bench", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pipeline", help="tf.data pipeline vs ImageDataGenerator.flow_from_directory")
    p.add_argument("--data", required=True, help="Kermany folder or zip")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--images", type=int, default=None, help="images per timed pass (default: all)")
    p.add_argument("--epochs", type=int, default=2, help="cached epochs timed")
    p.add_argument("--repeats", type=int, default=2, help="rounds; the best rate of each setting is shown")
    p.set_defaults(run=bench_pipeline)
    p = sub.add_parser("decode", help="full vs DCT-scaled JPEG decoding vs the persistent cache")
    p.add_argument("--data", required=True, help="Kermany folder or zip")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--images", type=int, default=200)
    p.set_defaults(run=bench_decode)
    p = sub.add_parser("train", help="training images/s and GFLOP/s as a fraction of the measured peak")
    p.add_argument("--model", default="model1")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(run=bench_train)
    p = sub.add_parser("fit", help="fit on a study cell's real pipeline vs on the same batches in memory")
    p.add_argument("--study", default="table1")
    p.add_argument("--profile", default="quick")
    p.add_argument("--cell", default="model1")
    p.add_argument("--data", default=None, help="data set (default: the profile's, the phantom without DATA)")
    p.add_argument("--steps", type=int, default=200, help="batches per timed epoch (default 200, or the whole epoch "
                                                          "if shorter; the held side keeps them all in memory)")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(run=bench_fit)
    p = sub.add_parser("teardown", help="deleting a training pipeline's iterator, tf.data autotuning off vs on")
    p.add_argument("--study", default="table1")
    p.add_argument("--profile", default="quick")
    p.add_argument("--cell", default="model1")
    p.add_argument("--data", default=None, help="data set (default: the profile's, the phantom without DATA)")
    p.add_argument("--seconds", type=float, default=8.0, help="how long each iterator is drawn from before deletion")
    p.add_argument("--repeats", type=int, default=8)
    p.set_defaults(run=bench_teardown)
    p = sub.add_parser("cam", help="every CAM method batched vs a per-image loop of the same method")
    p.add_argument("--model", default="model1")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings of each side (Score-CAM: 1)")
    p.add_argument("--from-run", type=Path, help="a finished run folder: its trained model on its test images "
                                                 "(default: --model untrained on random images)")
    p.set_defaults(run=bench_cam)
    p = sub.add_parser("dcgan", help="DCGAN step time at 64 and 128 px, with and without XLA")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.set_defaults(run=bench_dcgan)
    args = parser.parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
