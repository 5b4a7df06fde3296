"""What a reproduction will do and about how long it will take, before it starts (reproduce --plan).

Every (seed, cell) still without a record and every DCGAN still to train, with its training images,
validation images, epochs and batch, and an estimate of its wall time on this machine:

    cell:  epochs x (train steps x a train step's seconds + validation steps x a predict step's seconds)
           + the seconds outside fit (data, build, evaluation, figures, maps): the median of this study's
             finished cells on their records (wall time minus fit, plus their cam/ maps), else FIXED_CELL_S
    DCGAN: epochs x steps x a DCGAN step's seconds

Steps are per epoch, the last partial batch included. A step's seconds are timed here, on random images
of the model's input size and batch (a classifier: a few steps after two warm-up steps; a DCGAN, which
trains through fit: the few steps after the first of one fit, from batch end to batch end, so fit's
fixed cost is left out), and cached per machine, package versions, model, options, size, batch and
precision in <cache>/calibration.json, so a second plan costs no timing (a step timed while the machine
is busy is logged as such: delete the file and plan again on an idle machine). Early stopping can end a cell
sooner: the estimate is for every epoch. Cells whose images the DCGANs have not yet written are
counted with the DCGANs' num_images per class.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.config import resolve
from pneumonia_tf.data.cache import cache_dir, exclusive
from pneumonia_tf.data.sources import load
from pneumonia_tf.dcgan.run import has_images
from pneumonia_tf.experiments import cell_config, dcgan_settings, dcgan_split_cell, uses_generated
from pneumonia_tf.inputs import load_data
from pneumonia_tf.records import atomic_write, available_cores, package_versions, read_json
from pneumonia_tf.study_runs import maps_seconds, unfinished

# A cell's cost outside fit (data, build, evaluation, figures), in seconds, until a study has finished
# cells of its own: on the quick table1 at 64 px, 4-6 s per cell with one job (8 cells of seed 0) and a
# median of 8.6 s with two (24 cells of seed 1). The maps of [explain] are not in it.
FIXED_CELL_S = 10.0
TIMED_STEPS = 3
log = logging.getLogger(__name__)


def machine_key() -> str:
    """This machine, the cores this process may run on, and the package versions its timings hold for."""
    return json.dumps({"host": platform.node(), "cpus": available_cores(), "machine": platform.machine(),
                       **package_versions()}, sort_keys=True)


def _calibrations() -> tuple[Path, dict]:
    path = cache_dir() / "calibration.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    return path, found.get(machine_key(), {})


class NotCalibrated(Exception):
    """A step this machine has not timed yet, asked for without timing it (`estimate_if_calibrated`)."""


def cached_seconds(key: str, measure, timing: bool = True) -> dict:
    """The measurement `measure()` returns (a dict: step seconds, or --jobs auto's rates) for `key`
    from the calibration cache, else measured and stored (with timing=False: NotCalibrated instead)."""
    path, known = _calibrations()
    if key not in known and not timing:
        raise NotCalibrated(key)
    if key not in known:
        load = os.getloadavg()[0]
        seconds = measure()
        cores = available_cores()
        if load >= cores:  # other work on every core (the plan itself adds at most one)
            log.warning(f"timed {key} while the machine was busy (load {load:.1f} on {cores} cores): the "
                        f"estimates run long; delete {path} and plan again on an idle machine")
        with exclusive(path):
            everything = json.loads(path.read_text()) if path.exists() else {}
            everything.setdefault(machine_key(), {})[key] = seconds
            atomic_write(path, json.dumps(everything, indent=1, sort_keys=True))
        return seconds
    return known[key]


def _timed(step, steps: int = TIMED_STEPS) -> float:
    """Seconds per call of step() after two warm-up calls (tracing, oneDNN primitives)."""
    step()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def step_key(config: dict) -> str:
    """What a classifier step's time depends on (and classifier_steps sets)."""
    return json.dumps({"model": config["model"], "options": config["model_options"], "size": config["image_size"],
                       "channels": config["channels"], "batch": config["batch_size"],
                       "precision": config["mixed_precision"], "optimizer": config["optimizer"],
                       "jit_compile": config["jit_compile"], "deterministic": config["deterministic"]}, sort_keys=True)


@contextlib.contextmanager
def classifier_steps(config: dict):
    """(train step, predict step): callables that each run one batch of random images through a
    resolved config's model, compiled as train compiles it, inside its process state."""
    from pneumonia_tf.fit_setup import compile_model, optimizer_from_config, process_state
    from pneumonia_tf.inputs import build_model
    size, channels, batch = config["image_size"], config["channels"], config["batch_size"]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch, size, size, channels)).astype("float32")
    y = rng.integers(0, 2, (batch, 1)).astype("float32")
    with process_state(0, deterministic=config["deterministic"], policy=config["mixed_precision"]):
        model = build_model({**config, "weights": None})  # the cost, not the weights: nothing downloaded
        compile_model(model, optimizer_from_config(config), jit_compile=config["jit_compile"])
        yield (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))


def classifier_step_seconds(config: dict, timing: bool = True) -> dict:
    """{"train": s, "predict": s} of one batch of a resolved config's model, compiled as train compiles it."""
    def measure() -> dict:
        with classifier_steps(config) as (train, predict):
            return {"train": _timed(train), "predict": _timed(predict)}
    return cached_seconds(step_key(config), measure, timing)


def dcgan_step_seconds(image_size: int, batch_size: int, timing: bool = True) -> float:
    """Seconds of one DCGAN train step (both networks) at image_size px, batch batch_size (timing=False:
    NotCalibrated where it has not been timed on this machine)."""
    def measure() -> dict:
        import keras

        from pneumonia_tf.dcgan import DCGAN, discriminator, generator
        keras.utils.set_random_seed(0)
        gan = DCGAN(discriminator(image_size), generator(image_size), seed=0)
        gan.compile(jit_compile=False)  # as reproduce trains them
        x = np.random.default_rng(0).uniform(-1, 1, (batch_size * (1 + TIMED_STEPS), image_size, image_size, 1))
        # through fit, since its train_step takes images alone, not (x, y) as train_on_batch gives them; timed
        # from the end of the first batch (tracing) to the end of the last, so neither fit's fixed cost at its
        # start nor the 0-8 s it took after its last batch here (a study's DCGAN pays them once) counts as steps
        ends = []
        stamp = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ends.append(time.perf_counter()))
        gan.fit(x.astype("float32"), batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[stamp])
        return {"train": (ends[-1] - ends[0]) / (len(ends) - 1)}
    key = {"dcgan": image_size, "batch": batch_size, "step": "batch end to batch end"}  # earlier entries had fit's fixed cost
    return cached_seconds(json.dumps(key), measure, timing)["train"]


def _count(source: str, image_size: int, missing: int) -> int:
    """Images of a training source; `missing` where it is a DCGAN folder not yet written."""
    return len(load(source, image_size=image_size).index) if Path(source).exists() else missing


def _loaded(config: dict, loaded: dict):
    """load_data(config), once per data set and split settings in one plan (`loaded` holds them)."""
    key = tuple(config.get(name) for name in ("data", "image_size", "val_fraction", "split_seed", "strict"))
    if key not in loaded:
        loaded[key] = load_data(config)
    return loaded[key]


def outside_fit_seconds(study_runs: Path) -> tuple[float, int]:
    """(seconds per cell outside fit, the finished cells they come from): the median over this study's
    records with step timings of wall time minus fit plus the cell's maps (cam/score.json); with none,
    (FIXED_CELL_S, 0)."""
    outside = []
    for path in sorted(study_runs.glob("*/*/record.json")):
        record = read_json(path)
        if "fit" not in record.get("timings_s", {}):
            continue
        outside.append(record["wall_time_s"] - record["timings_s"]["fit"] + (maps_seconds(path.parent) or 0.0))
    return (float(np.median(outside)), len(outside)) if outside else (FIXED_CELL_S, 0)


def cell_row(experiment: dict, profile: str, cell: str, seed: int, data: str, generated: Path,
             overrides: dict, loaded: dict, timing: bool = True, outside_fit: float = FIXED_CELL_S) -> dict:
    """One pending cell: what it trains on and its estimated seconds, fit plus `outside_fit`
    (timing=False: NotCalibrated where its step has not been timed on this machine)."""
    config = resolve({**cell_config(experiment, profile, cell, data, generated), **overrides, "seed": seed})
    step = classifier_step_seconds(config, timing)  # first: without timing, NotCalibrated before any data is read
    split = _loaded(config, loaded)
    fake = dcgan_settings(experiment, profile).get("num_images", 0) * len(CLASSES)
    images = sum(_count(source, config["image_size"], fake) for source in config["train_data"]) \
        if config["train_data"] else len(split.split("train"))
    images = round((images + sum(_count(s, config["image_size"], fake) for s in config["extra_train"]))
                   * config["train_fraction"])
    if config["oversample"]:  # make_dataset repeats the minority class up to the majority's count
        counts = split.split("train")["label"].value_counts()
        images = len(CLASSES) * round(counts.max() * config["train_fraction"])
    val = len(split.split("test" if config["select_on"] == "test" else "val"))
    batch = config["batch_size"]
    fit = config["epochs"] * (math.ceil(images / batch) * step["train"] + math.ceil(val / batch) * step["predict"])
    return {"seed": seed, "job": cell, "model": config["model"], "image_size": config["image_size"],
            "batch_size": batch, "train_images": images, "val_images": val, "epochs": config["epochs"],
            "estimate_s": round(fit + outside_fit)}


def dcgan_rows(experiment: dict, profile: str, real_config: dict, seed: int, generated: Path,
               loaded: dict, timing: bool = True) -> list[dict]:
    """The DCGANs of one seed still to train (one per class): their real images and estimated seconds."""
    settings = dcgan_settings(experiment, profile)
    size, batch, epochs = settings["image_size"], settings["batch_size"], settings["epochs"]
    rows, train = [], _loaded(real_config, loaded).split("train")
    for label, class_name in enumerate(CLASSES):
        if has_images(generated / class_name, settings["num_images"]):
            continue
        images = min(int((train["label"] == label).sum()), settings.get("max_real_images") or math.inf)
        rows.append({"seed": seed, "job": f"dcgan {class_name}", "model": "dcgan", "image_size": size,
                     "batch_size": batch, "train_images": images, "val_images": 0, "epochs": epochs,
                     "estimate_s": round(epochs * math.ceil(images / batch) * dcgan_step_seconds(size, batch, timing))})
    return rows


def estimate_if_calibrated(experiment: dict, profile: str, cell: str, seed: int, data: str, generated: Path,
                           overrides: dict, study_runs: Path | None = None) -> float | None:
    """A cell's estimated seconds as --plan gives it (with study_runs: its finished cells' time outside
    fit), where this machine has timed its step (after a --plan); else None. Nothing is timed, so a run
    does not pay for it."""
    outside = outside_fit_seconds(study_runs)[0] if study_runs else FIXED_CELL_S
    try:
        return cell_row(experiment, profile, cell, seed, data, generated, overrides, {}, timing=False,
                        outside_fit=outside)["estimate_s"]
    except NotCalibrated:
        return None


def study_plan(experiment: dict, profile: str, cells: dict[str, dict], jobs: list[tuple[int, str]], data: str,
               study_runs: Path, generated: Path, overrides: dict, timing: bool = True) -> pd.DataFrame:
    """One row per DCGAN and cell that reproduce would train for `jobs` (pneumonia_tf.experiments.study_jobs),
    in its order: seed, job, model, image_size, batch_size, train_images, val_images, epochs, estimate_s
    (timing=False: NotCalibrated where a step has not been timed on this machine)."""
    rows, seeds_planned, loaded = [], set(), {}
    split_cell, to_train = dcgan_split_cell(cells), set(unfinished(study_runs, jobs))
    outside, measured = outside_fit_seconds(study_runs)
    for seed, cell in jobs:
        if uses_generated(cells[cell]) and seed not in seeds_planned:
            seeds_planned.add(seed)
            real_config = resolve({**cells[split_cell], **overrides, "seed": seed})
            rows += dcgan_rows(experiment, profile, real_config, seed, generated / f"seed{seed}", loaded, timing)
        if (seed, cell) in to_train:
            rows.append(cell_row(experiment, profile, cell, seed, data, generated / f"seed{seed}", overrides, loaded,
                                 timing, outside_fit=outside))
    table = pd.DataFrame(rows)
    table.attrs.update(outside_fit_s=outside, outside_fit_cells=measured, maps="explain" in experiment,
                       num_images=dcgan_settings(experiment, profile).get("num_images", 0))
    return table


def rows_done(table: pd.DataFrame, study_runs: Path, generated: Path) -> pd.Series:
    """Which rows of a plan are done now (bool, by row): a cell with its record.json (study_runs.unfinished),
    a DCGAN with its images and manifest."""
    cells = [(row.seed, row.job) for row in table.itertuples() if row.model != "dcgan"]
    pending = set(unfinished(study_runs, cells))

    def done(row) -> bool:
        if row.model == "dcgan":
            return has_images(generated / f"seed{row.seed}" / row.job.split()[1], table.attrs["num_images"])
        return (row.seed, row.job) not in pending
    return pd.Series([done(row) for row in table.itertuples()], index=table.index, dtype=bool)


def time_to_go(table: pd.DataFrame, done: pd.Series, elapsed: float) -> float | None:
    """Seconds still to go: the plan's estimates of the rows not `done`, at the pace measured so far
    (`elapsed` seconds for the estimates of the rows done); None before any row is done."""
    finished = table.loc[done, "estimate_s"].sum()
    return float(elapsed * table.loc[~done, "estimate_s"].sum() / finished) if finished > 0 else None


class Progress:
    """The study-level progress line printed as each cell ends: cells done of those to train, elapsed,
    and the time to go. With a plan `table` (this machine has timed the study's steps: a --plan did; a
    run times nothing), the time to go is the plan's estimates of the cells and DCGANs left at the pace
    measured so far (time_to_go), so a study whose later cells are larger is not given the pace of its
    first; without one, or before a planned row is done, the mean time per cell so far times the cells
    left."""

    def __init__(self, title: str, to_train: int, table: pd.DataFrame | None, study_runs: Path, generated: Path):
        self.title, self.to_train, self.table = title, to_train, table
        self.study_runs, self.generated, self.started = study_runs, generated, time.time()

    def line(self, done: int, jobs: int = 1) -> str:
        """The line after `done` cells (of every job, with `jobs` > 1)."""
        elapsed = time.time() - self.started
        to_go = None
        if self.table is not None and not self.table.empty:
            to_go = time_to_go(self.table, rows_done(self.table, self.study_runs, self.generated), elapsed)
        if to_go is None:
            to_go = elapsed / max(done, 1) * max(0, self.to_train - done)
        return (f"--- {self.title}: {done} of {self.to_train} cells done" + (f" with {jobs} jobs" if jobs > 1 else "")
                + f", {elapsed / 60:.1f} min elapsed, about {to_go / 60:.0f} min to go")


def print_plan(table: pd.DataFrame, study: str, profile: str) -> None:
    """The plan as a table and its total, on stdout."""
    if table.empty:
        print(f"{study} / {profile}: every cell has its record; nothing to run")
        return
    total = table["estimate_s"].sum()
    print(f"{study} / {profile}: {int((table['model'] != 'dcgan').sum())} cell run(s) and "
          f"{int((table['model'] == 'dcgan').sum())} DCGAN(s) to train, in this order; about {total / 60:.0f} min "
          f"on this machine ({outside_note(table)}; every epoch counted, early stopping can end a cell sooner)")
    print(table.to_string(index=False))


def outside_note(table: pd.DataFrame) -> str:
    """Where the plan's seconds outside fit come from, in words."""
    seconds, cells = table.attrs.get("outside_fit_s", FIXED_CELL_S), table.attrs.get("outside_fit_cells", 0)
    if cells:
        return f"{seconds:.0f} s per cell outside fit, the median of {cells} finished cell(s) of this study"
    return (f"{seconds:.0f} s per cell outside fit, assumed: no finished cell of this study has step timings yet"
            + ("; the maps of [explain] (minutes per cell) are not counted" if table.attrs.get("maps") else ""))
