"""Training, generation and scoring steps of the DCGAN module (the CLI is __main__)."""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from PIL import Image

from pneumonia_tf import CLASSES
from pneumonia_tf.callbacks import AtFitEnd
from pneumonia_tf.data.index import DataError, label_of
from pneumonia_tf.data.pipeline import load_image, make_dataset, normalizer
from pneumonia_tf.dcgan import DCGAN, LATENT_DIM, discriminator, generator, quality
from pneumonia_tf.inputs import load_data
from pneumonia_tf.models import build
from pneumonia_tf.plots import image_grid, plt, save
from pneumonia_tf.records import atomic_write, provenance, read_json, write_json
from pneumonia_tf.run_folder import open_run
from pneumonia_tf.fit_setup import process_state, training_inputs


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] float -> [0, 255] uint8."""
    return np.clip(np.round((images + 1) * 127.5), 0, 255).astype(np.uint8)


def sample_grid(images: np.ndarray, path, title: str = "", cols: int = 8):
    """Seed 004's figure 2: a grid of generated images ([-1, 1], shown on the 0-255 scale)."""
    return image_grid(list(to_uint8(images)), path, cols=cols, cell=(1.6, 1.6), title=title, vmin=0, vmax=255)


class SampleGrids(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), a grid from the same fixed noise."""

    def __init__(self, folder: Path, every: int, epochs: int, seed: int = 0, n: int = 32):
        super().__init__()
        self.folder, self.every, self.epochs = folder, every, epochs
        self.noise = np.random.default_rng(seed).normal(size=(n, LATENT_DIM)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            images = self.model.generator.predict(self.noise, verbose=0)
            sample_grid(images, self.folder / f"epoch_{epoch + 1:04d}.png", f"epoch {epoch + 1}")


def real_images(config: dict, class_name: str) -> pd.DataFrame:
    """The training-split rows (path, patient, label, ...) of one class, of a resolved training config's
    data and split (pneumonia_tf.inputs.load_data: its split_seed, val_fraction, strict); errors name
    what was found."""
    label = label_of(class_name, "--class")
    index = load_data(config).split("train")
    rows = index[index["label"] == label].reset_index(drop=True)
    if rows.empty:
        found = ", ".join(f"{CLASSES[k]}: {v}" for k, v in index["label"].value_counts().sort_index().items())
        raise DataError(f"{config['data']}: no {CLASSES[label]} images in the training split (found {found or 'none'})")
    return rows


FIT_DONE = "training.json"  # written with generator.keras when fit ends: the run is never trained again (as train.FIT_DONE)


def train_gan(paths, run_dir: Path, *, image_size=128, channels=1, epochs=200, batch_size=128, seed=0,
              sample_every=5, jit_compile="auto", verbose="auto", extra_callbacks=(), decoded_cache=True) -> DCGAN:
    """Train (or resume) a DCGAN on `paths`; writes run_dir/{history.csv, samples/, losses.png,
    generator.keras, training.json}. generator.keras and training.json are written when fit ends, before
    BackupAndRestore deletes its backup, so a kill after that never trains the run again."""
    if len(paths) < batch_size:
        raise DataError(f"found {len(paths)} images, fewer than one batch ({batch_size}); lower --batch-size")
    with process_state(seed):  # seeded and op-deterministic, as every classifier run; restored after
        gan = _fit_gan(paths, run_dir, image_size, channels, epochs, batch_size, seed, sample_every, jit_compile,
                       verbose, extra_callbacks, decoded_cache)
    write_loss_curves(run_dir)
    return gan


def _fit_gan(paths, run_dir, image_size, channels, epochs, batch_size, seed, sample_every, jit_compile, verbose,
             extra_callbacks, decoded_cache) -> DCGAN:
    ds = make_dataset(paths, np.zeros(len(paths)), image_size=image_size, channels=channels,
                      batch_size=batch_size, shuffle=True, seed=seed, normalization="symmetric",
                      decoded_cache=decoded_cache)
    ds = ds.map(lambda x, y: x)
    gan = DCGAN(discriminator(image_size, channels), generator(image_size, channels), seed=seed)
    gan.compile(jit_compile=jit_compile)
    gan.build()  # BackupAndRestore restores into built variables (both optimizers included)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()

    def finish(model: DCGAN) -> None:
        tmp = run_dir / ".generator.tmp.keras"
        model.generator.save(tmp)
        tmp.replace(run_dir / "generator.keras")
        write_json(run_dir / FIT_DONE, {"epochs": epochs, "real_images": len(paths), "image_size": image_size,
                                        "channels": channels, "batch_size": batch_size, "seed": seed,
                                        "wall_time_s": round(time.time() - start, 1)})

    gan.fit(**training_inputs(ds), epochs=epochs, verbose=verbose, shuffle=False, callbacks=[
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        SampleGrids(run_dir / "samples", sample_every, epochs, seed),
        AtFitEnd(finish),  # before the backup is deleted
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")), *extra_callbacks])
    return gan


def write_loss_curves(run_dir: Path) -> None:
    """history.csv without the rows a resume repeated, and losses.png."""
    history = pd.read_csv(run_dir / "history.csv").drop_duplicates("epoch", keep="last")
    atomic_write(run_dir / "history.csv", history.to_csv(index=False))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["epoch"] + 1, history["d_loss"], label="discriminator")
    ax.plot(history["epoch"] + 1, history["g_loss"], label="generator")
    ax.set(xlabel="epoch", ylabel="loss", title="DCGAN losses")
    ax.legend()
    save(fig, run_dir / "losses.png")


def trained_gan(paths, run_dir: Path, *, image_size=128, channels=1, epochs=200, batch_size=128, seed=0,
                **train_options) -> DCGAN:
    """The finished DCGAN in run_dir (training.json with at least `epochs`), or one trained (or resumed)
    now. Asking a finished run for more images never retrains it."""
    finished = run_dir / FIT_DONE
    if finished.exists() and read_json(finished)["epochs"] >= epochs:
        logging.getLogger(__name__).info(f"{run_dir}: finished DCGAN found ({read_json(finished)['epochs']} epochs); "
                                         "generating only")
        if not (run_dir / "losses.png").exists():  # killed after training, before its curves
            write_loss_curves(run_dir)
        return DCGAN(discriminator(image_size, channels), keras.models.load_model(run_dir / "generator.keras"),
                     seed=seed)
    return train_gan(paths, run_dir, image_size=image_size, channels=channels, epochs=epochs, batch_size=batch_size,
                     seed=seed, **train_options)


def write_images(images: np.ndarray, folder: Path, prefix: str = "gen") -> list[Path]:
    """Write (N, S, S, C) [-1, 1] images as PNGs into `folder`, replacing it whole (atomic rename)."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for i, image in enumerate(to_uint8(images)):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(partial / f"{prefix}_{i:05d}.png")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return sorted(folder.glob("*.png"))


def has_images(folder: Path, count: int) -> bool:
    """Does folder (one class's generated images) hold a manifest of at least `count` images?"""
    manifest = folder / "manifest.json"
    return manifest.exists() and read_json(manifest)["count"] >= count


def write_manifest(folder: Path, class_name: str, written: list[Path], run_dir: Path, *, image_size: int,
                   channels: int, seed: int, data: str, split: dict | None = None, quality: dict | None = None) -> Path:
    """folder/manifest.json, the one description of a folder of generated images (the DCGAN command and
    reproduce write the same schema): class, count, image size and channels, pixel range, seed, the
    data and split it learnt from, its run folder and training record, its quality report if scored,
    and provenance."""
    return write_json(folder / "manifest.json", {
        "class": class_name, "count": len(written), "image_size": image_size, "channels": channels,
        "pixel_range": [0, 255], "seed": seed, "data": data, "split": split, "run_dir": str(run_dir),
        "training": read_json(run_dir / FIT_DONE), "quality": quality, **provenance()})


def quality_report(real_paths, generated: np.ndarray, image_size: int, feature_run: Path | None,
                   baselines: bool = False, seed: int = 0, limit: int = 1000) -> dict:
    """quality.report on features of the classifier in `feature_run` (else a seeded randomly
    initialised model1, labelled so). With baselines, the same for an untrained generator and noise."""
    if feature_run:
        run = open_run(feature_run)
        config = run.config
        extract = quality.feature_extractor(run.model(), run.normalizer(), config["image_size"], config["channels"])
        space = f"penultimate layer of {config['model']} trained in {feature_run}"
    else:
        keras.utils.set_random_seed(seed)
        extract = quality.feature_extractor(build("model1", (image_size, image_size, 1)), normalizer("unit"),
                                            image_size, 1)
        space = "penultimate layer of a randomly initialised model1 (seed 0); pass --feature-run for a trained one"
    real = np.stack([load_image(p, image_size, 1).numpy() for p in real_paths[:limit]]).astype("float32")
    real_f = extract(real)
    result = quality.report(real_f, extract(to_uint8(generated[:limit]).astype("float32")), space)
    if baselines:
        channels = generated.shape[-1]
        untrained = DCGAN(discriminator(image_size, channels), generator(image_size, channels), seed=seed)
        noise = np.clip(np.random.default_rng(seed).normal(0, 0.5, generated[:limit].shape), -1, 1)
        result["baselines"] = {
            "untrained_generator": quality.report(real_f, extract(to_uint8(untrained.generate(len(real))).astype(
                "float32")), space),
            "gaussian_noise": quality.report(real_f, extract(to_uint8(noise).astype("float32")), space)}
    return result
