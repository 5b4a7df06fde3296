"""Kermany layouts, bad files, RSNA labels, patients and splits."""
from __future__ import annotations

import json
import shutil
import zipfile

import pandas as pd
import pytest
from conftest import make_kermany, write_image

from pneumonia_tf.data.index import DataError, DataWarning
from pneumonia_tf.data.kermany import load_kermany
from pneumonia_tf.data.patients import patient_id
from pneumonia_tf.data.sources import load
from pneumonia_tf.data.splits import carve_by_patient, shared_patients


def counts(df):
    return df.groupby(["split", "label"]).size().to_dict()


def test_flat_layout(tmp_path):
    df = load_kermany(make_kermany(tmp_path))
    assert counts(df) == {("test", 0): 3, ("test", 1): 3, ("train", 0): 3, ("train", 1): 3}
    assert set(df["source"]) == {"kermany"}


def test_letter_case_suffixes_and_hidden_files_ignored(tmp_path):
    root = make_kermany(tmp_path / "x", names={"NORMAL": "normal", "PNEUMONIA": "Pneumonia"})
    write_image(root / "train" / "normal" / "IM-0100-0001.JPG")
    write_image(root / "train" / "normal" / "IM-0101-0001.png")
    (root / "train" / "normal" / ".DS_Store").write_bytes(b"\0\1junk")
    write_image(root / "train" / "normal" / "._IM-0100-0001.jpeg")  # macOS resource fork
    (root / "train" / "normal" / "notes.txt").write_text("not an image")
    df = load_kermany(root)
    assert counts(df)[("train", 0)] == 5
    assert not df["path"].str.contains(r"/\.").any()


def test_doubly_nested_layout_and_official_val_merged(tmp_path):
    root = make_kermany(tmp_path / "chest_xray" / "chest_xray", splits=("train", "val", "test"), per_class=2)
    (tmp_path / "chest_xray" / "__MACOSX").mkdir()
    df = load_kermany(tmp_path)
    assert counts(df)[("train", 0)] == 4  # 2 train + 2 official val
    assert set(df["split"]) == {"train", "test"}
    assert str(root) in df["path"].iloc[0]


def test_zip_extracted_once(tmp_path):
    root = make_kermany(tmp_path / "src" / "chest_xray")
    archive = tmp_path / "chest-xray-pneumonia.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in root.rglob("*.jpeg"):
            zf.write(f, f.relative_to(tmp_path / "src"))
    first = load_kermany(archive)
    shutil.rmtree(tmp_path / "src")
    second = load_kermany(archive)  # from the cache, no longer needs the source folder
    assert len(first) == len(second) == 12
    assert first["path"].tolist() == second["path"].tolist()


@pytest.mark.parametrize("breakage, message", [
    (lambda r: [f.unlink() for f in (r / "train" / "NORMAL").iterdir()], "empty class folder"),
    (lambda r: shutil.rmtree(r / "test"), "missing split test/"),
    (lambda r: shutil.rmtree(r / "train" / "PNEUMONIA"), "missing class folder PNEUMONIA/"),
])
def test_layout_errors_name_the_path(tmp_path, breakage, message):
    root = make_kermany(tmp_path)
    breakage(root)
    with pytest.raises(DataError, match=message) as error:
        load_kermany(root)
    assert str(tmp_path) in str(error.value)


def test_unknown_layout_and_missing_path(tmp_path):
    write_image(tmp_path / "a" / "x.png")
    with pytest.raises(DataError, match="unknown layout"):
        load_kermany(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load(str(tmp_path / "nope"))


def test_unknown_class_folder(tmp_path):
    root = make_kermany(tmp_path)
    write_image(root / "train" / "COVID" / "a.png")
    with pytest.raises(DataError, match="unknown class 'COVID'"):
        load_kermany(root)


def test_truncated_and_zero_byte_files_reported_by_name(tmp_path):
    root = make_kermany(tmp_path, per_class=6)
    good = root / "train" / "NORMAL" / "IM-0000-0001.jpeg"
    truncated = root / "train" / "NORMAL" / "IM-0001-0001.jpeg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    empty = root / "train" / "PNEUMONIA" / "person2_bacteria_2.jpeg"
    empty.write_bytes(b"")
    data = load(str(root))
    assert data.skipped.keys() == {str(truncated), str(empty)}
    assert "zero-byte" in data.skipped[str(empty)] and "truncated" in data.skipped[str(truncated)]
    assert not data.index["path"].isin([str(truncated), str(empty)]).any()
    assert {s["path"] for s in data.summary()["skipped"]} == {str(truncated), str(empty)}
    with pytest.raises(DataError, match="IM-0001-0001.jpeg") as error:
        load(str(root), strict=True)
    assert "person2_bacteria_2.jpeg" in str(error.value)


@pytest.mark.parametrize("name, patient", [
    ("person123_bacteria_456.jpeg", "person123_bacteria"),
    ("person1_virus_11.jpeg", "person1_virus"),
    ("person1_virus_9_2.jpeg", "person1_virus"),
    ("IM-0115-0001.jpeg", "IM-0115"),
    ("IM-0011-0001-0002.jpeg", "IM-0011"),
    ("NORMAL2-IM-0427-0001.jpeg", "NORMAL2-IM-0427"),
    ("something-else.png", "something-else"),
])
def test_patient_ids(name, patient):
    assert patient_id(f"/x/{name}") == patient


def test_validation_carved_by_patient_stratified_and_seeded():
    rows = [dict(path=f"p{p}_{i}", label=p % 2, patient=f"P{p}", split="train", source="t")
            for p in range(200) for i in range(1 + p % 3)]
    df = pd.DataFrame(rows)
    a, b, c = (carve_by_patient(df, 0.2, seed) for seed in (1, 1, 2))
    assert a.equals(b) and not a.equals(c)
    assert shared_patients(a) == {"train/val": []}
    val = a[a["split"] == "val"]
    assert 0.15 < val["patient"].nunique() / 200 < 0.25
    assert abs(val["label"].mean() - 0.5) < 0.1


def test_real_kermany_summary(real_data):
    info = load(str(real_data)).summary()
    official = info["official"]
    assert official["train"]["images"] == 5216 and official["test"]["images"] == 624
    assert (official["train"]["NORMAL"]["images"], official["train"]["PNEUMONIA"]["images"]) == (1341, 3875)
    assert (official["test"]["NORMAL"]["images"], official["test"]["PNEUMONIA"]["images"]) == (234, 390)
    assert set(info["shared_patients"].values()) == {0}
    assert info["skipped"] == []


def test_summary_cli_json(tmp_path, capsys):
    from pneumonia_tf.data.__main__ import main
    assert main(["summary", "--data", str(make_kermany(tmp_path, per_class=10)), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["official"]["train"]["images"] == 20
    assert info["splits"]["val"]["images"] > 0
    assert main(["summary", "--data", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_data_root_is_never_searched_for_below_the_documented_layouts(tmp_path, capsys):
    """A folder with a train/ child three levels down (a test fixture, say) is not a data set."""
    from pneumonia_tf.data.__main__ import main
    make_kermany(tmp_path / "projects" / "fixtures")
    with pytest.raises(DataError, match="unknown layout") as error:
        load(str(tmp_path))
    assert str(tmp_path / "projects" / "fixtures") in str(error.value)  # names what it found
    assert main(["summary", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_two_data_roots_are_an_error_naming_both(tmp_path):
    make_kermany(tmp_path)
    make_kermany(tmp_path / "chest_xray", per_class=2)
    with pytest.raises(DataError, match="more than one data root") as error:
        load(str(tmp_path))
    assert str(tmp_path / "chest_xray") in str(error.value)


def test_kaggle_archive_duplicate_copy_uses_the_outer_one_and_the_root_is_reported(tmp_path, capsys):
    from pneumonia_tf.data.__main__ import main
    make_kermany(tmp_path / "chest_xray")
    make_kermany(tmp_path / "chest_xray" / "chest_xray")  # the Kaggle zip holds the set twice
    data = load(str(tmp_path))
    assert data.root == str((tmp_path / "chest_xray").resolve())
    assert data.summary()["root"] == data.root
    assert len(data.index) == 12
    assert main(["summary", "--data", str(tmp_path)]) == 0
    assert f"root: {data.root}" in capsys.readouterr().out


def test_patients_shared_by_the_official_splits_are_reported_and_refused_with_strict(tmp_path, capsys):
    root = make_kermany(tmp_path, per_class=4)
    write_image(root / "test" / "NORMAL" / "IM-0001-0009.jpeg")  # patient IM-0001 is also in train
    with pytest.warns(DataWarning, match="1 patient\\(s\\) appear in both the official train and test splits"):
        data = load(str(root))
    assert data.summary()["official_shared_patients"] == {"count": 1, "examples": ["IM-0001"]}
    with pytest.raises(DataError, match="official train and test"):
        load(str(root), strict=True)


def test_carving_again_gives_the_fold_stratified_group_k_fold_gives_and_follows_the_rows():
    """The carve is kept per process (every cell of a study carves the same split): it must still be
    sklearn's first fold of exactly these rows, and other rows (labels moved) are carved anew."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold
    rows = [dict(path=f"p{p}_{i}", label=p % 2, patient=f"P{p}", split="train", source="t")
            for p in range(120) for i in range(1 + p % 4)]
    df = pd.DataFrame(rows)
    _, expected = next(StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=3).split(
        np.zeros(len(df)), df["label"], groups=df["patient"]))
    for _ in range(2):  # the second call is the kept one
        carved = carve_by_patient(df, 0.2, 3)
        assert sorted(np.flatnonzero(carved["split"] == "val")) == sorted(expected)
    moved = df.assign(label=(df["patient"].str[1:].astype(int) // 2) % 2)
    _, expected = next(StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=3).split(
        np.zeros(len(moved)), moved["label"], groups=moved["patient"]))
    assert sorted(np.flatnonzero(carve_by_patient(moved, 0.2, 3)["split"] == "val")) == sorted(expected)


def test_a_file_that_breaks_after_a_load_is_found_by_the_next_load_in_the_process(tmp_path):
    root = make_kermany(tmp_path, per_class=6)
    assert load(str(root)).skipped == {}
    victim = root / "train" / "NORMAL" / "IM-0001-0001.jpeg"
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
    assert "truncated" in load(str(root)).skipped[str(victim)]


@pytest.mark.parametrize("channels, decoded_cache", [(3, True), (1, True), (3, False)])
def test_a_first_load_decodes_each_file_once_into_the_cache_the_pipeline_then_reads(tmp_path, monkeypatch, channels,
                                                                                   decoded_cache):
    """The readability check is the decode into the persistent cache at the load's size and channels:
    PIL opens only the file that fails (for its reason), and the pipeline built next decodes nothing
    more. With the cache bypassed, the check writes nothing to it."""
    from PIL import Image

    from pneumonia_tf.data import decoded_cache as cache_module
    from pneumonia_tf.data.pipeline import make_dataset
    monkeypatch.setenv("PNEUMONIA_TF_CACHE", str(tmp_path / "cache"))
    root = make_kermany(tmp_path / "data", per_class=6)
    broken = root / "train" / "NORMAL" / "IM-0001-0001.jpeg"
    broken.write_bytes(broken.read_bytes()[: len(broken.read_bytes()) // 2])
    opened, written = [], []
    real_open, real_write = Image.open, cache_module.atomic_write
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    monkeypatch.setattr(cache_module, "atomic_write", lambda path, data: written.append(path) or real_write(path, data))
    data = load(str(root), image_size=32, channels=channels, decoded_cache=decoded_cache)
    assert opened == [str(broken)] and "truncated" in data.skipped[str(broken)]
    assert len(written) == (len(data.index) if decoded_cache else 0)  # every readable file decoded once, at 32 px
    train = data.split("train")
    batches = list(make_dataset(train["path"], train["label"], image_size=32, channels=channels, batch_size=64,
                                decoded_cache=decoded_cache))
    assert len(written) == (len(data.index) if decoded_cache else 0)
    assert sum(len(x) for x, _ in batches) == len(train) and batches[0][0].shape[-1] == channels


def test_a_file_that_breaks_after_its_check_is_an_error_naming_it_when_the_pipeline_decodes_it(tmp_path, monkeypatch):
    from pneumonia_tf.data.pipeline import make_dataset
    monkeypatch.setenv("PNEUMONIA_TF_CACHE", str(tmp_path / "cache"))
    root = make_kermany(tmp_path / "data", per_class=3)
    data = load(str(root), image_size=32)
    victim = root / "train" / "NORMAL" / "IM-0000-0001.jpeg"
    victim.write_bytes(victim.read_bytes()[:100])  # a new size: a new cache key, decoded again
    assert str(victim) in set(data.index["path"])
    with pytest.raises(DataError, match=r"IM-0000-0001.jpeg: cannot be decoded"):
        make_dataset(data.index["path"], data.index["label"], image_size=32, channels=3)
