"""What a resolved training config reads: its data, its batched datasets and its model. Used by
train, evaluate, tune and lr_find, so each of them sees exactly what training saw."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import keras
import pandas as pd
import tensorflow as tf

from pneumonia_tf.data.pipeline import make_dataset, split_rescale
from pneumonia_tf.data.sources import Data, load
from pneumonia_tf.models import build
from pneumonia_tf.models.registry import spec


@dataclass
class Inputs:
    """data: the loaded data set; train_frame: the images trained on (path, label, ...) after
    train_data / extra_train; val_frame: the images that choose the checkpoint, stop early and set
    the validation threshold (the val split; the test split under select_on = "test"); train, val,
    test: batched datasets of (images, labels)."""
    data: Data
    train_frame: pd.DataFrame
    val_frame: pd.DataFrame
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset


def load_data(config: dict) -> Data:
    """The data set of a resolved config with its splits: validation carved by patient with the
    config's split_seed (not its training seed), so every seed of a study sees the same patients."""
    return load(config["data"], image_size=config["image_size"], val_fraction=config["val_fraction"],
                seed=config["split_seed"], strict=config.get("strict", False), **check_shape(config))


def check_shape(config: dict) -> dict:
    """load()'s keywords for the shape its check decodes at, the one the config's pipeline reads."""
    return {"channels": config["channels"], "decoded_cache": config.get("decoded_cache", True)}


def split_record(config: dict, data: Data) -> dict:
    """What a record says about the split it used: split_seed, vary_split, select_on, and the
    validation patients (count and a digest of their sorted ids, equal for runs on the same split)."""
    patients = sorted(set(data.split("val")["patient"]))
    digest = hashlib.sha256("\n".join(patients).encode()).hexdigest()[:16]
    return {"split_seed": config["split_seed"], "vary_split": config["vary_split"], "select_on": config["select_on"],
            "val_patients": len(patients), "val_patients_sha256": digest}


def training_frame(config: dict, data: Data) -> pd.DataFrame:
    """The images a config trains on: the data's train split, or the train_data sources instead of it
    (seed 004 after DCGAN: generated images only), plus the extra_train sources."""
    load_train = lambda source: load(source, image_size=config["image_size"], **check_shape(config)).index  # noqa: E731
    parts = [load_train(source) for source in config["train_data"]] or [data.split("train")]
    parts += [load_train(source) for source in config["extra_train"]]
    frame = pd.concat(parts, ignore_index=True)
    if config["train_fraction"] < 1:  # the same fraction of each class, drawn with the run's seed
        frame = frame.groupby("label", group_keys=False).sample(frac=config["train_fraction"],
                                                                random_state=config["split_seed"]).sort_index()
    return frame.reset_index(drop=True)


def datasets_for(config: dict, data: Data | None = None) -> Inputs:
    """Inputs of a resolved config; `data` reuses an already loaded Data."""
    data = data or load_data(config)
    augmentation, normalization = split_rescale(config["augmentation"], config["normalization"])
    common = dict(image_size=config["image_size"], channels=config["channels"], batch_size=config["batch_size"],
                  normalization=normalization, decoded_cache=config.get("decoded_cache", True),
                  mean_std=data.mean_std if normalization == "standardize" else None)
    train = training_frame(config, data)
    train_ds = make_dataset(train["path"], train["label"], shuffle=True, seed=config["seed"],
                            augmentation=augmentation, class_augmentation=config.get("class_augmentation"),
                            oversample=config["oversample"], **common)
    test = data.split("test")
    val = test if config["select_on"] == "test" else data.split("val")
    test_ds = make_dataset(test["path"], test["label"], **common)
    val_ds = test_ds if config["select_on"] == "test" else make_dataset(val["path"], val["label"], **common)
    return Inputs(data, train, val, train_ds, val_ds, test_ds)


def build_model(config: dict) -> keras.Model:
    """The (uncompiled) model of a resolved config."""
    options = dict(config["model_options"])
    if spec(config["model"]).imagenet:
        options.setdefault("weights", config["weights"])
    shape = (config["image_size"], config["image_size"], config["channels"])
    return build(config["model"], shape, **options)
