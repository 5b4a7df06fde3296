"""Train one model and write a complete run folder.

python -m pneumonia_tf.train --model NAME --data PATH|synthetic --image-size N --epochs E --seed S --out runs/NAME
python -m pneumonia_tf.train --config experiments/STUDY.toml --profile P --cell C [--data PATH] --out runs/X
    (exactly the config `reproduce STUDY --profile P` trains for cell C; config keys: pneumonia_tf.config)

The run folder holds config.json (resolved), data_summary.json (with skipped files), history.csv,
tensorboard/, model.keras (best validation epoch), figures/, and record.json (config, seed, package
versions, git commit, history, test metrics with CIs, wall time). record.json is written last: a run
with one is finished and is not redone unless --force. An interrupted run resumes from backup/.
"""
from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path

import keras
import pandas as pd

from pneumonia_tf import CLASSES, cli
from pneumonia_tf.callbacks import (AtFitEnd, ResumableEarlyStopping, SaturationThresholdUnfreeze, read_history,
                                    step_decay)
from pneumonia_tf.config import TEST_SELECTED, parse_assignment, resolve
from pneumonia_tf.data import synthetic
from pneumonia_tf.distribute import fitting, get_strategy, is_chief, scratch_folder
from pneumonia_tf.errors import UserError
from pneumonia_tf.evaluate import evaluate, format_metrics, predict
from pneumonia_tf.experiments import cell_config, load_experiment
from pneumonia_tf.inputs import build_model, datasets_for, split_record
from pneumonia_tf.records import atomic_write, provenance, read_json, timed, write_json
from pneumonia_tf.run_folder import open_run
from pneumonia_tf.fit_setup import class_weights, compile_model, optimizer_from_config, process_state, training_inputs

log = logging.getLogger("pneumonia_tf.train")  # not __name__: run by python -m, this module is "__main__"

FIT_DONE = "fit_done.json"  # training finished and model.keras saved; a rerun goes straight to evaluation


def _save_trained_model(model: keras.Model, out: Path) -> None:
    """model.keras (the best validation epoch when the checkpoint wrote one, else the model as trained),
    then the FIT_DONE marker; both atomic."""
    best, tmp = out / "best.keras", out / ".model.tmp.keras"
    if best.exists():
        shutil.copyfile(best, tmp)
    else:
        model.save(tmp)
    tmp.replace(out / "model.keras")
    write_json(out / FIT_DONE, {"best_checkpoint": best.exists()})


def _label_counts(frame) -> dict:
    """{class name: images} of a frame of (path, label)."""
    return {name: int((frame["label"] == label).sum()) for label, name in enumerate(CLASSES)}


def callbacks_for(config: dict, out: Path) -> list:
    """The callbacks train() fits a resolved config with, writing into run folder `out`: the learning-rate
    schedule (and the unfreeze), the CSV log, the end-of-fit save, BackupAndRestore, the best checkpoint,
    TensorBoard and early stopping (resumable; from the unfreeze when there is one)."""
    history = out / "history.csv"
    previous = read_history(history)  # resuming: a worse epoch after the restart must not replace the best model
    best = None if previous is None else float(previous[config["monitor"]].max())
    # The learning-rate callbacks come first: the scheduler writes logs["learning_rate"] (the rate after any
    # unfreeze) at epoch end, and the CSV logger after it records it. Without lr_step it keeps the rate.
    callbacks = [step_decay(**config["lr_step"]) if config["lr_step"] else
                 keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate)]
    if config["unfreeze"]:
        callbacks.append(SaturationThresholdUnfreeze(**config["unfreeze"]))
    callbacks += [
        keras.callbacks.CSVLogger(str(history), append=True),
        AtFitEnd(lambda model: _save_trained_model(model, out)),  # before the backup is deleted
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor=config["monitor"], mode="max",
                                        save_best_only=True, initial_value_threshold=best),
        keras.callbacks.TensorBoard(str(out / "tensorboard")),
    ]
    if config["early_stopping_patience"]:  # best.keras is loaded after fit
        callbacks.append(ResumableEarlyStopping(history, monitor=config["monitor"], mode="max",
                                                patience=config["early_stopping_patience"],
                                                start_from_epoch=stage2_start(config)))
    return callbacks


def stage2_start(config: dict) -> int:
    """The epoch (0-based) early stopping starts watching at: the unfreeze epoch when the run has a stage
    2 (patience counts from the unfreeze, so early stopping never skips stage 2), else 0."""
    unfreeze = config["unfreeze"]
    return unfreeze["threshold_epoch"] if unfreeze and unfreeze["threshold_epoch"] < config["epochs"] else 0


def stage2_record(config: dict, epochs_trained: int) -> dict | None:
    """Whether and from which epoch (1-based) stage 2 (the unfrozen base) ran, for a run with an unfreeze."""
    unfreeze = config["unfreeze"]
    if not unfreeze:
        return None
    ran = epochs_trained > unfreeze["threshold_epoch"]
    return {"threshold_epoch": unfreeze["threshold_epoch"], "ran": ran,
            "first_epoch": unfreeze["threshold_epoch"] + 1 if ran else None,
            "epochs": max(0, epochs_trained - unfreeze["threshold_epoch"]),
            **({} if ran else {"why_not": "the run has no epoch past the threshold (epochs <= threshold_epoch)"})}


def _unfreeze_if_resuming_past_threshold(model: keras.Model, callbacks: list, out: Path) -> None:
    """A run killed after the unfreeze epoch saved the unfrozen optimizer's state; recompile the same way
    before fit, so BackupAndRestore can load it (else the moments, step count and decayed learning rate
    are silently dropped)."""
    metadata = out / "backup" / "training_metadata.json"  # BackupAndRestore's record of finished epochs
    unfreeze = next((c for c in callbacks if isinstance(c, SaturationThresholdUnfreeze)), None)
    if unfreeze and metadata.exists():
        epoch = read_json(metadata)["epoch"]
        if epoch >= unfreeze.threshold_epoch:
            unfreeze.set_model(model)
            unfreeze.unfreeze(epoch)


def prepare_run_folder(run_dir: Path, strategy, force: bool) -> Path:
    """The folder this process writes (the run folder for the chief, its scratch folder for another
    worker), emptied with force, created."""
    out = scratch_folder(run_dir, strategy)
    if force:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_and_compile(config: dict, strategy, out: Path) -> tuple[keras.Model, list]:
    """(model, callbacks) of a resolved config, built and compiled inside the strategy's scope; a run
    resumed past the unfreeze epoch is unfrozen before fit, so its optimizer state can be restored."""
    with strategy.scope():  # default / mirrored / multiworker (TF_CONFIG)
        model = build_model(config)
        compile_model(model, optimizer_from_config(config), jit_compile=config["jit_compile"],
                      steps_per_execution=config["steps_per_execution"])
        callbacks = callbacks_for(config, out)
        _unfreeze_if_resuming_past_threshold(model, callbacks, out)
    return model, callbacks


def fit(model: keras.Model, callbacks: list, config: dict, inputs, weights, verbose) -> None:
    """model.fit on the config's training data, every epoch from one iterator (not under multiworker,
    where Keras counts each worker's batches), validated on the validation images."""
    train_inputs = training_inputs(inputs.train, one_iterator=config["strategy"] != "multiworker",
                                   steps_per_execution=config["steps_per_execution"])
    with fitting(model, lambda: next(iter(inputs.val))):
        model.fit(**train_inputs, validation_data=inputs.val, epochs=config["epochs"], class_weight=weights,
                  verbose=verbose, shuffle=False, callbacks=callbacks)  # the dataset shuffles itself, seeded


def evaluate_saved(config: dict, inputs, out: Path) -> dict:
    """The saved best model (model.keras) evaluated on the validation and test images: metrics,
    predictions.csv and figures (pneumonia_tf.evaluate.evaluate), outside the strategy."""
    model = keras.models.load_model(out / "model.keras")
    return evaluate(model, inputs.val_frame, predict(model, inputs.val), inputs.data.split("test"),
                    predict(model, inputs.test), out, config["threshold_rule"], config["resamples"], config["seed"],
                    config["select_on"])


def write_record(config: dict, inputs, summary: dict, weights, result: dict, out: Path, start: float,
                 timings: dict) -> dict:
    """record.json (written last: a run with one is finished): config, seed, provenance, data and split,
    what was trained on, the history and stage 2, the test metrics, the wall time and its `timings`
    (seconds per step of train()); returns it."""
    data = inputs.data
    history = pd.read_csv(out / "history.csv").drop_duplicates("epoch", keep="last")
    atomic_write(out / "history.csv", history.to_csv(index=False))
    record = {"config": config, "seed": config["seed"], **provenance(), "synthetic_data": data.synthetic,
              "data": {key: summary[key] for key in ("root", "official", "splits", "skipped", "official_shared_patients")},
              "split": split_record(config, data),
              **({"protocol": TEST_SELECTED.upper()} if config["select_on"] == "test" else {}),
              "trained_on": _label_counts(inputs.train_frame),
              "class_weight": weights,
              "mean_std": data.mean_std if config["normalization"] == "standardize" else None,
              "epochs_trained": int(len(history)), "stage2": stage2_record(config, len(history)),
              "history": history.to_dict(orient="records"), "test": result,
              "wall_time_s": round(time.time() - start, 1), "timings_s": timings}
    write_json(out / "record.json", record)
    if data.synthetic:
        synthetic.announce()
    if config["select_on"] == "test":
        log.warning(f"*** {out}: {TEST_SELECTED.upper()} ***")
    if record["stage2"] and not record["stage2"]["ran"]:
        log.warning(f"*** {out}: STAGE 2 (THE UNFROZEN BASE) NEVER RAN: {record['stage2']['why_not']} ***")
    return record


def train(config: dict, out: str | Path, force: bool = False, verbose: int | str = "auto",
          extra_callbacks: list | None = None) -> dict:
    """Train `config` (see DEFAULTS) into run folder `out`; returns the record. In named steps: prepare
    the run folder; set the process-wide state (seeds, op determinism, precision policy; restored
    after); read the inputs; build and compile; fit; evaluate and record.

    With strategy "multiworker", every worker runs this with the same arguments; the chief writes the
    run folder and the record, the others train in step and keep their own checkpoints in
    out/.workers/<task>-<index>/ (see pneumonia_tf.distribute.scratch_folder) and return
    {"worker": "<task>-<index>", "scratch": folder} without a record."""
    config, run_dir = resolve(config), Path(out)
    if (run_dir / "record.json").exists() and not force:
        log.info(f"{run_dir}: finished run found (record.json); nothing to do (use --force to retrain)")
        return open_run(run_dir).record
    strategy = get_strategy(config["strategy"])  # before any other TensorFlow work (collective ops)
    out = prepare_run_folder(run_dir, strategy, force)
    start, timings = time.time(), {}
    with process_state(config["seed"], config["deterministic"], config["mixed_precision"]):
        with timed(timings, "data"):
            inputs = datasets_for(config)
            write_json(out / "config.json", config)
            summary = inputs.data.summary()
            write_json(out / "data_summary.json", summary)
        # from the labels actually trained on (train_data / extra_train images included)
        weights = class_weights(inputs.train_frame["label"]) if config["class_weight"] else None
        if (out / FIT_DONE).exists():  # killed after training, before its record: evaluate, never retrain
            log.info(f"{out}: training finished before ({FIT_DONE}); evaluating the saved model")
        else:
            with timed(timings, "build"):
                model, callbacks = build_and_compile(config, strategy, out)
            with timed(timings, "fit"):
                fit(model, callbacks + list(extra_callbacks or []), config, inputs, weights, verbose)
        if not is_chief(strategy):  # the chief evaluates and writes the record
            return {"worker": out.name, "scratch": str(out)}
        with timed(timings, "evaluate"):
            result = evaluate_saved(config, inputs, out)
    return write_record(config, inputs, summary, weights, result, out, start, timings)


def config_from_file(path: Path, profile: str | None, cell: str | None, data: str | None,
                     generated: Path | None, seed: int = 0) -> dict:
    """The training config an experiments/ file gives: a study's cell for a profile (the config
    `reproduce` trains), or the [train] table of a file without cells."""
    experiment = load_experiment(path)
    if "cells" not in experiment:
        if profile or cell:
            raise UserError(f"{path}: has no [cells]; --profile and --cell apply to study files only")
        return dict(experiment.get("train", {}))
    return cell_config(experiment, profile or "paper", cell, data, generated, seed)


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.train", __doc__)
    parser.add_argument("--config", type=Path, help="an experiments/*.toml file: a study (with --cell) or a [train] table")
    parser.add_argument("--profile", help="with a study --config: its profile (default paper)")
    parser.add_argument("--cell", help="with a study --config: train exactly what `reproduce` trains for this cell")
    parser.add_argument("--generated", type=Path, help="DCGAN image folder for cells that use it "
                                                       "(default generated/<study>-<profile>/seed<SEED>, as reproduce)")
    parser.add_argument("--model")
    parser.add_argument("--data", help="Kermany folder or zip, RSNA folder, or synthetic")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--weights", help='"imagenet", "none", or a local weights file (transfer models)')
    parser.add_argument("--mixed-precision", choices=["mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--clipnorm", type=float)
    parser.add_argument("--strategy", choices=["default", "mirrored", "multiworker"])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="any config key (JSON values)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="retrain even if the run is finished")
    args = parser.parse_args(argv)
    overrides = config_from_file(args.config, args.profile, args.cell, args.data, args.generated,
                                 args.seed or 0) if args.config else {}
    for key in ("model", "data", "image_size", "epochs", "batch_size", "learning_rate", "seed", "mixed_precision",
                "clipnorm", "strategy"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.weights is not None:
        overrides["weights"] = args.weights
    overrides.update(parse_assignment(item) for item in args.set)
    record = train(overrides, args.out, force=args.force)
    if "worker" in record:
        print(f"worker {record['worker']}: training done; the chief writes the run folder {args.out}")
        return 0
    print(format_metrics(record["test"]))
    print(f"run folder: {args.out}  (wall time {record['wall_time_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
