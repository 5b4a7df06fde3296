"""The training config: its keys and defaults, how a partial config is resolved, and how every nested
table is checked against what it configures. experiments/*.toml files are read by
pneumonia_tf.experiments, which checks them with check_train_config before any data is read.
"""
from __future__ import annotations

import inspect
import json

from pneumonia_tf.errors import UserError

DEFAULTS = dict(
    model="model1", data="synthetic", image_size=128, channels=None, epochs=5, batch_size=32, seed=0,
    optimizer="adam", learning_rate=1e-3, clipnorm=None, weight_decay=None, momentum=None, mixed_precision=None,
    augmentation={},  # ImageDataGenerator-style keys (pneumonia_tf.data.augment), plus rescale
    class_augmentation={},  # {"NORMAL": {...}}: extra augmentation applied to one class only (seed 002)
    normalization=None, val_fraction=0.1,
    split_seed=0,  # carves validation (and draws train_fraction); `seed` varies initialisation, shuffles, augmentation
    vary_split=False,  # True: the split follows `seed` (split_seed = seed), so seed-to-seed spread includes the split
    select_on="val",  # "test": the paper's flawed protocol, the test split chooses checkpoint and early stop

    class_weight=False,  # True: 'balanced' weights from the labels actually trained on
    oversample=False,
    train_data=[],  # sources whose images REPLACE the training split (seed 004: DCGAN images only)
    extra_train=[],  # sources whose images are ADDED to the training split
    train_fraction=1.0,  # < 1: train on this fraction of the training images per class (seeded; quick profiles)
    early_stopping_patience=None, monitor="val_auc", lr_step=None, unfreeze=None,
    weights="imagenet", model_options={}, deterministic=True, strict=False, jit_compile="auto",
    threshold_rule="youden", resamples=1000, strategy="default", steps_per_execution=1,
    decoded_cache=True,  # False: decode every file in this run instead of reading the persistent cache
)
MONITORS = ("val_auc", "val_accuracy", "val_precision", "val_recall")  # all maximized
SELECT_ON = ("val", "test")
# Shown in every table, title and record of a cell with select_on = "test".
TEST_SELECTED = "selected on the test split (the paper's protocol, optimistic by construction)"


def _parameters(function, drop=("self", "kwargs")) -> set[str]:
    return {name for name in inspect.signature(function).parameters if name not in drop}


def nested_keys() -> dict[str, set[str]]:
    """{config key: keys its table accepts}, read from the functions the tables configure."""
    from pneumonia_tf.callbacks import SaturationThresholdUnfreeze, step_decay
    from pneumonia_tf.data.augment import ImageDataGeneratorAugmentation

    augmentation = _parameters(ImageDataGeneratorAugmentation.__init__) - {"seed"}  # the pipeline seeds it
    return {"augmentation": augmentation | {"rescale"}, "unfreeze": _parameters(SaturationThresholdUnfreeze.__init__),
            "lr_step": _parameters(step_decay), "class_augmentation_entry": augmentation}


def check_keys(table: dict, known, where: str) -> None:
    """An unknown key in `table` is a one-line error naming `where` (file and table) and the key."""
    if not isinstance(table, dict):
        raise UserError(f"{where}: expected a table, got {table!r}")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UserError(f"{where}: unknown key {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")


def check_train_config(config: dict, where: str) -> None:
    """Check a (partial) training config and its nested tables; `where` names it in errors."""
    from pneumonia_tf import CLASSES

    check_keys(config, DEFAULTS, where)
    nested = nested_keys()
    for key in ("augmentation", "unfreeze", "lr_step"):
        if config.get(key):
            check_keys(config[key], nested[key], f"{where}.{key}")
    for class_name, table in (config.get("class_augmentation") or {}).items():
        check_keys({class_name: 0}, CLASSES, f"{where}.class_augmentation")
        check_keys(table, nested["class_augmentation_entry"], f"{where}.class_augmentation.{class_name}")
    if config.get("select_on") is not None and config["select_on"] not in SELECT_ON:
        raise UserError(f"{where}: select_on {config['select_on']!r}; expected one of {', '.join(SELECT_ON)}")
    if config.get("monitor") is not None and config["monitor"] not in MONITORS:
        raise UserError(f"{where}: monitor {config['monitor']!r}; expected one of {', '.join(MONITORS)}")


def resolve(overrides: dict, where: str = "config") -> dict:
    """DEFAULTS updated with `overrides` (checked: unknown keys, nested tables); channels and
    normalization filled in from the model (ImageNet bases use their own preprocess_input)."""
    from pneumonia_tf.models.registry import spec

    check_train_config(overrides, where)
    config = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    if config["class_weight"] and config["oversample"]:
        raise UserError(f"{where}: class_weight and oversample both balance the classes; choose one")
    model = spec(config["model"])
    config["channels"] = config["channels"] or model.channels
    if config["vary_split"]:
        config["split_seed"] = config["seed"]
    if str(config["weights"]).lower() == "none":
        config["weights"] = None
    if config["normalization"] is None and model.imagenet and "rescale" not in config["augmentation"]:
        config["normalization"] = config["model"]
    return config


def parse_value(text: str):
    """--set values are JSON when they parse (numbers, lists, objects, true/null), else strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignment(item: str) -> tuple[str, object]:
    """"KEY=VALUE" (--set) -> (key, parsed value); resolve() checks the key."""
    key, equals, value = item.partition("=")
    if not equals:
        raise UserError(f"--set {item!r}: expected KEY=VALUE")
    return key, parse_value(value)
