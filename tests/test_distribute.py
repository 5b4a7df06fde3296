"""Outgrowing one machine: two multi-worker processes on 127.0.0.1 train like one process; cache
entries filled by several processes at once; a study's cells shared by shards. Every process here
binds 127.0.0.1 only, has a time limit, and ends by itself."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pneumonia_tf.train import train
from tests.conftest import make_kermany

ROOT = Path(__file__).resolve().parents[1]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def env(cache: Path, **extra) -> dict:
    return {**os.environ, "PNEUMONIA_TF_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT),
            **extra}


def run_together(commands: list[tuple[list[str], dict]], timeout: float, cwd=None) -> list[str]:
    """Start every (command, env) at once, wait (killing all after `timeout` s), assert each exited 0;
    returns their outputs (stdout and stderr)."""
    processes = [subprocess.Popen(command, env=environment, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for command, environment in commands]
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, output in zip(processes, outputs):
        assert p.returncode == 0, output[-3000:]
    return outputs


# Final losses of two workers against one process with the same global batch: equal up to the order
# of floating-point reductions (measured equal to 5 digits); the bound is 1e-3 relative. synthetic:30
# gives 54 training and 6 validation images, so with batch 8 every batch, the last partial one
# included, splits evenly between the two workers (an uneven split is averaged per worker).
MULTIWORKER_RTOL = 1e-3


@pytest.mark.slow  # 40-150 s on 2 cores: with the slow tests, to keep the default run under 10 minutes
def test_two_workers_train_like_one_process_and_only_the_chief_writes_the_run(tmp_path):
    config = dict(model="model1", data="synthetic:30", image_size=32, epochs=2, batch_size=8, resamples=20)
    single = train(config, tmp_path / "single", verbose=0)
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    command = [sys.executable, "-m", "pneumonia_tf.train", "--model", "model1", "--data", "synthetic:30",
               "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--set", "resamples=20",
               "--strategy", "multiworker", "--out", str(tmp_path / "multi")]
    outputs = run_together([(command, env(tmp_path / "cache", TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": i}}))) for i in range(2)], timeout=240)
    run = tmp_path / "multi"
    record = json.loads((run / "record.json").read_text())
    assert record["history"][-1]["loss"] == pytest.approx(single["history"][-1]["loss"], rel=MULTIWORKER_RTOL)
    assert record["history"][-1]["val_loss"] == pytest.approx(single["history"][-1]["val_loss"], rel=MULTIWORKER_RTOL)
    for name in ("config.json", "data_summary.json", "history.csv", "model.keras", "figures/roc.png"):
        assert (run / name).exists(), name
    assert len(pd.read_csv(run / "history.csv")) == 2  # written once, by the chief
    assert sorted(p.name for p in (run / ".workers").iterdir()) == ["worker-1"]  # the other worker's scratch
    assert not (run / ".workers" / "worker-1" / "record.json").exists()
    assert "the chief writes the run folder" in outputs[1]


FILL = textwrap.dedent("""
    import hashlib, sys
    from pathlib import Path
    from pneumonia_tf.data.sources import load
    digest = hashlib.sha256()
    for data in sys.argv[1:]:
        index = load(data, image_size=32).index
        for path in sorted(index["path"]):
            digest.update(Path(path).name.encode() + Path(path).read_bytes())
    print(digest.hexdigest())
""")


def test_several_processes_filling_the_same_cache_entries_all_get_the_same_data(tmp_path):
    """The synthetic phantom and an extracted zip, asked for by three processes at once (the phantom
    race ended in FileNotFoundError before); a partial folder left by a killed filler is no obstacle."""
    source = make_kermany(tmp_path / "src" / "chest_xray", per_class=20)
    archive = tmp_path / "chest_xray.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(source.rglob("*.jpeg")):
            zf.write(f, f.relative_to(tmp_path / "src"))
    cache = tmp_path / "cache"
    (cache / "synthetic" / "v2-s32-n80-26-seed0.partial" / "train").mkdir(parents=True)  # a killed filler's
    processes = [subprocess.Popen([sys.executable, "-c", FILL, "synthetic:80", str(archive)], env=env(cache),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=240) for p in processes]
    for p, (_, err) in zip(processes, results):
        assert p.returncode == 0, err[-3000:]
    digests = {out.split()[-1] for out, _ in results}
    assert len(digests) == 1
    assert not list((cache / "synthetic").glob("*.partial")) and not list((cache / "zips").glob("*.partial"))


def test_a_killed_lock_holder_blocks_nobody(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pneumonia_tf.data.cache import exclusive
        with exclusive(Path({str(tmp_path / 'entry')!r})):
            print("locked", flush=True)
            time.sleep(120)
    """)], env=env(tmp_path), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    from pneumonia_tf.data.cache import fill_once
    start = time.time()
    fill_once(tmp_path / "entry", lambda partial: (partial / "done").write_text("ok"))
    assert (tmp_path / "entry" / "done").read_text() == "ok" and time.time() - start < 10


@pytest.mark.slow
def test_two_shards_the_first_in_two_jobs_produce_every_cell_of_the_smoke_table1_once(tmp_path):
    """Shard 1/2 with --jobs 2 (two children) and shard 2/2 at once, on shared runs/ and generated/:
    every cell and each DCGAN once, each shard's progress to its last cell, the children's cells with
    their own log.txt, and a table that passes --check."""
    command = [sys.executable, "-m", "pneumonia_tf.reproduce", "table1", "--profile", "smoke",
               "--runs", str(tmp_path / "runs"), "--generated", str(tmp_path / "generated")]
    outputs = run_together([([*command, "--shard", "1/2", "--jobs", "2"], env(tmp_path / "cache")),
                            ([*command, "--shard", "2/2"], env(tmp_path / "cache"))], timeout=1200, cwd=tmp_path)
    from pneumonia_tf.experiments import cell_configs, experiment_path, load_experiment
    cells = len(cell_configs(load_experiment(experiment_path("table1")), "smoke"))
    lines = [line.split("] ", 1)[-1] if line.startswith("[job") else line
             for output in outputs for line in output.splitlines()]
    started = [line for line in lines if line.startswith("=== table1")]
    assert len(started) == len(set(started)) == cells + 2  # every cell and the two DCGANs, each once
    assert f"{cells // 2} of {cells // 2} cells done with 2 jobs" in outputs[0], outputs[0][-2000:]
    assert f"{cells // 2} of {cells // 2} cells done," in outputs[1], outputs[1][-2000:]
    study = tmp_path / "runs" / "table1" / "smoke"
    records = sorted(study.glob("*/0/record.json"))
    assert len(records) == cells
    logs = [path for path in study.glob("*/0/log.txt") if path.parts[-3] != "dcgan"]  # (and the DCGANs' if a child trained them)
    assert len(logs) == cells // 2  # the children's cells: Keras's output
    assert sorted(path.name for path in (study / "jobs").glob("*.log")) == ["job-1-of-2.log", "job-2-of-2.log"]
    from pneumonia_tf.results import main as results_main
    assert results_main(["table1", "--profile", "smoke", "--runs", str(tmp_path / "runs"),
                         "--out", str(tmp_path / "results"), "--check"]) == 0


def test_the_children_of_jobs_share_a_shards_cells_as_they_come_each_trained_once(tmp_path, monkeypatch):
    """Two children (threads here; the claims are file locks, which two opens in one process also
    contend for) go down the same list: every cell is trained once, and while one child is busy with
    a long cell the other takes every other cell, instead of a fixed half."""
    import threading

    import pneumonia_tf.reproduce as reproduce_module
    from pneumonia_tf.experiments import cell_configs, experiment_path, load_experiment, study_jobs
    cells = study_jobs(cell_configs(load_experiment(experiment_path("seed000")), "smoke"), 3)
    trained, lock, rest_done = [], threading.Lock(), threading.Event()

    def fake_train(config, out, verbose=None):  # as train: a run with a record is not trained again
        if (out / "record.json").exists():
            return {}
        with lock:
            trained.append((threading.current_thread().name, out.parts[-2], int(out.name)))
            long_cell = len(trained) == 1
            if len(trained) == len(cells):
                rest_done.set()
        if long_cell:  # the first cell claimed lasts until the other child has trained all the rest
            assert rest_done.wait(60)
        out.mkdir(parents=True, exist_ok=True)
        (out / "record.json").write_text("{}")
        return {}
    monkeypatch.setattr(reproduce_module, "train", fake_train)
    monkeypatch.setattr(reproduce_module, "explain", lambda *a, **k: None)
    children = [threading.Thread(target=reproduce_module.reproduce, name=f"job{j}", args=("seed000", "smoke"),
                                 kwargs=dict(seeds=3, runs=tmp_path / "runs", job=(j, 2))) for j in (1, 2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert sorted((cell, seed) for _, cell, seed in trained) == sorted((cell, seed) for seed, cell in cells)
    first = trained[0][0]
    by_child = sorted(sum(1 for who, _, _ in trained if who == name) for name in ("job1", "job2"))
    assert by_child == [1, len(cells) - 1] and [who for who, _, _ in trained].count(first) == 1, trained


def test_a_child_of_jobs_gets_its_share_of_the_cores_and_the_rest_of_the_command():
    from pneumonia_tf.jobs import thread_environment
    from pneumonia_tf.reproduce import without_option
    assert thread_environment(2, cores=8) == {"TF_NUM_INTRAOP_THREADS": "4", "TF_NUM_INTEROP_THREADS": "1",
                                              "PNEUMONIA_TF_DATA_THREADS": "4"}
    assert thread_environment(3, cores=2)["TF_NUM_INTRAOP_THREADS"] == "1"
    assert without_option(["table1", "--jobs", "2", "--seeds", "2", "--jobs=3"], "--jobs") == ["table1", "--seeds", "2"]


def test_children_of_jobs_on_a_gpu_machine_get_their_own_gpus_and_more_jobs_than_gpus_is_refused(monkeypatch):
    from pneumonia_tf.errors import UserError
    from pneumonia_tf.jobs import device_environment, visible_gpus
    assert all(isinstance(gpu, str) for gpu in visible_gpus()) and device_environment(1, 2, []) == {}  # a CPU: nothing
    gpus = ["0", "1", "2", "3"]
    assert [device_environment(j, 2, gpus) for j in (1, 2)] == [{"CUDA_VISIBLE_DEVICES": "0,2"},
                                                                 {"CUDA_VISIBLE_DEVICES": "1,3"}]
    assert device_environment(3, 4, ["4", "6", "7", "9"]) == {"CUDA_VISIBLE_DEVICES": "7"}  # the parent's own ids
    with pytest.raises(UserError, match="--jobs 3: this machine has 2 GPU"):
        device_environment(1, 3, ["0", "1"])


def test_a_dataset_in_a_child_of_jobs_runs_on_its_private_thread_pool(monkeypatch):
    import tensorflow as tf

    from pneumonia_tf.data.pipeline import DATA_THREADS, with_pipeline_options
    assert with_pipeline_options(tf.data.Dataset.range(3)).options().threading.private_threadpool_size is None
    monkeypatch.setenv(DATA_THREADS, "1")
    limited = with_pipeline_options(tf.data.Dataset.range(3))
    assert limited.options().threading.private_threadpool_size == 1 and list(limited.as_numpy_iterator()) == [0, 1, 2]


def test_a_restarted_worker_whose_training_finished_does_not_evaluate(tmp_path, monkeypatch):
    """Only the chief evaluates and writes a record, also when a worker is restarted after fit ended."""
    import pneumonia_tf.train as train_module
    scratch = tmp_path / "run" / ".workers" / "worker-1"
    scratch.mkdir(parents=True)
    (scratch / train_module.FIT_DONE).write_text("{}")
    monkeypatch.setattr(train_module, "is_chief", lambda strategy: False)
    monkeypatch.setattr(train_module, "scratch_folder", lambda out, strategy: scratch)
    result = train(dict(model="model1", data="synthetic:24", image_size=32, epochs=1), tmp_path / "run", verbose=0)
    assert result == {"worker": "worker-1", "scratch": str(scratch)}
    assert not (scratch / "record.json").exists() and not (tmp_path / "run" / "record.json").exists()


@pytest.mark.slow
def test_a_killed_jobs_run_leaves_nothing_training_and_the_next_call_finishes_it(tmp_path):
    """Killing `reproduce --jobs 2` while both children train ends the children too (no process of the
    run is left); the same command then trains what has no record, and every cell ends with one."""
    from tests.test_results import TINY
    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    command = [sys.executable, "-m", "pneumonia_tf.reproduce", str(experiment), "--profile", "smoke", "--runs",
               str(tmp_path / "runs"), "--jobs", "2", "--set", "epochs=20"]
    parent = subprocess.Popen(command, env=env(tmp_path / "cache"), cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    started, deadline = [], time.time() + 300
    try:
        for line in parent.stdout:  # both children have started a cell
            started += [line] if line.startswith("[job") and "=== tiny" in line else []
            if len(started) == 2 or time.time() > deadline:
                break
    finally:
        parent.kill()
        parent.wait()
    assert len(started) == 2, started

    def processes_of_the_run() -> list[str]:
        found = []
        for folder in Path("/proc").glob("[0-9]*"):
            try:
                line = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found += [line] if str(tmp_path / "runs") in line else []
        return found
    for _ in range(60):  # SIGTERM from the parent's death, then the children's own shutdown
        if not processes_of_the_run():
            break
        time.sleep(1)
    assert not processes_of_the_run()
    study = tmp_path / "runs" / "tiny" / "smoke"
    assert len(list(study.glob("*/0/record.json"))) < 3  # killed before the end
    run_together([(command, env(tmp_path / "cache"))], timeout=600, cwd=tmp_path)
    assert len(list(study.glob("*/0/record.json"))) == 3


def test_jobs_auto_takes_more_jobs_only_for_measured_gain_within_the_memory(tmp_path, monkeypatch):
    import pneumonia_tf.jobs as jobs_module
    from pneumonia_tf.config import resolve
    monkeypatch.setenv("PNEUMONIA_TF_CACHE", str(tmp_path / "cache"))
    config = resolve({"model": "model1", "image_size": 64, "batch_size": 32})
    measured = {1: 100.0, 2: 130.0, 4: 134.0}  # images/s together: 2 jobs gain 30%, 4 jobs 3% more

    def fake_rate(config, jobs, cores=None):
        calls.append(jobs)
        return {"images_per_s": measured[jobs], "rss_mb": 500.0}
    calls = []
    monkeypatch.setattr(jobs_module, "concurrent_rate", fake_rate)
    monkeypatch.setattr(jobs_module, "available_memory_mb", lambda: 10_000.0)
    chosen, rates = jobs_module.auto_jobs(config, images=1000, cores=4)
    assert chosen == 2 and calls == [1, 2, 4] and rates[2]["images_per_s"] == 130.0
    assert jobs_module.auto_jobs(config, images=1000, cores=4)[0] == 2 and calls == [1, 2, 4]  # cached: not timed again
    monkeypatch.setattr(jobs_module, "available_memory_mb", lambda: 1_000.0)  # two jobs of 500 MB + their images do not fit
    assert jobs_module.auto_jobs(config, images=1000, cores=4)[0] == 1


def test_jobs_share_the_cores_this_process_may_run_on_not_the_whole_machines(tmp_path, monkeypatch):
    """A Slurm allocation (or taskset, or a container's cpuset) of 4 CPUs on a 64-core node: the
    jobs' threads and --jobs auto's candidates count the 4, not the 64 that os.cpu_count() sees."""
    import pneumonia_tf.jobs as jobs_module
    from pneumonia_tf.config import resolve
    from pneumonia_tf.records import cpu_threads
    monkeypatch.setenv("PNEUMONIA_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert jobs_module.thread_environment(2)["TF_NUM_INTRAOP_THREADS"] == "2"
    assert cpu_threads()["cores"] == 4
    calls = []
    monkeypatch.setattr(jobs_module, "concurrent_rate", lambda config, jobs, cores=None: calls.append((jobs, cores))
                        or {"images_per_s": 100.0 * jobs, "rss_mb": 1.0})  # every n gains: it stops at the cores
    monkeypatch.setattr(jobs_module, "available_memory_mb", lambda: 10_000.0)
    assert jobs_module.auto_jobs(resolve({"model": "model1", "image_size": 64}), images=10)[0] == 4
    assert calls == [(1, 4), (2, 4), (4, 4)]


@pytest.mark.slow
def test_concurrent_timing_children_start_together_report_and_stop():
    """The measurement behind --jobs auto, for real: two processes on one core each, released together."""
    import subprocess

    from pneumonia_tf.config import resolve
    from pneumonia_tf.jobs import concurrent_rate
    rate = concurrent_rate(resolve({"model": "model1", "image_size": 16, "batch_size": 4}), 2, cores=2, timeout=120)
    assert rate["images_per_s"] > 0 and rate["rss_mb"] > 100  # TensorFlow and a model in each
    ps = subprocess.run(["pgrep", "-f", "timing_child"], capture_output=True, text=True).stdout.split()
    assert ps == []  # both ended


def test_jobs_default_to_the_profiles_and_an_explicit_jobs_wins(monkeypatch):
    """--jobs (and make's JOBS) default to the profile's `jobs` where it sets one, else 1 (every shipped
    profile: a job's thread count changes a run's numbers); a bad value in a profile is a one-line
    error naming it."""
    import copy

    from pneumonia_tf.errors import UserError
    from pneumonia_tf.experiments import check_experiment, default_jobs, experiment_path, load_experiment, studies
    table1 = load_experiment(experiment_path("table1"))
    for study in studies():
        experiment = load_experiment(experiment_path(study))
        assert all(default_jobs(experiment, profile) == "1" for profile in experiment["profiles"])
    faster = copy.deepcopy(table1)
    faster["profiles"]["quick"]["jobs"] = "auto"
    check_experiment(faster, "table1")
    assert default_jobs(faster, "quick") == "auto" and default_jobs(faster, "smoke") == "1"
    broken = copy.deepcopy(table1)
    broken["profiles"]["quick"]["jobs"] = 0
    with pytest.raises(UserError, match=r"\[profiles.quick\].jobs: 0"):
        check_experiment(broken, "table1")
    make = lambda *args: subprocess.run(["make", "-n", "-C", str(ROOT), "reproduce-table1", *args],  # noqa: E731
                                        capture_output=True, text=True, check=True).stdout
    assert "--jobs" not in make("PROFILE=quick") and "--jobs 2" in make("PROFILE=quick", "JOBS=2")
