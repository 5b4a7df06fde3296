"""Augmentation layer, tf.data pipeline, synthetic phantom."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from pneumonia_tf.data.augment import ImageDataGeneratorAugmentation
from pneumonia_tf.data.pipeline import make_dataset, normalizer, oversample_minority, split_rescale
from pneumonia_tf.data.sources import load

SEED_004 = dict(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
EVERYTHING = dict(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1, shear_range=10,
                  zoom_range=0.2, horizontal_flip=True, vertical_flip=0.005, brightness_range=(0.8, 1.2),
                  contrast_range=(0.8, 1.2), hue_range=0.05, saturation_range=(0.8, 1.2),
                  random_resized_crop=(0.7, 1.0))


def batch(n=4, size=24, channels=3, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (n, size, size, channels)), tf.float32)


@pytest.mark.parametrize("config", [SEED_004, EVERYTHING])
@pytest.mark.parametrize("channels", [1, 3])
def test_augmentation_keeps_shape_dtype_range_and_repeats_under_a_seed(config, channels):
    layer = ImageDataGeneratorAugmentation(**config)
    x = batch(channels=channels)
    a, b = layer(x, seed=[1, 2]), layer(x, seed=[1, 2])
    c = layer(x, seed=[1, 3])
    assert a.shape == x.shape and a.dtype == tf.float32
    assert float(tf.reduce_min(a)) >= 0 and float(tf.reduce_max(a)) <= 255
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_no_augmentation_is_identity_and_certain_flip_is_a_mirror():
    x = batch()
    np.testing.assert_allclose(ImageDataGeneratorAugmentation()(x, seed=[0, 0]), x, atol=1e-4)
    flipped = ImageDataGeneratorAugmentation(horizontal_flip=1.0)(x, seed=[0, 0])
    np.testing.assert_allclose(flipped, x[:, :, ::-1, :], atol=1e-3)
    flipped = ImageDataGeneratorAugmentation(vertical_flip=1.0)(x, seed=[0, 0])
    np.testing.assert_allclose(flipped, x[:, ::-1, :, :], atol=1e-3)


def test_shift_moves_content_by_the_drawn_fraction():
    x = np.zeros((1, 21, 21, 1), np.float32)
    x[0, 10, 10, 0] = 255
    out = ImageDataGeneratorAugmentation(width_shift_range=(0.2, 0.2001), fill_mode="constant")(
        tf.constant(x), seed=[0, 0]).numpy()
    row, col = np.unravel_index(out[0, ..., 0].argmax(), (21, 21))
    assert row == 10 and col == 10 - round(0.2 * 21)  # output(x) = input(x + shift)


def test_split_rescale():
    assert split_rescale({"rescale": 1 / 255, "zoom_range": 0.2}) == ({"zoom_range": 0.2}, 1 / 255)
    assert split_rescale({"zoom_range": 0.2}, "symmetric") == ({"zoom_range": 0.2}, "symmetric")
    with pytest.raises(ValueError, match="either rescale"):
        split_rescale({"rescale": 1 / 255}, "symmetric")


@pytest.mark.parametrize("mode, low, high", [("unit", 0, 1), ("symmetric", -1, 1), (1 / 255, 0, 1),
                                             ("resnet50v2", -1, 1)])
def test_normalizations(mode, low, high):
    out = normalizer(mode)(tf.constant([0.0, 255.0]))
    np.testing.assert_allclose(out, [low, high], atol=1e-5)
    np.testing.assert_allclose(normalizer("standardize", (0.5, 0.25))(tf.constant([127.5])), [0.0], atol=1e-6)


def test_oversampling_balances_classes():
    paths, labels = oversample_minority([f"f{i}" for i in range(10)], [0, 0, 1, 1, 1, 1, 1, 1, 1, 1], seed=0)
    assert np.bincount(labels).tolist() == [8, 8]
    assert set(paths[labels == 0]) == {"f0", "f1"}


def test_synthetic_phantom_balanced_with_masks(synthetic):
    index = synthetic.index
    assert synthetic.synthetic
    counts = index.groupby(["split", "label"]).size()
    assert counts[("train", 0)] + counts[("val", 0)] == counts[("train", 1)] + counts[("val", 1)] == 40
    assert counts[("test", 0)] == counts[("test", 1)]
    assert (index.loc[index["label"] == 1, "boxes"] != "[]").all()
    assert (index.loc[index["label"] == 0, "mask"] == "").all()
    assert index.groupby("patient").size().max() > 1  # some patients have two images


def test_pipeline_batches_repeat_under_a_seed(synthetic):
    train = synthetic.split("train")

    def first_two(seed):
        ds = make_dataset(train["path"], train["label"], image_size=32, batch_size=8, shuffle=True, seed=seed,
                          augmentation=SEED_004, normalization="unit")
        return [(x.numpy(), y.numpy()) for x, y in ds.take(2)]

    a, b, c = first_two(3), first_two(3), first_two(4)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    x, y = a[0]
    assert x.shape == (8, 32, 32, 1) and x.dtype == np.float32 and y.shape == (8,)
    assert 0 <= x.min() and x.max() <= 1


def test_epochs_draw_new_augmentations(synthetic):
    train = synthetic.split("train")
    ds = make_dataset(train["path"], train["label"], image_size=32, batch_size=8, seed=0, augmentation=SEED_004)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    assert not np.array_equal(first, second)


def test_rgb_from_gray_files_and_file_cache(synthetic):
    test = synthetic.split("test")
    ds = make_dataset(test["path"], test["label"], image_size=16, channels=3, batch_size=4, cache="file")
    x = next(iter(ds))[0].numpy()
    assert x.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])


def test_mean_std_streaming_matches_numpy(synthetic):
    from PIL import Image
    train = synthetic.split("train")
    mean, std = synthetic.mean_std
    pixels = np.stack([np.asarray(Image.open(p), np.float64) / 255 for p in train["path"]])
    assert mean == pytest.approx(pixels.mean(), abs=2e-3) and std == pytest.approx(pixels.std(), abs=2e-3)


def test_tiny_model_learns_the_phantom_well_above_chance():
    import keras
    from sklearn.metrics import roc_auc_score
    keras.utils.set_random_seed(0)
    data = load("synthetic:150", image_size=48)
    train, test = data.split("train"), data.split("test")
    kwargs = dict(image_size=48, batch_size=32, normalization="unit")
    model = keras.Sequential([
        keras.Input((48, 48, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    model.fit(make_dataset(train["path"], train["label"], shuffle=True, **kwargs), epochs=30, verbose=0)
    scores = model.predict(make_dataset(test["path"], test["label"], **kwargs), verbose=0)[:, 0]
    auc = roc_auc_score(test["label"], scores)
    assert auc > 0.8, auc


def test_class_augmentation_changes_only_that_class(synthetic):
    """Seed 002 flips NORMAL images only: with a certain flip for NORMAL, NORMAL images are mirrored and
    PNEUMONIA images are untouched."""
    test = synthetic.split("test")
    common = dict(image_size=32, batch_size=64)
    plain = next(iter(make_dataset(test["path"], test["label"], **common)))
    flipped = next(iter(make_dataset(test["path"], test["label"], class_augmentation={"NORMAL": {"horizontal_flip": 1.0}},
                                     **common)))
    x, y = plain[0].numpy(), plain[1].numpy()
    xf = flipped[0].numpy()
    assert (y == 0).any() and (y == 1).any()
    np.testing.assert_allclose(xf[y == 0], x[y == 0][:, :, ::-1], atol=1e-5)
    np.testing.assert_array_equal(xf[y == 1], x[y == 1])
    with pytest.raises(Exception, match="unknown class 'HEALTHY'"):
        make_dataset(test["path"], test["label"], class_augmentation={"HEALTHY": {"horizontal_flip": True}}, **common)


def test_every_pipeline_the_suite_builds_runs_without_tf_data_autotuning(synthetic):
    """Autotuning's thread can hold an iterator's deletion for up to 60 s (fit's return, issue 24's
    fit-end stall), so no pipeline of the suite has it: a cell's train / val / test, with and without
    augmentation, class augmentation and oversampling, and the DCGAN's."""
    from pneumonia_tf.config import resolve
    from pneumonia_tf.experiments import cell_config, experiment_path, load_experiment
    from pneumonia_tf.inputs import datasets_for
    train = synthetic.split("train")
    pipelines = [make_dataset(train["path"], train["label"], image_size=32, shuffle=True, augmentation=SEED_004,
                              class_augmentation={"NORMAL": {"horizontal_flip": True}}, oversample=True),
                 make_dataset(train["path"], train["label"], image_size=32, normalization="symmetric")]
    config = resolve({**cell_config(load_experiment(experiment_path("table1")), "smoke", "model1"), "seed": 0})
    inputs = datasets_for(config, synthetic)
    for ds in [*pipelines, inputs.train, inputs.val, inputs.test]:
        assert ds.options().autotune.enabled is False
    assert next(iter(pipelines[0]))[0].shape == (32, 32, 32, 1)


def test_bench_teardown_times_deleting_the_pipelines_iterator_with_autotuning_off_and_on(capsys):
    from pneumonia_tf.bench import main
    assert main(["teardown", "--profile", "smoke", "--seconds", "0.2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "table1 / smoke / model1" in out
    lines = [line for line in out.splitlines() if "of 1 over 1 s" in line]
    assert len(lines) == 2 and "autotuning off" in lines[0] and "autotuning on" in lines[1]


def test_bench_fit_times_the_cells_pipeline_against_its_own_batches_held_in_memory(capsys):
    from pneumonia_tf.bench import main
    assert main(["fit", "--profile", "smoke", "--cell", "model1", "--steps", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "table1 / smoke / model1" in out and "2 of " in out
    rates = [float(line.split()[-2]) for line in out.splitlines() if line.strip().startswith("fit on the")]
    assert len(rates) == 2 and min(rates) > 0
    assert "the pipeline costs fit" in out
