"""One split for every seed, predictions kept per image, DCGANs on exactly the cells' training split,
and the paper's protocol (select_on = "test") kept apart from clean cells, which never read the test
split before evaluation."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from pneumonia_tf import inputs
from pneumonia_tf.config import resolve
from pneumonia_tf.inputs import load_data
from pneumonia_tf.train import train

SMOKE = dict(model="model1", data="synthetic:24", image_size=32, epochs=3, batch_size=8, resamples=20)


def val_patients(config: dict) -> set[str]:
    return set(load_data(resolve(config)).split("val")["patient"])


def test_every_seed_validates_on_the_same_patients_unless_the_study_varies_the_split():
    seeds = [val_patients({**SMOKE, "seed": seed}) for seed in range(3)]
    assert seeds[0] == seeds[1] == seeds[2]
    varied = [val_patients({**SMOKE, "seed": seed, "vary_split": True}) for seed in range(3)]
    assert varied[0] == seeds[0] and varied[1] != varied[0]
    assert val_patients({**SMOKE, "split_seed": 1}) == varied[1]


def test_a_run_keeps_its_predictions_and_records_its_split(tmp_path):
    record = train({**SMOKE, "seed": 1}, tmp_path / "run", verbose=0)
    table = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert list(table.columns) == ["split", "path", "patient", "label", "score"]
    data = load_data(resolve(SMOKE))
    assert (table["split"] == "val").sum() == len(data.split("val"))
    assert (table["split"] == "test").sum() == len(data.split("test"))
    test = table[table["split"] == "test"]
    assert record["test"]["at_0.5"]["accuracy"] == pytest.approx(((test["score"] >= 0.5) == test["label"]).mean())
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    x = inputs.datasets_for(resolve(SMOKE)).test
    assert np.allclose(model.predict(x, verbose=0)[:, 0], test["score"], atol=1e-6)
    assert record["split"]["split_seed"] == 0 and record["split"]["val_patients"] == len(set(data.split("val")["patient"]))


def flipped_test_labels(monkeypatch):
    """Every later load sees the test split with its labels flipped (images unchanged)."""
    real = inputs.load_data

    def load(config):
        data = real(config)
        test = data.index["split"] == "test"
        data.index.loc[test, "label"] = 1 - data.index.loc[test, "label"]
        return data
    monkeypatch.setattr(inputs, "load_data", load)


@pytest.mark.parametrize("select_on", ["val", "test"])
def test_a_clean_cell_never_reads_the_test_split_before_evaluation(tmp_path, monkeypatch, select_on):
    """Flip the test labels: a clean run trains, validates, stops and checkpoints exactly as before (its
    history and chosen weights are identical); a protocol run (select_on = "test") does not."""
    config = {**SMOKE, "epochs": 4, "select_on": select_on}
    train(config, tmp_path / "plain", verbose=0)
    flipped_test_labels(monkeypatch)
    train(config, tmp_path / "flipped", verbose=0)
    history = [pd.read_csv(tmp_path / run / "history.csv") for run in ("plain", "flipped")]
    weights = [keras.models.load_model(tmp_path / run / "model.keras").get_weights() for run in ("plain", "flipped")]
    same = history[0].equals(history[1]) and all(np.array_equal(a, b) for a, b in zip(*weights))
    assert same == (select_on == "val")


def test_dcgans_train_on_each_seeds_own_training_split_and_no_chosen_or_tested_patient(tmp_path, monkeypatch):
    """reproduce with two seeds and a split that varies with the seed: the images each seed's DCGANs
    train on (listed in training_images.csv, and exactly those handed to the GAN) contain no patient of
    that seed's validation or test split."""
    import pneumonia_tf.reproduce as reproduce
    study = tmp_path / "tiny.toml"
    study.write_text("""
study = "tiny"
title = "tiny"
dcgan = true
[train]
model = "model1"
vary_split = true
[dcgan_config]
image_size = 16
epochs = 1
num_images = 4
batch_size = 4
[profiles.smoke]
data = "synthetic:24"
train = { image_size = 16, epochs = 1, batch_size = 8, resamples = 10 }
[cells]
a = {}
a-dcgan = { train_data = ["{generated}"] }
[table]
rows = ["a"]
columns = [{ name = "F1", cell = "{row}", metric = "f1" }, { name = "F1 DCGAN", cell = "{row}-dcgan", metric = "f1" }]
""")
    handed, trained_configs = {}, []

    class FakeGAN:
        def generate(self, n, seed=0):
            return np.random.default_rng(seed).uniform(-1, 1, (n, 16, 16, 1))

    def fake_gan(paths, run_dir, **kwargs):  # records what the DCGAN would train on
        handed[(kwargs["seed"], run_dir.name)] = list(paths)
        (run_dir).mkdir(parents=True, exist_ok=True)
        (run_dir / "training.json").write_text('{"epochs": 1}')
        return FakeGAN()

    monkeypatch.setattr(reproduce, "trained_gan", fake_gan)
    monkeypatch.setattr(reproduce, "train", lambda config, out, **kw: trained_configs.append(config) or {})
    monkeypatch.setattr(reproduce, "dcgan_quality", lambda *a, **k: {})
    reproduce.reproduce(str(study), "smoke", seeds=2, runs=tmp_path / "runs", generated=tmp_path / "gen", verbose=0)
    assert {seed for seed, _ in handed} == {0, 1}
    splits = []
    for seed in (0, 1):
        data = load_data(resolve({**trained_configs[0], "seed": seed}))
        chosen_or_tested = set(data.index.loc[data.index["split"] != "train", "patient"])
        for class_name in ("NORMAL", "PNEUMONIA"):
            listed = pd.read_csv(tmp_path / "runs/tiny/smoke/dcgan" / str(seed) / class_name / "training_images.csv")
            assert listed["path"].tolist() == handed[(seed, class_name)]
            assert not set(listed["patient"].astype(str)) & chosen_or_tested
        for config in trained_configs:
            if config["seed"] == seed:  # every cell of the seed uses the split the DCGANs used
                assert set(load_data(resolve(config)).split("val")["patient"]) == set(data.split("val")["patient"])
                if config.get("train_data"):
                    assert Path(config["train_data"][0]) == tmp_path / "gen" / f"seed{seed}"
        splits.append(set(data.split("val")["patient"]))
    assert splits[0] != splits[1]  # the split does vary with the seed here
