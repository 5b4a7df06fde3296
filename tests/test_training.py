"""The saturation-threshold unfreeze (and the Keras 3 trap it avoids), resume after interruption,
class weights, step decay, and a whole run folder."""
from __future__ import annotations

import json
import os

import keras
import numpy as np
import pandas as pd
import pytest

from pneumonia_tf.callbacks import ResumableEarlyStopping, SaturationThresholdUnfreeze, step_decay
from pneumonia_tf.models import build
from pneumonia_tf.models.transfer import base_layers, set_base_trainable
from pneumonia_tf.config import resolve
from pneumonia_tf.errors import UserError
from pneumonia_tf.train import callbacks_for, train
from pneumonia_tf.fit_setup import class_weights, compile_model, make_optimizer


def tiny_data(n=16, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, size, size, 3)).astype("float32"), rng.integers(0, 2, n).astype("float32")


class BaseWeightsProbe(keras.callbacks.Callback):
    """Copies of the base's weights at the start of training and the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.snapshots = [self._base()]

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self._base())

    def _base(self):
        return [w.numpy().copy() for layer in base_layers(self.model) for w in layer.weights]


def changed(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


def transfer_vgg16():
    keras.utils.set_random_seed(0)
    model = build("vgg16", (32, 32, 3), weights=None, dense=16)
    return compile_model(model, make_optimizer("adam", 1e-3))


def test_keras3_trap_setting_trainable_inside_fit_changes_nothing():
    """Why the callback recompiles: flipping trainable in a callback leaves the base untouched."""
    class NaiveUnfreeze(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                set_base_trainable(self.model, True)

    model, probe = transfer_vgg16(), BaseWeightsProbe()
    model.fit(*tiny_data(), epochs=3, batch_size=8, verbose=0, callbacks=[NaiveUnfreeze(), probe])
    assert all(layer.trainable for layer in base_layers(model))  # it says unfrozen...
    assert not changed(probe.snapshots[0], probe.snapshots[-1])  # ...but nothing was trained


def test_saturation_threshold_unfreeze():
    model, probe = transfer_vgg16(), BaseWeightsProbe()
    unfreeze = SaturationThresholdUnfreeze(threshold_epoch=2, learning_rate=1e-4, verbose=0)
    history = model.fit(*tiny_data(), validation_data=tiny_data(8, seed=1), epochs=4, batch_size=8, verbose=0,
                        callbacks=[unfreeze, probe])
    start, after1, after2, after3, after4 = probe.snapshots
    assert not changed(start, after1) and not changed(start, after2)  # frozen in epochs 1 and 2
    assert changed(after2, after3) and changed(after3, after4)  # trained from epoch 3 on
    assert unfreeze.unfrozen_at == 2
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-4)
    keys = set(history.history)
    assert {"loss", "accuracy", "auc", "val_loss", "val_auc"} <= keys
    assert all(len(values) == 4 for values in history.history.values())


def test_step_decay_multiplies_every_n_epochs():
    model = compile_model(build("model1", (16, 16, 3)), make_optimizer("sgd", 1.0))
    rates = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
    model.fit(*tiny_data(8, 16), epochs=5, verbose=0, callbacks=[step_decay(0.1, every=2), record])
    np.testing.assert_allclose(rates, [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-6)


def test_early_stopping_patience_survives_a_restart(tmp_path):
    """Best val_auc at epoch 2 of 3, patience 2: one more epoch without improvement must stop the resumed
    run, as it would have stopped the uninterrupted one (Keras' EarlyStopping starts counting afresh)."""
    history = tmp_path / "history.csv"
    history.write_text("epoch,val_auc\n0,0.6\n1,0.8\n2,0.7\n2,0.7\n")  # a repeated row, as after a kill
    model = build("model1", (16, 16, 3))
    resumable = ResumableEarlyStopping(history, monitor="val_auc", mode="max", patience=2)
    for callback, stops in ((resumable, True),
                            (keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=2), False)):
        model.stop_training = False
        callback.set_model(model)
        callback.on_train_begin()
        callback.on_epoch_end(3, {"val_auc": 0.75})
        assert model.stop_training is stops, type(callback).__name__
    assert (resumable.best, resumable.best_epoch, resumable.wait) == (0.8, 1, 2)
    stopping = [c for c in callbacks_for(resolve({"early_stopping_patience": 2}), tmp_path)
                if isinstance(c, keras.callbacks.EarlyStopping)]  # what train() uses
    assert len(stopping) == 1 and isinstance(stopping[0], ResumableEarlyStopping)
    assert stopping[0].history_csv == history and stopping[0].patience == 2
    with pytest.raises(ValueError, match="mode 'min' or 'max'"):
        ResumableEarlyStopping(history, monitor="val_auc")


def test_early_stopping_in_a_fresh_run(tmp_path):
    """CSVLogger creates an empty history.csv when fit begins; early stopping and the checkpoint must
    read that as 'no epochs yet' (they raised EmptyDataError, so no study could use early stopping)."""
    # a rate of 1e-12 leaves the weights, so val_auc never improves after epoch 1: patience 1 stops after 2
    record = train(dict(SMOKE, epochs=4, early_stopping_patience=1, learning_rate=1e-12), tmp_path / "run", verbose=0)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["val_auc"].nunique() == 1 and record["epochs_trained"] == 2


def test_class_weights_come_from_the_images_trained_on(tmp_path, synthetic):
    """Seed 004 after DCGAN trains on generated images only: the class weights (when asked for) and the
    record's counts must be those of the generated images, not of the real train split."""
    import shutil
    generated = tmp_path / "generated"
    train_split = synthetic.split("train")
    for label, name, count in ((0, "NORMAL", 12), (1, "PNEUMONIA", 4)):
        (generated / name).mkdir(parents=True)
        for i, path in enumerate(train_split.loc[train_split["label"] == label, "path"][:count]):
            shutil.copyfile(path, generated / name / f"{i}.png")
    config = dict(SMOKE, epochs=1, augmentation={}, class_weight=True, train_data=[str(generated)])
    record = train(config, tmp_path / "run", verbose=0)
    assert record["trained_on"] == {"NORMAL": 12, "PNEUMONIA": 4}
    assert record["class_weight"] == {0: pytest.approx(16 / 24), 1: pytest.approx(2.0)}
    with pytest.raises(UserError, match="class_weight and oversample both balance"):
        resolve(dict(config, oversample=True))


def test_train_fraction_keeps_each_class_share(synthetic):
    from pneumonia_tf.inputs import training_frame
    full = training_frame(resolve(dict(SMOKE)), synthetic)
    part = training_frame(resolve(dict(SMOKE, train_fraction=0.25, seed=3)), synthetic)
    assert set(part["path"]) < set(full["path"])
    for label in (0, 1):
        assert (part["label"] == label).sum() == round(0.25 * (full["label"] == label).sum())
    assert part["path"].tolist() == training_frame(resolve(dict(SMOKE, train_fraction=0.25, seed=3)), synthetic)["path"].tolist()


def test_class_weights_balance_the_classes():
    weights = class_weights([0] * 10 + [1] * 30)
    assert weights == {0: 2.0, 1: pytest.approx(2 / 3)}
    assert weights[0] / weights[1] == pytest.approx(30 / 10)  # seed 001's pos_weight, inverted


SMOKE = dict(model="model1", data="synthetic:24", image_size=32, epochs=3, batch_size=8, resamples=50,
             augmentation={"rescale": 1 / 255, "shear_range": 0.2, "zoom_range": 0.2, "horizontal_flip": True})


class Interrupt(Exception):
    pass


class InterruptAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.weights = [w.copy() for w in self.model.get_weights()]
        raise Interrupt


class FirstEpochProbe(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "epoch"):
            self.epoch, self.weights = epoch, [w.copy() for w in self.model.get_weights()]


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. "Skipping variable loading for optimizer"
def test_interrupted_run_resumes_at_the_next_epoch_with_the_same_weights(tmp_path):
    interrupt = InterruptAfterFirstEpoch()
    with pytest.raises(Interrupt):
        train(SMOKE, tmp_path / "run", verbose=0, extra_callbacks=[interrupt])
    assert not (tmp_path / "run" / "record.json").exists()
    probe = FirstEpochProbe()
    record = train(SMOKE, tmp_path / "run", verbose=0, extra_callbacks=[probe])
    assert probe.epoch == 1
    for restored, saved in zip(probe.weights, interrupt.weights):
        np.testing.assert_array_equal(restored, saved)
    assert [row["epoch"] for row in record["history"]] == [0, 1, 2]


class OptimizerState(keras.callbacks.Callback):
    """The optimizer's variables (step, learning rate, moments) when training begins (after
    BackupAndRestore restored them) or when it is interrupted at the end of an epoch."""

    def __init__(self, interrupt_at: int | None = None):
        super().__init__()
        self.interrupt_at = interrupt_at

    def _state(self):
        return {v.path.split("/", 1)[-1]: v.numpy().copy() for v in self.model.optimizer.variables}  # without "adam_N/"

    def on_train_begin(self, logs=None):
        self.begin = self._state()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.interrupt_at:
            self.end = self._state()
            raise Interrupt


@pytest.mark.slow  # 35-45 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
@pytest.mark.filterwarnings("error::UserWarning")  # e.g. "Skipping variable loading for optimizer"
def test_resume_past_the_unfreeze_epoch_restores_the_unfrozen_optimizer(tmp_path):
    config = dict(SMOKE, model="vgg16", weights="none", model_options={"dense": 16}, augmentation={},
                  unfreeze={"threshold_epoch": 1, "learning_rate": 1e-4, "verbose": 0},
                  lr_step={"factor": 0.5, "every": 1})
    killed = OptimizerState(interrupt_at=1)  # killed after the second epoch: the base was unfrozen at the start of it
    with pytest.raises(Interrupt):
        train(config, tmp_path / "run", verbose=0, extra_callbacks=[killed])
    resumed = OptimizerState()
    record = train(config, tmp_path / "run", verbose=0, extra_callbacks=[resumed])
    assert len(killed.end) > 2  # step count, learning rate and the unfrozen base's Adam moments
    assert resumed.begin.keys() == killed.end.keys()
    for path, value in killed.end.items():
        np.testing.assert_array_equal(resumed.begin[path], value, err_msg=path)
    assert [row["epoch"] for row in record["history"]] == [0, 1, 2]
    np.testing.assert_allclose([row["learning_rate"] for row in record["history"]], [1e-3, 1e-4, 5e-5], rtol=1e-5)  # unfreeze rate, then halved


def test_run_folder_rerun_and_determinism(tmp_path):
    record = train(SMOKE, tmp_path / "a", verbose=0)
    run = tmp_path / "a"
    for name in ("config.json", "data_summary.json", "history.csv", "model.keras", "record.json",
                 "figures/training_curves.png", "figures/roc.png", "figures/pr.png",
                 "figures/confusion_val_threshold.png", "figures/worst_errors.png"):
        assert (run / name).exists(), name
    assert (run / "tensorboard").is_dir() and not (run / "backup").exists()
    assert record["synthetic_data"] and record["seed"] == 0 and record["git_commit"]
    assert {"keras", "numpy"} <= set(record["versions"]) and {"tensorflow", "tensorflow-cpu"} & set(record["versions"])
    assert set(record["cpu_threads"]) == {"cores", "intra_op", "inter_op"}  # they change a CPU run's numbers
    steps = record["timings_s"]  # where a cell's wall time goes
    assert list(steps) == ["data", "build", "fit", "evaluate"] and min(steps.values()) >= 0 and steps["fit"] > 0
    assert sum(steps.values()) <= record["wall_time_s"] + 0.5
    for key in ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "pr_auc"):
        low, high = record["test"]["at_val_threshold"]["ci"][key]
        assert low <= record["test"]["at_val_threshold"][key] <= high
    before = (run / "record.json").read_text()
    assert train(SMOKE, run, verbose=0) == json.loads(before)  # finished: nothing redone
    assert (run / "record.json").read_text() == before
    again = train(SMOKE, tmp_path / "b", verbose=0)  # same seed, CPU: same numbers
    assert again["history"] == record["history"]
    assert again["test"] == record["test"]


def test_train_cli_with_an_experiment_file(tmp_path, capsys):
    from pneumonia_tf.train import main
    config = tmp_path / "exp.toml"
    config.write_text('[train]\nmodel = "model2"\nimage_size = 32\nepochs = 1\nbatch_size = 8\nresamples = 20\n'
                      'augmentation = { rescale = 0.00392156862745098, horizontal_flip = true }\n')
    assert main(["--config", str(config), "--data", "synthetic:24", "--out", str(tmp_path / "run")]) == 0
    assert "roc_auc" in capsys.readouterr().out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"] == "model2" and saved["augmentation"]["horizontal_flip"] is True
    assert main(["--model", "model1", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "x")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["--set", "colour=1", "--out", str(tmp_path / "y")]) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err


def test_run_killed_after_training_before_its_record_is_evaluated_not_retrained(tmp_path, monkeypatch):
    """Killed during evaluation (after fit, before record.json): the rerun must not train again."""
    import pandas as pd

    import pneumonia_tf.train as train_module
    config = dict(model="model1", data="synthetic:24", image_size=32, epochs=3, batch_size=8, resamples=10)

    def killed(*args, **kwargs):
        raise Interrupt
    monkeypatch.setattr(train_module, "evaluate", killed)
    with pytest.raises(Interrupt):
        train(config, tmp_path / "run", verbose=0)
    monkeypatch.undo()
    assert not (tmp_path / "run" / "record.json").exists()
    began = []
    probe = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: began.append("fit"))
    record = train(config, tmp_path / "run", verbose=0, extra_callbacks=[probe])
    assert began == []  # straight to evaluation
    assert list(record["timings_s"]) == ["data", "evaluate"]  # neither built nor fitted
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 3 and record["epochs_trained"] == 3
    assert (tmp_path / "run" / "record.json").exists()
    assert record["data"]["root"].endswith("-seed0") and record["data"]["official_shared_patients"]["count"] == 0


def test_records_carry_the_commit_the_process_loaded(monkeypatch):
    """A long reproduction loads its code once; records written after the checkout moved on must name
    the commit that was loaded (a table1 run recorded three later commits for one process's code)."""
    from pneumonia_tf import records
    monkeypatch.setattr(records, "git_commit", lambda: "a-later-commit")
    assert records.provenance()["git_commit"] == records.LOADED_COMMIT != "a-later-commit"


@pytest.mark.parametrize("variables, expected", [({}, None), ({"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}, 1)])
def test_records_carry_the_thread_pools_a_run_had(monkeypatch, variables, expected):
    """The same seed with 1 intra-op thread (a child of reproduce --jobs 2 on 2 cores) and with 2 (one
    job) trains different models (table1 quick, seed 0: model3's F1 0.812 and 0.905), so a record says
    which it had: the pools as set, else TensorFlow's default of one per core."""
    from pneumonia_tf import records
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    threads = records.provenance()["cpu_threads"]
    cores = len(os.sched_getaffinity(0))
    assert threads == {"cores": cores, "intra_op": expected or cores, "inter_op": expected or cores}


def iterator_starts(monkeypatch) -> list:
    """Every Keras epoch iterator (fit's training data, validation, predict) once per tf.data iterator
    it starts, in order: fit's training data comes first."""
    from keras.src.backend.tensorflow.trainer import TFEpochIterator
    starts, original = [], TFEpochIterator._get_iterator

    def counted(self):
        starts.append(self)
        return original(self)
    monkeypatch.setattr(TFEpochIterator, "_get_iterator", counted)
    return starts


def test_every_training_epoch_is_drawn_from_one_iterator(tmp_path, monkeypatch):
    """Keras 3 starts a new training iterator per epoch unless steps_per_epoch is given, and starting
    them stalled epochs by seconds."""
    starts = iterator_starts(monkeypatch)
    train(dict(SMOKE, epochs=3), tmp_path)
    assert starts.count(starts[0]) == 1


def test_training_inputs_repeat_the_same_batches_each_epoch():
    import tensorflow as tf
    from pneumonia_tf.fit_setup import training_inputs

    def dataset():
        return tf.data.Dataset.range(10).shuffle(10, seed=1, reshuffle_each_iteration=True).batch(4)
    kwargs = training_inputs(dataset())
    assert kwargs["steps_per_epoch"] == 3
    fresh = dataset()
    assert [b.numpy().tolist() for b in kwargs["x"].take(9)] == [b.numpy().tolist() for _ in range(3) for b in fresh]
    assert training_inputs(fresh, one_iterator=False) == {"x": fresh}
    assert training_inputs(fresh, steps_per_execution=2) == {"x": fresh}  # 3 batches: an epoch would take 4


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    """A lab-mate can read report.html, table.md and record.json: atomic writes honour the umask."""
    import os
    import stat

    from pneumonia_tf.records import atomic_write, write_json
    previous = os.umask(umask)
    try:
        for path in (atomic_write(tmp_path / "report.html", "<html>"), write_json(tmp_path / "record.json", {})):
            assert stat.S_IMODE(path.stat().st_mode) == mode, path
    finally:
        os.umask(previous)


def test_one_optimizer_factory_honours_every_setting_it_is_given():
    from pneumonia_tf.fit_setup import optimizer_from_config
    sgd = optimizer_from_config(resolve({"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "clipnorm": 1.0}))
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9 and sgd.clipnorm == 1.0
    adamw = optimizer_from_config(resolve({"optimizer": "adamw", "weight_decay": 0.0}))
    assert adamw.weight_decay == 0.0  # not Keras's default of 0.004
    assert optimizer_from_config(resolve({"optimizer": "adamw"})).weight_decay == pytest.approx(0.004)
    with pytest.raises(UserError, match="momentum 0.9 given to optimizer 'adam'"):
        optimizer_from_config(resolve({"optimizer": "adam", "momentum": 0.9}))


def test_seed003s_sweep_trials_keep_the_main_runs_settings_and_sgd_has_momentum():
    from pneumonia_tf.experiments import experiment_path, load_experiment
    from pneumonia_tf.fit_setup import optimizer_from_config
    from pneumonia_tf.tune import train_config
    tune = load_experiment(experiment_path("seed003_sweep"))["tune"]
    assert tune["objective"] == "val_accuracy"  # 003:67
    settings = {"data": "x", "image_size": 32, "epochs": 2, "seed": 0, "weights": None, "train": tune["train"]}
    values = {"base": "resnet50", "threshold_epoch": 2, "dropout": 0.5, "learning_rate": 1e-3, "batch_size": 16,
              "weight_decay": 0.0, "sgd_momentum": 0.9}
    sgd = resolve(train_config("transfer", {**values, "optimizer": "sgd"}, settings))
    assert sgd["momentum"] == 0.9 and optimizer_from_config(sgd).momentum == 0.9
    adamw = resolve(train_config("transfer", {**values, "optimizer": "adamw"}, settings))
    assert adamw["momentum"] is None and optimizer_from_config(adamw).weight_decay == 0.0
    for key in ("clipnorm", "mixed_precision", "augmentation", "early_stopping_patience"):
        assert sgd[key] == tune["train"][key], key


def test_early_stopping_never_skips_stage_2_and_the_record_says_whether_it_ran(tmp_path):
    """Seed 003: patience 3 on validation accuracy and the unfreeze at epoch 5 could stop a run in stage 1.
    Patience counts from the unfreeze (Keras's start_from_epoch), also after a restart; the record says
    whether and from when stage 2 ran."""
    from pneumonia_tf.train import stage2_record, stage2_start
    config = resolve({"model": "resnet50", "epochs": 12, "early_stopping_patience": 3, "monitor": "val_accuracy",
                      "unfreeze": {"threshold_epoch": 4, "learning_rate": 1e-5}})
    stopping = [c for c in callbacks_for(config, tmp_path) if isinstance(c, keras.callbacks.EarlyStopping)][0]
    assert stopping.start_from_epoch == stage2_start(config) == 4
    model = build("model1", (16, 16, 3))
    model.stop_training = False
    stopping.set_model(model)
    stopping.on_train_begin()
    for epoch, value in enumerate([0.9, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7]):
        stopping.on_epoch_end(epoch, {"val_accuracy": value})
        # watched from epoch index 4 (1-based 5) on: best there, three epochs without gain, stop after index 7
        assert stopping.model.stop_training == (epoch == 7), epoch
    assert stage2_start(resolve({**config, "unfreeze": {"threshold_epoch": 1000}})) == 0  # stage 1 only: as usual
    assert stage2_record(config, 8) == {"threshold_epoch": 4, "ran": True, "first_epoch": 5, "epochs": 4}
    assert stage2_record(config, 4)["ran"] is False and stage2_record(resolve({}), 4) is None


def test_evaluate_rewrites_the_record_predictions_and_the_rule_it_used(tmp_path, capsys):
    """python -m pneumonia_tf.evaluate on a finished run: the record's metrics, its threshold rule and
    resamples (in the config too) and predictions.csv are those of the new evaluation."""
    from pneumonia_tf.evaluate import main
    run = tmp_path / "run"
    before = train(SMOKE, run, verbose=0)
    assert before["config"]["threshold_rule"] == "youden"
    (run / "predictions.csv").write_text("stale")
    assert main(["--run", str(run), "--rule", "sensitivity", "--resamples", "30"]) == 0
    after = json.loads((run / "record.json").read_text())
    assert after["config"]["threshold_rule"] == after["test"]["threshold_rule"] == "sensitivity"
    assert after["config"]["resamples"] == 30 and after["history"] == before["history"]
    predictions = pd.read_csv(run / "predictions.csv")
    test = predictions[predictions["split"] == "test"]
    assert after["test"]["at_0.5"]["accuracy"] == pytest.approx(((test["score"] >= 0.5) == test["label"]).mean())
    assert after["test"]["at_0.5"]["accuracy"] == pytest.approx(before["test"]["at_0.5"]["accuracy"])
    assert "test metrics at_val_threshold" in capsys.readouterr().out


def test_a_run_leaves_the_process_as_it_found_it(tmp_path):
    """Op determinism and the mixed-precision policy are on for a run and restored after it, so what runs
    next in the process (a DCGAN, another cell, a test) does not inherit them."""
    from tensorflow.python.framework import config as tf_config
    assert not tf_config.is_op_determinism_enabled()
    train({**SMOKE, "epochs": 1, "mixed_precision": "mixed_bfloat16"}, tmp_path / "run", verbose=0)
    assert not tf_config.is_op_determinism_enabled()
    assert keras.mixed_precision.global_policy().name == "float32"
