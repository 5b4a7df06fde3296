"""Keras Tuner searches over the CNN and transfer families (and seed 003's grid).

python -m pneumonia_tf.tune --family cnn|transfer --tuner random|hyperband|bayesian|grid --max-trials N
    --data PATH|synthetic --out tuning/NAME [--resume | --overwrite] [--config experiments/X.toml]

The objective is a validation metric on the patient-level validation split (never the test split):
ROC AUC by default, [tune].objective in a config (seed 003's sweep: accuracy, 003:67); [tune].train
holds training settings every trial keeps (seed 003: the main run's clipping, mixed precision,
augmentation and early stopping).
A stored search is only continued with --resume, and only if it was asked the same way; --overwrite
starts afresh. Writes trials.csv and trials.md (every trial's hyperparameters, score, status, best
epoch), trials/<trial>/predictions.csv (the best epoch's scores on the validation images) and best.toml, an experiments/ config that `python -m pneumonia_tf.train --config` runs.
Distributed tuning: Keras Tuner's chief/worker mode (KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP,
KERASTUNER_ORACLE_PORT), see the README.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import keras
import keras_tuner as kt
import pandas as pd

from pneumonia_tf import cli
from pneumonia_tf.callbacks import SaturationThresholdUnfreeze
from pneumonia_tf.data.index import DataError
from pneumonia_tf.distribute import STRATEGIES, fitting, get_strategy
from pneumonia_tf.config import MONITORS, check_train_config, resolve
from pneumonia_tf.errors import UserError
from pneumonia_tf.evaluate import predict
from pneumonia_tf.experiments import load_experiment
from pneumonia_tf.inputs import build_model, datasets_for, load_data
from pneumonia_tf.keras_compat import tuner_role
from pneumonia_tf.predictions import write_predictions
from pneumonia_tf.records import atomic_write, read_json, write_json
from pneumonia_tf.fit_setup import compile_model, mixed_precision, optimizer_from_config, training_inputs
from pneumonia_tf.tune_spaces import SPACES

TUNERS = {"random": kt.RandomSearch, "hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization,
          "grid": kt.GridSearch}
UNFREEZE_RATE = 0.01  # after the threshold epoch the base trains at learning_rate * UNFREEZE_RATE


def value(hp: kt.HyperParameters, name: str, spec):
    """Declare hyperparameter `name` from its spec and return its value for this trial."""
    if isinstance(spec, list):
        if len(spec) > 1 and all(isinstance(v, bool) for v in spec):
            return hp.Boolean(name)  # a Choice of booleans would come back as 0/1
        return hp.Choice(name, spec) if len(spec) > 1 else hp.Fixed(name, spec[0])
    if isinstance(spec["min"], int) and isinstance(spec["max"], int):
        return hp.Int(name, spec["min"], spec["max"], step=spec.get("step", 1))
    return hp.Float(name, spec["min"], spec["max"], sampling="log" if spec.get("log") else "linear")


def train_config(family: str, values: dict, settings: dict) -> dict:
    """A pneumonia_tf.train config for one set of hyperparameter values: the search's own training
    settings (settings["train"]: e.g. the main run's clipping, mixed precision, augmentation and early
    stopping) with the trial's values over them. A weight decay of 0 stays 0; sgd_momentum is SGD's
    momentum, applied only to the trials whose optimizer is SGD."""
    config = {**settings.get("train", {}), "data": settings["data"], "image_size": settings["image_size"],
              "epochs": settings["epochs"], "seed": settings["seed"],
              "learning_rate": values["learning_rate"], "batch_size": values["batch_size"],
              "optimizer": values["optimizer"], "weight_decay": values["weight_decay"]}
    if values["optimizer"] == "sgd" and values.get("sgd_momentum") is not None:
        config["momentum"] = values["sgd_momentum"]
    if family == "cnn":
        config["model"] = "model1"
        config["model_options"] = {"blocks": [[values["conv1"]], [values["conv2"]], [values["conv3"]]],
                                   **{k: values[k] for k in ("conv_dropout", "dense", "dense_dropout", "batch_norm",
                                                             "l1", "l2")}}
        config.setdefault("augmentation", {"rescale": 1 / 255, "shear_range": 0.2, "zoom_range": 0.2,
                                           "horizontal_flip": True})
    else:
        config["model"], config["weights"] = values["base"], settings["weights"]
        config["model_options"] = {"dropout": values["dropout"]}
        config["unfreeze"] = {"threshold_epoch": values["threshold_epoch"],
                              "learning_rate": values["learning_rate"] * UNFREEZE_RATE}
    return config


class PneumoniaHyperModel(kt.HyperModel):
    """Builds models with pneumonia_tf.models.build; fit builds the batched datasets (a batched
    tf.data set ignores fit's batch_size, so the batch size is a hyperparameter applied here)."""

    def __init__(self, family: str, space: dict, settings: dict, data, objective: str = "val_auc"):
        super().__init__()
        self.family, self.space, self.settings, self.data = family, space, settings, data
        self.objective = objective

    def _config(self, hp):
        return train_config(self.family, {name: value(hp, name, spec) for name, spec in self.space.items()},
                            self.settings)

    def build(self, hp):
        config = resolve(self._config(hp))
        with mixed_precision(config["mixed_precision"]):
            return compile_model(build_model(config), optimizer_from_config(config))

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        config = resolve(self._config(hp))
        inputs = datasets_for(config, self.data)  # the same datasets training would use
        train_ds, val_ds = inputs.train, inputs.val
        callbacks = list(callbacks)
        if config["unfreeze"]:
            callbacks.append(SaturationThresholdUnfreeze(**config["unfreeze"], verbose=0))
        if config["early_stopping_patience"]:  # the main run's early stopping, on the search's objective
            callbacks.append(keras.callbacks.EarlyStopping(monitor=self.objective, mode="max",
                                                           patience=config["early_stopping_patience"]))
        with fitting(model, lambda: next(iter(val_ds))):
            return model.fit(**training_inputs(train_ds), validation_data=val_ds, callbacks=callbacks, shuffle=False,
                             **kwargs)


def trials_table(tuner: kt.Tuner, objective: str = "val_auc") -> pd.DataFrame:
    """One row per trial: id, status, score (the objective), best epoch, hyperparameters."""
    rows = [{"trial": t.trial_id, "status": t.status, objective: t.score, "best_epoch": t.best_step,
             **t.hyperparameters.values} for t in tuner.oracle.trials.values()]
    return pd.DataFrame(rows).sort_values("trial").reset_index(drop=True)


def write_trial_predictions(tuner: kt.Tuner, hypermodel: PneumoniaHyperModel, out: Path) -> None:
    """out/trials/<trial>/predictions.csv for every completed trial: its best epoch's model (the one its
    score is of, as keras-tuner saved it) on the validation images that scored it (split "val"; a search
    never sees the test split). Written once per trial."""
    for trial in tuner.oracle.trials.values():
        target = out / "trials" / trial.trial_id
        if trial.status != "COMPLETED" or (target / "predictions.csv").exists():
            continue
        inputs = datasets_for(resolve(hypermodel._config(trial.hyperparameters)), hypermodel.data)
        write_predictions(target, {"val": (inputs.val_frame, predict(tuner.load_model(trial), inputs.val))})


def to_toml(config: dict) -> str:
    """A [train] table for experiments/ (values: numbers, strings, booleans, lists, dicts)."""
    def encode(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {encode(x)}" for k, x in v.items()) + " }"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(encode(x) for x in v) + "]"
        return json.dumps(v)
    lines = [f"{k} = {encode(v)}" for k, v in config.items() if v is not None]
    return "# Best trial of a pneumonia_tf.tune search: python -m pneumonia_tf.train --config THIS --out runs/X\n" \
           "[train]\n" + "\n".join(lines) + "\n"


def search(family: str, tuner_name: str, max_trials: int, data: str, out: Path, image_size: int = 64,
           epochs: int = 3, seed: int = 0, resume: bool = False, overwrite: bool = False, space: dict | None = None,
           weights="imagenet", strategy: str = "default", executions_per_trial: int = 1,
           objective: str = "val_auc", train: dict | None = None) -> pd.DataFrame:
    """Run (or continue) a search into `out`; returns the trials table. `objective`: the validation
    metric that compares trials (maximized); `train`: training config keys every trial keeps (a
    study's clipping, mixed precision, augmentation, early stopping)."""
    space = space or SPACES[family]
    if objective not in MONITORS:
        raise UserError(f"objective {objective!r}; expected one of {', '.join(MONITORS)}")
    check_train_config(train or {}, "[tune].train")
    spec = {"family": family, "tuner": tuner_name, "max_trials": max_trials, "data": data, "image_size": image_size,
            "epochs": epochs, "seed": seed, "space": space, "objective": objective, "train": train or {}}
    stored = out / "search.json"
    role = tuner_role()  # None, or "chief" / "worker" of a distributed search
    if stored.exists() and not overwrite and role is None:
        if not resume:
            raise DataError(f"{out}: a search is stored here; pass --resume to continue it or --overwrite to restart")
        differences = {k: (read_json(stored).get(k), v) for k, v in spec.items() if read_json(stored).get(k) != v}
        if differences:
            raise DataError(f"{out}: the stored search differs from the one asked: "
                            + "; ".join(f"{k} stored {a!r}, asked {b!r}" for k, (a, b) in differences.items()))
    if role != "worker":
        write_json(stored, spec)
    distribution = get_strategy(strategy) if strategy != "default" else None  # before any TensorFlow work
    keras.utils.set_random_seed(seed)
    dataset = load_data(resolve({"data": data, "image_size": image_size}))  # the studies' split (split_seed 0)
    settings = {"data": data, "image_size": image_size, "epochs": epochs, "seed": seed, "train": train or {},
                "weights": None if str(weights).lower() == "none" else weights}
    hypermodel = PneumoniaHyperModel(family, space, settings, dataset, objective)
    kwargs = dict(objective=kt.Objective(objective, direction="max"), directory=str(out), project_name="search", overwrite=overwrite, seed=seed,
                  distribution_strategy=distribution,
                  executions_per_trial=executions_per_trial)
    if tuner_name == "hyperband":
        tuner = kt.Hyperband(hypermodel, max_epochs=epochs, **kwargs)
    else:
        tuner = TUNERS[tuner_name](hypermodel, max_trials=max_trials, **kwargs)
    tuner.search(epochs=epochs, verbose=0)
    if role == "worker":
        return pd.DataFrame()  # a worker: the chief holds the oracle and writes the tables
    table = trials_table(tuner, objective)
    write_trial_predictions(tuner, hypermodel, out)
    atomic_write(out / "trials.csv", table.to_csv(index=False))
    atomic_write(out / "trials.md", table.to_markdown(index=False) + "\n")
    best = tuner.get_best_hyperparameters(1)
    if best:
        atomic_write(out / "best.toml", to_toml(train_config(family, best[0].values, settings)))
    return table


@cli.entry_point
def main(argv) -> int:
    parser = cli.make_parser("python -m pneumonia_tf.tune", __doc__)
    parser.add_argument("--config", type=Path, help="an experiments/*.toml with a [tune] table (e.g. seed003_sweep)")
    parser.add_argument("--family", choices=list(SPACES))
    parser.add_argument("--tuner", choices=list(TUNERS))
    parser.add_argument("--max-trials", type=int)
    parser.add_argument("--data")
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--weights", help='transfer bases: "imagenet", "none" or a weights file')
    parser.add_argument("--strategy", choices=STRATEGIES)
    parser.add_argument("--out", type=Path, required=True)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the search stored in --out")
    group.add_argument("--overwrite", action="store_true", help="discard the search stored in --out")
    args = parser.parse_args(argv)
    options = dict(family="cnn", tuner="random", max_trials=10, data="synthetic", image_size=64, epochs=3, seed=0,
                   weights="imagenet", strategy="default", objective="val_auc", train={})
    if args.config:
        options.update(load_experiment(args.config).get("tune", {}))
    options.update({k: v for k, v in vars(args).items() if k in options and v is not None})
    table = search(options["family"], options["tuner"], options["max_trials"], options["data"], args.out,
                   options["image_size"], options["epochs"], options["seed"], args.resume, args.overwrite,
                   options.get("space"), options["weights"], options["strategy"], objective=options["objective"],
                   train=options["train"])
    if table.empty:
        print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no more trials; the chief writes the tables")
        return 0
    print(table.to_markdown(index=False))
    print(f"trials: {args.out / 'trials.csv'}; best config: {args.out / 'best.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
