"""Decoding at the scale needed, and the persistent decoded cache: reused by a second run, rebuilt when
a file changes, never read half-written, filled by concurrent processes with the same pixels."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pneumonia_tf.data import decoded_cache
from pneumonia_tf.data.decode import RATIOS, decode_resized, jpeg_ratio_index
from pneumonia_tf.data.pipeline import make_dataset
from tests.conftest import REAL_DATA

# Scaled decode + antialiased resize against a full decode + the same resize, per image, on real X-ray
# JPEGs: mean |difference| at most 2 grey levels and PSNR at least 30 dB. Measured: 224 px copy at
# 64 px, mean 0.62 and PSNR >= 46.9 dB; the full-resolution stand-in at 128 px, mean 1.42 and PSNR
# >= 33.5 dB (python -m pneumonia_tf.bench decode). Augmentation alone moves pixels far more.
MEAN_DIFFERENCE, MIN_PSNR = 2.0, 30.0


def psnr(a, b) -> float:
    return 10 * np.log10(255 ** 2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-12))


@pytest.mark.parametrize("side, size, ratio", [(224, 128, 1), (224, 112, 2), (224, 64, 2), (2000, 128, 8),
                                               (1100, 128, 8), (1000, 128, 4), (600, 128, 4), (300, 128, 2)])
def test_the_ratio_leaves_both_sides_at_least_the_target(side, size, ratio):
    assert RATIOS[int(jpeg_ratio_index(side, side + 300, size))] == ratio
    assert -(-side // ratio) >= size  # never below the target size


def test_png_keeps_the_full_decode_and_jpeg_is_scaled_only_when_it_is_large(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (512, 512), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.jpeg", quality=95)
    png = tf.io.read_file(str(tmp_path / "a.png"))
    np.testing.assert_array_equal(decode_resized(png, 64, 1), decode_resized(png, 64, 1, scaled=False))
    jpeg = tf.io.read_file(str(tmp_path / "a.jpeg"))
    assert not np.array_equal(decode_resized(jpeg, 64, 1), decode_resized(jpeg, 64, 1, scaled=False))  # 1/8 scale
    np.testing.assert_array_equal(decode_resized(jpeg, 300, 1), decode_resized(jpeg, 300, 1, scaled=False))


def real_jpegs(n=40):
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data not present at {REAL_DATA}")
    return sorted(REAL_DATA.glob("test/*/*.jpeg"))[::624 // n][:n]


@pytest.mark.realdata
def test_scaled_decoding_of_real_xrays_is_within_the_stated_bound(tmp_path):
    """The 224 px copy at 64 px (ratio 2), and the same X-rays enlarged to full size at 128 px (ratio 4-8)."""
    for f in real_jpegs():
        cases = [(tf.io.read_file(str(f)), 64)]
        with Image.open(f) as image:
            big = tmp_path / f.name
            image.convert("L").resize((1800, 1500), Image.BICUBIC).save(big, quality=95)  # as make_fullres.py
        cases.append((tf.io.read_file(str(big)), 128))
        for contents, size in cases:
            scaled = decode_resized(contents, size, 3).numpy()
            full = decode_resized(contents, size, 3, scaled=False).numpy()
            assert np.abs(scaled.astype(float) - full).mean() <= MEAN_DIFFERENCE, f
            assert psnr(scaled, full) >= MIN_PSNR, f


def write_jpegs(folder: Path, n=6, side=300) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = folder / f"x{i}.jpeg"
        Image.fromarray(rng.integers(0, 255, (side, side), dtype=np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def batches(paths, decoded=True, channels=1, **kwargs):
    """All of `paths` in one batch, through the persistent cache (decoded=True) or decoded here."""
    ds = make_dataset(paths, np.arange(len(paths)) % 2, image_size=32, channels=channels, batch_size=len(paths),
                      normalization="unit", decoded_cache=decoded, seed=3, **kwargs)
    return next(iter(ds))[0].numpy()


def test_a_second_run_reads_the_cache_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    paths = write_jpegs(tmp_path / "img")
    first = batches(paths)
    np.testing.assert_array_equal(first, batches(paths, decoded=False))  # same pixels as decoding here
    entries = decoded_cache.fill(paths, 32, 1).paths
    assert all(Path(e).exists() for e in entries)
    import pneumonia_tf.data.decoded_cache as module

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")
    monkeypatch.setattr(module, "decode_resized", no_decoding)
    np.testing.assert_array_equal(batches(paths), first)  # a second run: from the cache only
    monkeypatch.undo()
    Image.fromarray(np.full((300, 300), 200, np.uint8)).save(paths[0], quality=90)  # the file changes
    os.utime(paths[0], ns=(1, 10**18))
    changed = batches(paths)
    assert decoded_cache.entry_path(paths[0], 32, 1) != Path(entries[0])
    assert np.abs(changed[0] - 200 / 255).max() < 0.02 and np.array_equal(changed[1:], first[1:])


def test_an_interrupted_writer_leaves_nothing_that_is_read(tmp_path):
    paths = write_jpegs(tmp_path / "img", n=2)
    entry = decoded_cache.entry_path(paths[0], 32, 1)
    entry.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{entry}.999-1.tmp").write_bytes(b"\0" * 10)  # what a killed writer leaves
    np.testing.assert_array_equal(batches(paths), batches(paths, decoded=False))
    assert decoded_cache.info()["temporary_files"] >= 1


FILL = textwrap.dedent("""
    import hashlib, sys
    from pathlib import Path
    from pneumonia_tf.data.decoded_cache import fill
    entries = fill(sys.argv[1:], 32, 3).paths
    print(hashlib.sha256(b"".join(Path(e).read_bytes() for e in entries)).hexdigest())
""")


def test_processes_filling_the_same_entries_at_once_get_the_same_pixels(tmp_path):
    paths = write_jpegs(tmp_path / "img", n=40, side=400)
    env = {**os.environ, "PNEUMONIA_TF_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    processes = [subprocess.Popen([sys.executable, "-c", FILL, *paths], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=240) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in results]
    assert len({out.split()[-1] for out, _ in results}) == 1


def test_cache_command_shows_and_clears(tmp_path, capsys):
    from pneumonia_tf.data.__main__ import main
    decoded_cache.fill(write_jpegs(tmp_path / "img", n=3), 16, 1)
    assert main(["cache", "--info"]) == 0
    assert "16x16x1" in capsys.readouterr().out
    assert main(["cache", "--clear"]) == 0
    assert decoded_cache.info()["entries"] == 0


def stored_channels(entries) -> list[int]:
    return [tf.io.parse_tensor(tf.io.read_file(e), tf.uint8).shape[-1] for e in entries.paths]


AUGMENTATION = dict(rotation_range=20, shear_range=5, zoom_range=0.2, horizontal_flip=True, brightness_range=(0.8, 1.2),
                    contrast_range=(0.8, 1.2), hue_range=0.1, saturation_range=(0.8, 1.2))


def test_gray_images_are_kept_and_augmented_as_one_channel_with_the_same_values(tmp_path):
    paths = write_jpegs(tmp_path / "img")  # grayscale JPEGs, read by a 3-channel model
    entries = decoded_cache.fill(paths, 32, 3)
    assert entries.channels == 1 and stored_channels(entries) == [1] * 6
    for kwargs in ({}, {"augmentation": AUGMENTATION}, {"class_augmentation": {"NORMAL": {"horizontal_flip": 1.0}}}):
        cached, decoded_here = batches(paths, channels=3, **kwargs), batches(paths, False, 3, **kwargs)
        assert cached.shape == (6, 32, 32, 3)
        np.testing.assert_allclose(cached, decoded_here, atol=1e-5, err_msg=str(kwargs))


def test_a_colour_image_among_gray_ones_keeps_three_channels(tmp_path):
    paths = write_jpegs(tmp_path / "img")
    colour = np.zeros((300, 300, 3), np.uint8)
    colour[..., 0], colour[..., 2] = 200, 40  # red: its channels stay far apart after any hue shift
    Image.fromarray(colour).save(paths[0], quality=90)
    entries = decoded_cache.fill(paths, 32, 3)
    assert entries.channels == 3
    assert stored_channels(entries) == [3] + [1] * 5
    assert decoded_cache.fill(paths, 32, 3) == entries  # found again from the entries alone
    cached = batches(paths, channels=3, augmentation=AUGMENTATION)
    np.testing.assert_allclose(cached, batches(paths, False, 3, augmentation=AUGMENTATION), atol=1e-5)
    assert np.abs(cached[0, ..., 0] - cached[0, ..., 2]).min() > 0.1  # the colour survives


def test_the_fill_decodes_with_no_stateful_op_so_it_stays_parallel_under_op_determinism():
    """Training turns on op determinism, and then tf.data runs a map whose function has a stateful op
    (a file write, a random op) on one thread: the cache's first fill would decode on one core."""
    graph = tf.function(lambda p: decoded_cache.encoded_entry(p, 32, 3)).get_concrete_function(
        tf.TensorSpec([], tf.string)).graph
    assert not [op.type for op in graph.get_operations() if op._is_stateful]
