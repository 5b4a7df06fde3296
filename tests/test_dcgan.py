"""DCGAN: shapes, one training step, resume, written images, quality measures, bad input."""
from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
from PIL import Image

from pneumonia_tf.data.index import DataError
from pneumonia_tf.dcgan import DCGAN, discriminator, generator, quality
from pneumonia_tf.dcgan.__main__ import main
from pneumonia_tf.config import resolve
from pneumonia_tf.dcgan.run import real_images, train_gan


def normal_paths() -> list[str]:
    """The phantom's NORMAL training images (24 per class, 32 px, the default split)."""
    return real_images(resolve({"data": "synthetic:24", "image_size": 32}), "NORMAL")["path"].tolist()


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(size, channels):
    g, d = generator(size, channels, width=8), discriminator(size, channels, width=8)
    images = g(np.random.default_rng(0).normal(size=(2, 100)).astype("float32"))
    assert images.shape == (2, size, size, channels)
    assert float(keras.ops.max(keras.ops.abs(images))) <= 1.0
    assert d(images).shape == (2, 1)
    with pytest.raises(ValueError, match="power of two"):
        generator(100)


def test_one_training_step_gives_finite_losses_and_changes_both_networks():
    gan = DCGAN(discriminator(32, width=8), generator(32, width=8), seed=0)
    gan.compile()
    before = [[w.copy() for w in net.get_weights()] for net in (gan.discriminator, gan.generator)]
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
    logs = gan.fit(x, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
    for old, net in zip(before, (gan.discriminator, gan.generator)):
        assert any(not np.array_equal(a, b) for a, b in zip(old, net.get_weights())), net.name


class Interrupt(Exception):
    pass


def state(gan):
    """Generator weights and both optimizers' step counts and first moments."""
    return ([w.copy() for w in gan.generator.get_weights()]
            + [keras.ops.convert_to_numpy(v).copy() for opt in (gan.d_optimizer, gan.g_optimizer)
               for v in opt.variables[:3]])


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.weights = state(self.model)
        raise Interrupt


class FirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "epoch"):
            self.epoch, self.weights = epoch, state(self.model)


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. "Skipping variable loading for optimizer"
def test_killed_run_resumes_at_the_next_epoch(tmp_path):
    paths = normal_paths()
    stop = StopAfterFirstEpoch()
    kwargs = dict(image_size=32, epochs=3, batch_size=8, verbose=0, sample_every=1)
    with pytest.raises(Interrupt):
        train_gan(paths, tmp_path, extra_callbacks=[stop], **kwargs)
    probe = FirstEpoch()
    train_gan(paths, tmp_path, extra_callbacks=[probe], **kwargs)
    assert probe.epoch == 1
    for restored, saved in zip(probe.weights, stop.weights):
        np.testing.assert_array_equal(restored, saved)
    assert (tmp_path / "generator.keras").exists() and (tmp_path / "losses.png").exists()
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == [
        "epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]


def test_cli_writes_images_manifest_and_does_not_retrain(tmp_path, capsys):
    args = ["--class", "pneumonia", "--data", "synthetic:24", "--image-size", "32", "--epochs", "1",
            "--batch-size", "8", "--num-images", "12", "--out", str(tmp_path / "gen"),
            "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0
    files = sorted((tmp_path / "gen" / "PNEUMONIA").glob("*.png"))
    assert len(files) == 12
    pixels = np.stack([np.asarray(Image.open(f)) for f in files])
    assert pixels.shape == (12, 32, 32) and pixels.dtype == np.uint8 and pixels.max() <= 255
    manifest = json.loads((tmp_path / "gen" / "PNEUMONIA" / "manifest.json").read_text())
    assert manifest["count"] == 12 and manifest["training"]["epochs"] == 1 and "git_commit" in manifest
    assert {"diversity_ratio", "two_sample_accuracy", "frechet_distance"} <= set(manifest["quality"])
    capsys.readouterr()
    assert main([*args[:-4], "--num-images", "20", *args[-4:]]) == 0  # more images, same run
    assert "generating only" in capsys.readouterr().err  # logged
    assert len(list((tmp_path / "gen" / "PNEUMONIA").glob("*.png"))) == 20


@pytest.mark.parametrize("args, message", [
    (["--class", "COVID"], "unknown class 'COVID'"),
    (["--class", "NORMAL", "--batch-size", "500"], "fewer than one batch \\(500\\)"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main([*args, "--data", "synthetic:24", "--image-size", "32", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert re.search(message, errors[0])


def test_class_with_no_images(tmp_path):
    from conftest import make_kermany
    root = make_kermany(tmp_path / "data")
    for f in (root / "train" / "NORMAL").iterdir():
        f.rename(root / "test" / "NORMAL" / ("moved-" + f.name))
    (root / "train" / "NORMAL" / "note.txt").write_text("")
    with pytest.raises(DataError, match="empty class folder"):
        real_images(resolve({"data": str(root), "image_size": 16}), "NORMAL")


def test_quality_measures_prefer_real_like_samples():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, (300, 8))
    good = rng.normal(0, 1, (300, 8))
    collapsed = rng.normal(0, 0.05, (300, 8)) + 2.0
    good_report, bad_report = quality.report(real, good, "test"), quality.report(real, collapsed, "test")
    assert good_report["two_sample_accuracy"] < 0.65 < bad_report["two_sample_accuracy"]
    assert good_report["frechet_distance"] < bad_report["frechet_distance"]
    assert not good_report["mode_collapse_warning"] and bad_report["mode_collapse_warning"]
    labels = rng.integers(0, 2, 300)
    shifted = real + labels[:, None]
    assert quality.train_synthetic_test_real(shifted, labels, shifted + rng.normal(0, 0.1, shifted.shape),
                                             labels) > 0.9


def test_dcgan_killed_after_training_is_not_trained_again(tmp_path, monkeypatch):
    import pneumonia_tf.dcgan.run as run
    paths = normal_paths()
    kwargs = dict(image_size=32, epochs=2, batch_size=8, verbose=0, sample_every=1)

    def killed_at_the_loss_curves(fig, path):  # after fit, before the run's last files
        if path.name == "losses.png":
            raise Interrupt
        return save(fig, path)
    save = run.save
    monkeypatch.setattr(run, "save", killed_at_the_loss_curves)
    with pytest.raises(Interrupt):
        run.trained_gan(paths, tmp_path, **kwargs)
    monkeypatch.undo()
    began = []
    probe = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: began.append("fit"))
    gan = run.trained_gan(paths, tmp_path, extra_callbacks=[probe], **kwargs)
    assert began == [] and gan.generate(4).shape == (4, 32, 32, 1)
    assert (tmp_path / "losses.png").exists() and (tmp_path / "training.json").exists()


def test_reproduce_scores_each_generator_once(tmp_path, synthetic):
    """reproduce writes runs/.../dcgan/<SEED>/<CLASS>/quality.json for the report, from the generated images it
    finds, and does not score them again."""
    from pneumonia_tf.experiments import experiment_path, load_experiment
    from pneumonia_tf.reproduce import dcgan_quality
    experiment = load_experiment(experiment_path("table1"))
    generated = tmp_path / "generated"
    for name in ("NORMAL", "PNEUMONIA"):
        (generated / name).mkdir(parents=True)
        for i, path in enumerate(synthetic.split("train")["path"][:12]):
            Image.open(path).convert("L").save(generated / name / f"gen_{i:05d}.png")
        (generated / name / "manifest.json").write_text(json.dumps({"count": 12}))
    config = resolve({"data": "synthetic:40", "image_size": 32})
    reports = dcgan_quality(experiment, "smoke", config, generated, tmp_path / "runs", None)
    assert set(reports) == {"NORMAL", "PNEUMONIA"}
    for report in reports.values():
        assert {"diversity_ratio", "two_sample_accuracy", "frechet_distance", "feature_space"} <= set(report)
    target = tmp_path / "runs" / "NORMAL" / "quality.json"
    stamp = target.stat().st_mtime_ns
    dcgan_quality(experiment, "smoke", config, generated, tmp_path / "runs", None)
    assert target.stat().st_mtime_ns == stamp


def test_dcgan_epochs_are_drawn_from_one_iterator(tmp_path, monkeypatch):
    from tests.test_training import iterator_starts
    starts = iterator_starts(monkeypatch)
    paths = normal_paths()
    train_gan(paths, tmp_path / "gan", image_size=32, epochs=3, batch_size=8, verbose=0, sample_every=10)
    assert starts.count(starts[0]) == 1  # Keras starts one per epoch unless given steps_per_epoch (4-7 s stalls)


def test_a_class_another_process_is_training_is_left_to_it_while_the_next_trains(tmp_path, monkeypatch):
    """Two jobs reaching a seed's DCGANs together train one class each, not one after the other: the
    NORMAL lock is held elsewhere, so PNEUMONIA is trained first, then NORMAL waited for (and trained
    here, since its holder ended without writing it)."""
    import threading
    import time

    import pneumonia_tf.reproduce as reproduce_module
    from pneumonia_tf.data.cache import exclusive
    from pneumonia_tf.experiments import experiment_path, load_experiment
    order, out = [], tmp_path / "generated"
    holding, pneumonia_trained = threading.Event(), threading.Event()

    def train_one(*args):
        order.append((args[-1], time.monotonic()))
        if args[-1] == "PNEUMONIA":
            pneumonia_trained.set()
    monkeypatch.setattr(reproduce_module, "_run_dcgan", train_one)

    released = [None]

    def other_job():  # holds NORMAL until PNEUMONIA is trained (at most 30 s: code that waits for NORMAL first)
        with exclusive(out / "NORMAL"):
            holding.set()
            pneumonia_trained.wait(30)
            released[0] = time.monotonic()  # inside the lock: nobody can take NORMAL before this
    holder = threading.Thread(target=other_job)
    holder.start()
    holding.wait(10)
    reproduce_module.run_dcgans(load_experiment(experiment_path("table1")), "smoke", {}, out, tmp_path / "runs")
    holder.join()
    assert [name for name, _ in order] == ["PNEUMONIA", "NORMAL"]
    assert order[0][1] < released[0] <= order[1][1]  # PNEUMONIA while NORMAL was held; NORMAL after
