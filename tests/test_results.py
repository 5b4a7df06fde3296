"""Results tables from the run registry, and reproductions that resume without redoing cells."""
from __future__ import annotations

from pathlib import Path

import pytest

from pneumonia_tf.experiments import cell_configs, experiment_path, load_experiment
from pneumonia_tf.results import main as results_main

FIXTURES = Path(__file__).parent / "fixtures"


def test_table_rebuilt_from_fixed_records_matches_the_expected_file(tmp_path, capsys):
    args = ["table1", "--profile", "fixture", "--runs", str(FIXTURES / "runs"), "--out", str(tmp_path)]
    assert results_main(args) == 0
    out = tmp_path / "table1" / "fixture"
    assert (out / "table.md").read_text() == (FIXTURES / "expected_table1.md").read_text()
    first = {name: (out / name).read_bytes() for name in ("table.md", "table.csv", "table.tex")}
    assert results_main(args) == 0
    assert {name: (out / name).read_bytes() for name in first} == first  # byte-identical rebuild
    assert "missing" in capsys.readouterr().out
    assert results_main([*args, "--check"]) == 1  # model5-dcgan has no record


def test_every_experiment_resolves_for_every_profile():
    for study in ("table1", "transfer", "seed000", "seed001", "seed003"):
        experiment = load_experiment(experiment_path(study))
        for profile in ("smoke", "quick", "paper"):
            cells = cell_configs(experiment, profile, data="x")
            assert cells and all(c["data"] == "x" for c in cells.values())
        assert set(experiment["paper"]) <= set(experiment["cells"]), study
    assert len(cell_configs(load_experiment(experiment_path("table1")), "smoke")) == 18  # 6 real, 6 DCGAN, 6 both


TINY = """
study = "tiny"
title = "tiny"
[train]
model = "model1"
[profiles.smoke]
data = "synthetic:24"
train = { image_size = 16, epochs = 1, batch_size = 8, resamples = 10 }
[cells]
a = {}
b = { model = "model2" }
c = { model = "model6" }
[table]
rows = ["a", "b", "c"]
columns = [{ name = "F1", cell = "{row}", metric = "f1" }]
"""


def test_killed_reproduction_redoes_no_finished_cell(tmp_path, monkeypatch):
    import pneumonia_tf.reproduce as reproduce
    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    real_train, trained = reproduce.train, []

    def killed_on_second_new_cell(config, out, **kwargs):
        if not (Path(out) / "record.json").exists():
            trained.append(Path(out).parts[-2])
            if len(trained) == 2:
                raise KeyboardInterrupt
        return real_train(config, out, **kwargs)

    monkeypatch.setattr(reproduce, "train", killed_on_second_new_cell)
    with pytest.raises(KeyboardInterrupt):
        reproduce.reproduce(str(experiment), "smoke", runs=tmp_path / "runs", verbose=0)
    first = (tmp_path / "runs" / "tiny" / "smoke" / "a" / "0" / "record.json").read_bytes()
    trained.clear()
    monkeypatch.setattr(reproduce, "train", lambda config, out, **kw: (
        trained.append(Path(out).parts[-2]) if not (Path(out) / "record.json").exists() else None,
        real_train(config, out, **kw))[1])
    records = reproduce.reproduce(str(experiment), "smoke", runs=tmp_path / "runs", verbose=0)
    assert trained == ["b", "c"]  # a was finished before the kill and is not redone
    assert (tmp_path / "runs" / "tiny" / "smoke" / "a" / "0" / "record.json").read_bytes() == first
    assert all(r.exists() for r in records) and len(records) == 3


def test_seed000_table_holds_history_endpoints_and_counts_are_checked():
    """History columns read the first and last epoch of a record's history (no CI, so no verdict); the
    paper's stated counts are compared with the data's official splits."""
    from pneumonia_tf.results import build_table, count_checks, verdict
    experiment = load_experiment(experiment_path("seed000"))
    ci = {"accuracy": [0.97, 0.99], "loss": [0.1, 0.3]}
    record = {"history": [{"loss": 0.5, "val_loss": 0.4, "accuracy": 0.8, "val_accuracy": 0.85},
                          {"loss": 0.2, "val_loss": 0.1, "accuracy": 0.95, "val_accuracy": 0.96}],
              "test": {"at_0.5": {"accuracy": 0.98, "loss": 0.2, "ci": ci}},
              "data": {"official": {"train": {"images": 5216}, "test": {"images": 624}}}}
    row = build_table(experiment, {"cnn": [record]}).iloc[0]
    assert row["Test accuracy verdict"] == "within CI" and row["Test loss verdict"] == "paper above CI"
    assert row["Train loss, epoch 1 reproduced"] == "0.500 (n=1)" and row["Val accuracy, last epoch reproduced"] == "0.960 (n=1)"
    assert row["Train loss, last epoch verdict"] == "n/a" and row["Train loss, last epoch diff"] == "+0.078"
    assert count_checks(experiment, {"cnn": [record]}) == [
        "image counts (paper, 000:41): all images: paper 5863, data 5840 (differs by -23)"]
    assert verdict(0.5, 0.6, 0.7) == "paper below CI" and verdict(0.65, 0.6, 0.7) == "within CI"
