"""reproduce --plan: every job reproduce would train, in its order, with its images and an estimate from
timings measured once per machine and cached."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import make_kermany, write_image

import pneumonia_tf.plan as plan_module
from pneumonia_tf.experiments import cell_configs, experiment_path, load_experiment, study_jobs
from pneumonia_tf.data.sources import load
from pneumonia_tf.reproduce import main, plan


@pytest.fixture
def fixed_steps(monkeypatch):
    """Step timings of 0.1 s (train) and 0.05 s (predict), 0.2 s a DCGAN step: the listing without timing."""
    monkeypatch.setattr(plan_module, "classifier_step_seconds", lambda config, timing=True: {"train": 0.1, "predict": 0.05})
    monkeypatch.setattr(plan_module, "dcgan_step_seconds", lambda size, batch, timing=True: 0.2)


def test_plan_lists_every_cell_and_dcgan_in_the_order_reproduce_runs_them(tmp_path, fixed_steps, capsys):
    cells = cell_configs(load_experiment(experiment_path("table1")), "smoke")
    assert main(["table1", "--profile", "smoke", "--plan", "--runs", str(tmp_path / "runs"), "--seeds", "2",
                 "--generated", str(tmp_path / "generated")]) == 0
    printed = capsys.readouterr().out
    assert f"{2 * len(cells)} cell run(s) and 4 DCGAN(s)" in printed  # every cell of both seeds, two DCGANs each
    table = plan("table1", "smoke", seeds=2, runs=tmp_path / "runs", generated=tmp_path / "generated")
    jobs = [(seed, job) for seed, job in zip(table["seed"], table["job"])]
    assert [job for job in jobs if not job[1].startswith("dcgan")] == study_jobs(cells, 2)
    for seed in (0, 1):  # each seed's DCGANs just before its first cell on their images
        first = next(i for i, (s, job) in enumerate(jobs) if s == seed and job.endswith("-dcgan"))
        assert jobs[first - 2:first] == [(seed, "dcgan NORMAL"), (seed, "dcgan PNEUMONIA")]
    row = table.set_index(["seed", "job"]).loc[(0, "model1")]
    steps, val_steps = -(-row["train_images"] // row["batch_size"]), -(-row["val_images"] // row["batch_size"])
    assert row["train_images"] == 72 and row["epochs"] == 2  # synthetic:40's training split at 32 px
    assert row["estimate_s"] == round(2 * (steps * 0.1 + val_steps * 0.05) + plan_module.FIXED_CELL_S)
    for job in jobs:
        assert f"{job[1]}" in printed


def test_plan_leaves_out_what_has_a_record_and_dcgans_already_written(tmp_path, fixed_steps, capsys):
    runs, generated = tmp_path / "runs", tmp_path / "generated"
    (runs / "table1" / "smoke" / "model1" / "0").mkdir(parents=True)
    (runs / "table1" / "smoke" / "model1" / "0" / "record.json").write_text("{}")
    for class_name in ("NORMAL", "PNEUMONIA"):  # both DCGANs done: their 40 images each and a manifest
        for i in range(40):
            write_image(generated / "seed0" / class_name / f"gen_{i:05d}.png")
        (generated / "seed0" / class_name / "manifest.json").write_text(json.dumps({"count": 40}))
    table = plan("table1", "smoke", runs=runs, generated=generated)
    cells = cell_configs(load_experiment(experiment_path("table1")), "smoke")
    assert (0, "model1") not in set(zip(table["seed"], table["job"])) and len(table) == len(cells) - 1
    assert not table["job"].str.startswith("dcgan").any()
    assert table.set_index("job").loc["model1-dcgan", "train_images"] == 80  # the images written, counted


def test_a_step_is_timed_once_per_machine_and_then_read_from_the_cache(monkeypatch):
    from pneumonia_tf.config import resolve
    config = resolve({"model": "model1", "image_size": 32, "batch_size": 8, "data": "synthetic:8"})
    first = plan_module.classifier_step_seconds(config)
    assert 0 < first["predict"] and 0 < first["train"] < 60
    monkeypatch.setattr(plan_module, "_timed", lambda *args: pytest.fail("timed again"))
    assert plan_module.classifier_step_seconds(config) == first
    with pytest.raises(pytest.fail.Exception, match="timed again"):  # another batch is another entry
        plan_module.classifier_step_seconds({**config, "batch_size": 16})


def test_a_dcgan_step_is_timed_without_fits_fixed_cost_per_call(monkeypatch, tmp_path):
    """A DCGAN is timed through fit (its train_step takes images alone), and a fit call has a fixed
    cost (its data adapter, callbacks) that a study's DCGAN pays once per epoch, not once per 3 steps:
    with fit costing 2 s at each end, 3 s of tracing and 0.5 s a step, a step is 0.5 s (a 3-step fit
    over 3 says 2.83 s here; on the real quick DCGANs it planned 29% long)."""
    import math
    import types

    from pneumonia_tf.dcgan import DCGAN
    monkeypatch.setenv("PNEUMONIA_TF_CACHE", str(tmp_path))
    clock = [0.0]

    def fit(self, x, batch_size, callbacks=(), **kwargs):
        clock[0] += 2.0 + 3.0  # fit's setup, and tracing in the first batch
        for batch in range(math.ceil(len(x) / batch_size)):
            clock[0] += 0.5
            for callback in callbacks:
                callback.on_train_batch_end(batch, {})
        clock[0] += 2.0  # after the last batch
    monkeypatch.setattr(DCGAN, "fit", fit)
    monkeypatch.setattr(plan_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    assert plan_module.dcgan_step_seconds(16, 4) == pytest.approx(0.5)


def test_a_run_records_the_plans_estimate_only_where_the_machine_was_calibrated(tmp_path, monkeypatch):
    """reproduce writes estimate.json as a cell starts when its step was timed (by a --plan), without
    timing anything itself; the report sets it beside the wall time."""
    from pneumonia_tf.report import provenance
    from pneumonia_tf.study_runs import ESTIMATE, Cell
    experiment = load_experiment(experiment_path("seed000"))
    args = (experiment, "smoke", "cnn", 0, "synthetic:40", tmp_path / "generated", {})
    real_timing = plan_module._timed
    monkeypatch.setattr(plan_module, "_timed", lambda *a: pytest.fail("a run timed a step"))
    assert plan_module.estimate_if_calibrated(*args) is None
    monkeypatch.setattr(plan_module, "_timed", real_timing)
    planned = int(plan("seed000", "smoke", runs=tmp_path / "runs").set_index("job").loc["cnn", "estimate_s"])
    monkeypatch.setattr(plan_module, "_timed", lambda *a: pytest.fail("a run timed a step"))
    assert plan_module.estimate_if_calibrated(*args) == planned
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ESTIMATE).write_text(json.dumps({"estimate_s": planned}))
    record = {"seed": 0, "wall_time_s": 12.5, "timings_s": {"data": 1.5, "fit": 9.25},
              "cpu_threads": {"cores": 2, "intra_op": 1, "inter_op": 1}}
    page = provenance({"cnn": Cell("cnn", [folder], [record], [None])})["table"]
    assert "planned (s)" in page and f"<td>{planned}</td>" in page and "<td>12.5</td>" in page
    assert "fit (s)" in page and "<td>9.25</td>" in page  # where the wall time went
    assert "intra-op threads" in page and "<td>1 of 2 cores</td>" in page  # they change a CPU run's numbers


def test_the_provenance_table_shows_no_none_or_nan_for_what_a_run_did_not_record(tmp_path):
    """A cell run without a --plan has no estimate, a record from before cpu_threads no threads, and a
    study without maps (table1) no maps: the report shows an empty cell or "not recorded", never
    "None" or "NaN", and no maps column when no cell has maps."""
    from pneumonia_tf.report import provenance
    from pneumonia_tf.study_runs import ESTIMATE, Cell
    planned, unplanned = tmp_path / "planned", tmp_path / "unplanned"
    for folder in (planned, unplanned):
        folder.mkdir()
    (planned / ESTIMATE).write_text(json.dumps({"estimate_s": 55}))
    threads = {"cores": 2, "intra_op": 2, "inter_op": 2}
    records = [{"seed": 0, "wall_time_s": 46.2, "timings_s": {"fit": 42.3}, "cpu_threads": threads, "git_commit": "abc"},
               {"seed": 1, "wall_time_s": 47.0, "timings_s": {"fit": 43.0}, "git_commit": "abc"}]
    page = provenance({"model1": Cell("model1", [planned, unplanned], records, [None, None])})["table"]
    assert "<td>55</td>" in page and "<td>2 of 2 cores</td>" in page and "<td>not recorded</td>" in page
    assert "None" not in page and "NaN" not in page and "nan" not in page
    assert "maps (s)" not in page


@pytest.mark.parametrize("worker", [None, 1])
def test_only_the_chief_writes_the_plans_estimate_into_the_run_folder(tmp_path, monkeypatch, worker):
    """Every worker of a multi-worker strategy runs reproduce; the chief writes the run folder (a
    worker's train() returns a record with its "worker" index and writes its scratch folder)."""
    import pneumonia_tf.reproduce as reproduce_module
    from pneumonia_tf.study_runs import ESTIMATE
    monkeypatch.setattr(reproduce_module, "estimate_if_calibrated", lambda *args: 123)
    monkeypatch.setattr(reproduce_module, "explain", lambda *args, **kwargs: None)

    def train(config, out, verbose):
        if worker is not None:
            return {"worker": worker}
        out.mkdir(parents=True, exist_ok=True)
        (out / "record.json").write_text("{}")
        return {}
    monkeypatch.setattr(reproduce_module, "train", train)
    runs = tmp_path / "runs"
    reproduce_module.reproduce("seed000", "smoke", data="synthetic:8", runs=runs, generated=tmp_path / "generated")
    written = sorted(p.parent.parent.name for p in (runs / "seed000" / "smoke").glob(f"*/0/{ESTIMATE}"))
    assert written == ([] if worker else ["cnn", "cnn-test-selected"])


def test_jobs_for_a_study_with_nothing_left_to_train_measures_nothing():
    """A finished study's plan is an empty table: --plan and --jobs auto must say so, not fail."""
    from pneumonia_tf.reproduce import jobs_for
    for jobs in (None, 1, 2):
        assert jobs_for(pd.DataFrame([]), "table1", "smoke", None, {}, jobs) == (jobs or 1, None)


def test_the_time_outside_fit_comes_from_the_studys_finished_cells_maps_included(tmp_path, fixed_steps, capsys):
    runs = tmp_path / "runs"
    assert plan("seed000", "smoke", runs=runs).attrs["outside_fit_cells"] == 0  # nothing finished: assumed
    assert "assumed" in plan_module.outside_note(plan("seed000", "smoke", runs=runs))
    assert "maps of [explain]" in plan_module.outside_note(plan("seed000", "smoke", runs=runs))
    done = runs / "seed000" / "smoke" / "cnn" / "0"
    (done / "cam").mkdir(parents=True)
    (done / "record.json").write_text(json.dumps({"wall_time_s": 40.0, "timings_s": {"data": 2, "fit": 30.0}}))
    (done / "cam" / "score.json").write_text(json.dumps({"timings_s": {"grid": 5.0, "score": 10.0}}))
    table = plan("seed000", "smoke", runs=runs)
    assert (table.attrs["outside_fit_s"], table.attrs["outside_fit_cells"]) == (25.0, 1)  # 40 - 30 + 5 + 10
    row = table.set_index("job").loc["cnn-test-selected"]
    steps, val_steps = -(-row["train_images"] // row["batch_size"]), -(-row["val_images"] // row["batch_size"])
    assert row["estimate_s"] == round(row["epochs"] * (steps * 0.1 + val_steps * 0.05) + 25.0)
    assert main(["seed000", "--profile", "smoke", "--plan", "--runs", str(runs)]) == 0
    assert "25 s per cell outside fit, the median of 1 finished cell(s)" in capsys.readouterr().out


def test_a_cell_that_oversamples_is_planned_with_the_images_it_trains_on(tmp_path, fixed_steps):
    """Seed 002's scenario 2 repeats NORMAL images up to the PNEUMONIA count: the plan counts them."""
    root = make_kermany(tmp_path / "data", per_class=12)
    for path in sorted((root / "train" / "NORMAL").iterdir())[:8]:  # 4 NORMAL left against 12 PNEUMONIA
        path.unlink()
    table = plan("transfer", "smoke", data=str(root), runs=tmp_path / "runs").set_index("job")
    train = load(str(root), image_size=32, val_fraction=0.1).split("train")
    counts = train["label"].value_counts()
    assert table.loc["vgg16-s1", "train_images"] == len(train)
    assert table.loc["vgg16-s2", "train_images"] == 2 * counts.max() > len(train)


@pytest.mark.parametrize("calibrated", [True, False])
def test_the_progress_line_paces_what_is_left_on_the_plan_where_the_machine_is_calibrated(tmp_path, monkeypatch,
                                                                                         caplog, calibrated):
    """After its first cell, seed 002's study still has its large models to train: calibrated, the time to
    go is the plan's estimate of the five cells left at the pace of the first (here half the estimate),
    not the first cell's time five times over; uncalibrated (a run times nothing), that mean rate."""
    import types

    import pneumonia_tf.reproduce as reproduce_module
    step = {"vgg16": 10.0, "resnet50v2": 100.0, "densenet201": 200.0}  # seconds per batch

    def step_seconds(config, timing=True):
        if not timing and not calibrated:
            raise plan_module.NotCalibrated(config["model"])
        return {"train": step[config["model"]], "predict": 0.0}
    monkeypatch.setattr(plan_module, "classifier_step_seconds", step_seconds)
    runs, generated = tmp_path / "runs", tmp_path / "generated"
    planned = plan("transfer", "smoke", runs=runs, generated=generated).set_index("job")["estimate_s"]
    clock = [1000.0]
    monkeypatch.setattr(plan_module, "time", types.SimpleNamespace(time=lambda: clock[0], perf_counter=lambda: 0.0))
    monkeypatch.setattr(reproduce_module, "explain", lambda *args, **kwargs: None)

    def train(config, out, verbose):  # this machine runs every cell in half its estimate
        clock[0] += 0.5 * planned[out.parent.name]
        out.mkdir(parents=True, exist_ok=True)
        (out / "record.json").write_text("{}")
        return {}
    monkeypatch.setattr(reproduce_module, "train", train)
    with caplog.at_level("INFO", logger="pneumonia_tf.reproduce"):
        reproduce_module.reproduce("transfer", "smoke", runs=runs, generated=generated)
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("---")]
    first = planned.index[0]
    assert len(lines) == len(planned) and lines[0].startswith("--- transfer / smoke: 1 of 6 cells done, ")
    to_go = 0.5 * (planned.sum() - planned[first]) if calibrated else 5 * 0.5 * planned[first]
    assert lines[0].endswith(f"about {to_go / 60:.0f} min to go")
    assert lines[-1].endswith("about 0 min to go")
