"""The TFDS builders prepare offline from a manual_dir and give the suite's splits; the suite reads a
prepared build with --data tfds:NAME."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from pneumonia_tf.tfds import prepare  # importing registers the builders
from conftest import make_kermany
from pneumonia_tf.data.index import DataError
from pneumonia_tf.data.sources import load
from test_dicom_rsna import make_rsna


def split_table(builder) -> dict:
    """{split: [(patient, label), ...]} of a prepared builder, via tfds.load."""
    out = {}
    for split in ("train", "validation", "test"):
        ds = tfds.load(builder.name, split=split, data_dir=builder.data_dir_root)
        out[split] = [(e["patient"].decode(), int(e["label"])) for e in tfds.as_numpy(ds)]
    return out


def assert_patients_in_one_split(table: dict):
    seen = {split: {p for p, _ in rows} for split, rows in table.items()}
    assert not seen["train"] & seen["validation"] and not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]


def test_kermany_builder_gives_the_suites_splits_and_the_suite_reads_it(tmp_path, monkeypatch):
    root = make_kermany(tmp_path / "chest_xray", per_class=10)
    builder = prepare("kermany_pneumonia", root, tmp_path / "tfds")
    table = split_table(builder)
    suite = load(str(root), val_fraction=0.1, seed=0)
    for split, ours in (("train", "train"), ("validation", "val"), ("test", "test")):
        expected = suite.split(ours)
        assert sorted(table[split]) == sorted(zip(expected["patient"], expected["label"].astype(int))), split
    assert len(table["validation"]) > 0
    assert_patients_in_one_split(table)
    example = next(iter(tfds.as_numpy(tfds.load("kermany_pneumonia", split="test", data_dir=builder.data_dir_root))))
    assert example["image"].shape == (16, 16, 1) and example["file_name"].decode().endswith(".jpeg")
    assert builder.info.features["label"].names == ["NORMAL", "PNEUMONIA"]

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    data = load("tfds:kermany_pneumonia")
    for ours in ("train", "val", "test"):
        assert sorted(data.split(ours)["patient"]) == sorted(suite.split(ours)["patient"])
    image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(data.split("test")["path"][0]))
    assert image.shape == (16, 16)
    with pytest.raises(DataError, match="tfds:rsna_pneumonia: not prepared"):
        load("tfds:rsna_pneumonia")


def test_rsna_builder_decodes_dicoms_with_their_boxes(tmp_path):
    root = tmp_path / "rsna"
    make_rsna(root, n=20)
    builder = prepare("rsna_pneumonia", root, tmp_path / "tfds")
    table = split_table(builder)
    assert sum(len(rows) for rows in table.values()) == 20
    assert_patients_in_one_split(table)
    suite = load(str(root), image_size=256, val_fraction=0.1, seed=0)
    for split, ours in (("train", "train"), ("validation", "val"), ("test", "test")):
        assert sorted(p for p, _ in table[split]) == sorted(suite.split(ours)["patient"]), split
    examples = {}
    for split in table:
        for e in tfds.as_numpy(tfds.load("rsna_pneumonia", split=split, data_dir=builder.data_dir_root)):
            examples[e["patient"].decode()] = e
    p0 = examples["p0"]  # two boxes (8, 8, 16, 32) and (40, 8, 16, 32) on a 64 px image
    np.testing.assert_allclose(sorted(p0["boxes"].tolist()), [[0.125, 0.125, 0.625, 0.375], [0.125, 0.625, 0.625, 0.875]])
    assert p0["label"] == 1 and p0["image"].shape == (256, 256, 1)
    assert examples["p1"]["label"] == 0 and len(examples["p1"]["boxes"]) == 0
