"""Keras Tuner searches: completed trials, explicit resume, mismatches, chief/worker; MirroredStrategy."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import tomllib

import keras
import pandas as pd
import pytest

import pneumonia_tf.tune as tune
from pneumonia_tf.data.index import DataError

TINY = dict(family="cnn", tuner_name="random", max_trials=2, data="synthetic:24", image_size=32, epochs=2)


@pytest.mark.slow  # 35-45 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_random_search_completes_both_trials_and_writes_tables_and_best_config(tmp_path):
    table = tune.search(out=tmp_path, **TINY)
    assert table["status"].tolist() == ["COMPLETED", "COMPLETED"]  # FAILED here = the tensorboard trap
    assert table["val_auc"].notna().all()
    assert pd.read_csv(tmp_path / "trials.csv").shape[0] == 2
    header = (tmp_path / "trials.md").read_text().splitlines()[0]
    assert [c.strip() for c in header.strip("|").split("|")][:4] == ["trial", "status", "val_auc", "best_epoch"]
    for _, trial in table.iterrows():  # each trial's best-epoch model on the validation images that scored it
        predictions = pd.read_csv(tmp_path / "trials" / trial["trial"] / "predictions.csv")
        assert set(predictions["split"]) == {"val"} and len(predictions) > 0
        auc = keras.metrics.AUC()  # the metric the trial was scored with (200 thresholds, not sklearn's exact AUC)
        auc.update_state(predictions["label"].to_numpy(), predictions["score"].to_numpy())
        assert float(auc.result()) == pytest.approx(trial["val_auc"], abs=1e-5)
    best = tomllib.loads((tmp_path / "best.toml").read_text())["train"]
    assert best["model"] == "model1" and isinstance(best["model_options"]["batch_norm"], bool)
    from pneumonia_tf.train import main
    assert main(["--config", str(tmp_path / "best.toml"), "--set", "epochs=1", "resamples=10",
                 "--out", str(tmp_path / "best_run")]) == 0


@pytest.mark.slow  # 35-45 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_stored_search_needs_resume_or_overwrite_and_must_match(tmp_path):
    tune.search(out=tmp_path, **{**TINY, "max_trials": 1})
    with pytest.raises(DataError, match="pass --resume to continue it or --overwrite"):
        tune.search(out=tmp_path, **TINY)
    with pytest.raises(DataError, match="max_trials stored 1, asked 2"):
        tune.search(out=tmp_path, resume=True, **TINY)
    assert len(tune.search(out=tmp_path, overwrite=True, **TINY)) == 2


@pytest.mark.slow  # 40-150 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_interrupted_search_resumes_and_runs_only_the_rest(tmp_path, monkeypatch):
    real_fit, calls = tune.PneumoniaHyperModel.fit, []

    def fit_then_die(self, hp, model, *args, **kwargs):
        calls.append(hp.values)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second trial
        return real_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(tune.PneumoniaHyperModel, "fit", fit_then_die)
    with pytest.raises(KeyboardInterrupt):
        tune.search(out=tmp_path, **{**TINY, "max_trials": 3})
    monkeypatch.setattr(tune.PneumoniaHyperModel, "fit", lambda self, hp, model, *a, **k: (
        calls.append(hp.values), real_fit(self, hp, model, *a, **k))[1])
    table = tune.search(out=tmp_path, resume=True, **{**TINY, "max_trials": 3})
    assert len(calls) == 4  # 1 finished + 1 killed + the killed one retried + 1 new: trial 1 is not rerun
    assert table["status"].tolist() == ["COMPLETED"] * 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # 40-150 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_chief_and_worker_on_localhost_complete_trials_from_one_oracle(tmp_path):
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port()),
           "PNEUMONIA_TF_CACHE": os.environ["PNEUMONIA_TF_CACHE"]}
    command = [sys.executable, "-m", "pneumonia_tf.tune", "--family", "cnn", "--tuner", "random", "--max-trials", "2",
               "--data", "synthetic:24", "--image-size", "32", "--epochs", "1", "--out", str(tmp_path)]
    chief = subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": "chief"}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    worker = subprocess.run(command, env={**env, "KERASTUNER_TUNER_ID": "tuner0"}, capture_output=True, text=True,
                            timeout=300)
    chief_out = chief.communicate(timeout=120)[0]
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert chief.returncode == 0, chief_out[-2000:]
    table = pd.read_csv(tmp_path / "trials.csv")
    assert table["status"].tolist() == ["COMPLETED", "COMPLETED"]


MIRRORED = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from pneumonia_tf.distribute import get_strategy
    from pneumonia_tf.models import build
    from pneumonia_tf.fit_setup import compile_model, make_optimizer
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, 32, 32, 3)).astype("float32"); y = rng.integers(0, 2, 64).astype("float32")
    losses = {}
    for name in ("default", "mirrored"):
        keras.utils.set_random_seed(0)
        strategy = get_strategy(name)
        with strategy.scope():
            model = compile_model(build("model1", (32, 32, 3)), make_optimizer("sgd", 0.01))
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        losses[name] = (strategy.num_replicas_in_sync, model.fit(ds, epochs=3, verbose=0).history["loss"])
    print(repr(losses))
""")


def test_mirrored_strategy_over_two_logical_cpus_matches_one_device():
    result = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    losses = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307  (our own repr of floats)
    (one, single), (two, mirrored) = losses["default"], losses["mirrored"]
    assert (one, two) == (1, 2)
    assert mirrored == pytest.approx(single, rel=1e-4)  # same global batch, gradients all-reduced


@pytest.mark.parametrize("tuner_id, role", [("chief", "chief"), ("chief-0", "chief"), ("tuner0", "worker")])
def test_the_chief_is_found_by_keras_tuners_own_rule(monkeypatch, tuner_id, role):
    """keras-tuner treats any tuner id containing "chief" as the chief (a copy testing == "chief" did not)."""
    from pneumonia_tf.keras_compat import tuner_role
    assert tuner_role() is None
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    assert tuner_role() == role
