"""N cells at once on one machine (reproduce --jobs N): N child processes of the same command (`--job
J/N`), each with its share of the cores, going down this shard's (seed, cell) list and each training
the next cell no other child has claimed (pneumonia_tf.reproduce).

The children share the run registry, generated/ and the caches exactly as shards do: a cell with a
record is skipped, a seed's DCGANs are trained once under their lock, a cell a killed child left
without a record is trained by the next call. A child dies with its parent (Linux: PR_SET_PDEATHSIG),
so a killed reproduction leaves nothing training behind. Each child's whole output goes to
<study runs>/jobs/job-J-of-N.log and each cell's Keras output to log.txt in its run folder; the
terminal gets each child's started and finished cells and one study-level progress line per cell.
On a machine with GPUs each child gets its own GPU(s) (CUDA_VISIBLE_DEVICES); more jobs than GPUs is
refused.

--jobs auto measures its rule (`auto_jobs`): N processes, each on its share of the cores, train the
study's main model at once on random batches, for N = 1, 2, 4, ... up to the cores (and the GPUs);
it stops at the first N whose images/s do not beat the previous N's by GAIN, or that would not fit in
the memory available, and takes the N before it. The rates are cached per machine and package
versions with the plan's step timings (pneumonia_tf.plan).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pneumonia_tf.data.pipeline import DATA_THREADS
from pneumonia_tf.errors import UserError
from pneumonia_tf.records import available_cores

PR_SET_PDEATHSIG = 1
GAIN = 1.05  # --jobs auto takes more jobs only for at least 5% more images/s
MEASURE_S = 4.0  # seconds each timing child trains, all at once

log = logging.getLogger(__name__)


def thread_environment(jobs: int, cores: int | None = None) -> dict[str, str]:
    """The environment limiting one of `jobs` children to its share of the cores: TensorFlow's
    intra-op threads (the share), inter-op threads (one) and tf.data's private pool (the share); the
    cores are those this process may run on (records.available_cores) unless given."""
    share = str(max(1, (cores or available_cores()) // jobs))
    return {"TF_NUM_INTRAOP_THREADS": share, "TF_NUM_INTEROP_THREADS": "1", DATA_THREADS: share}


def visible_gpus() -> list[str]:
    """The CUDA ids of the GPUs this process sees (its CUDA_VISIBLE_DEVICES where set), [] on a CPU."""
    import tensorflow as tf
    count = len(tf.config.list_physical_devices("GPU"))
    listed = [item for item in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if item.strip()]
    return (listed or [str(i) for i in range(count)])[:count]


def device_environment(number: int, jobs: int, gpus: list[str]) -> dict[str, str]:
    """Child `number` (1-based) of `jobs`: on a machine with GPUs, CUDA_VISIBLE_DEVICES = its own share
    of them (GPU i to child i mod jobs), so that no two children allocate the same GPU's memory; on a
    CPU nothing. More jobs than GPUs is refused: a child without a GPU would train on the CPU unseen."""
    if not gpus:
        return {}
    if jobs > len(gpus):
        raise UserError(f"--jobs {jobs}: this machine has {len(gpus)} GPU(s) (CUDA ids {', '.join(gpus)}); run at "
                        f"most {len(gpus)} jobs, each on its own GPU(s)")
    return {"CUDA_VISIBLE_DEVICES": ",".join(gpus[number - 1::jobs])}


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the children outlive a killed parent
        pass


def run_children(argv: list[str], jobs: int, log_folder: Path, progress) -> int:
    """Run `python -m pneumonia_tf.reproduce *argv --job J/N` for J = 1..N at once; returns 0 when every
    child ended with 0, else the first non-zero exit code. `progress` (pneumonia_tf.plan.Progress) words
    the line printed as any child finishes a cell."""
    log_folder.mkdir(parents=True, exist_ok=True)
    environment, gpus = {**os.environ, **thread_environment(jobs), "PYTHONUNBUFFERED": "1"}, visible_gpus()
    devices = [device_environment(number, jobs, gpus) for number in range(1, jobs + 1)]  # refused before any starts
    if not gpus:
        log.info(f"--jobs {jobs}: {environment['TF_NUM_INTRAOP_THREADS']} intra-op thread(s) per job; on a CPU the "
                 f"thread count changes the numbers, so cells trained with another --jobs differ (records: cpu_threads)")
    done, lock = [0], threading.Lock()

    def relay(child: subprocess.Popen, number: int, log_path: Path) -> None:
        with open(log_path, "a") as log_file:
            for line in child.stdout:
                log_file.write(line)
                log_file.flush()
                if line.startswith(("===", "error:", "Traceback")):
                    print(f"[job {number}] {line}", end="", flush=True)
                elif line.startswith("---"):  # a child finished a cell
                    with lock:
                        done[0] += 1
                        print(progress.line(done[0], jobs), flush=True)

    children, relays = [], []
    try:
        for number in range(1, jobs + 1):
            child = subprocess.Popen([sys.executable, "-m", "pneumonia_tf.reproduce", *argv, "--job", f"{number}/{jobs}"],
                                     env={**environment, **devices[number - 1]}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=_die_with_parent)
            children.append(child)
            relays.append(threading.Thread(target=relay, args=(child, number, log_folder / f"job-{number}-of-{jobs}.log")))
            relays[-1].start()
        codes = [child.wait() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for thread in relays:
            thread.join()
    for number, code in enumerate(codes, 1):
        if code:
            print(f"[job {number}] ended with exit code {code}; its log: {log_folder / f'job-{number}-of-{jobs}.log'}",
                  file=sys.stderr)
    return next((code for code in codes if code), 0)


def timing_child() -> None:
    """A child of concurrent_rate (stdin: a resolved config as JSON, then "go"): build and warm up its
    model, print "ready", wait for "go", train for MEASURE_S seconds, print {"images_per_s", "rss_mb"}."""
    from pneumonia_tf.plan import classifier_steps
    config = json.loads(sys.stdin.readline())
    with classifier_steps(config) as (train, _):
        train()
        train()
        print("ready", flush=True)
        sys.stdin.readline()
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < MEASURE_S:
            train()
            steps += 1
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    print(json.dumps({"images_per_s": steps * config["batch_size"] / seconds, "rss_mb": peak_mb}), flush=True)


def concurrent_rate(config: dict, jobs: int, cores: int | None = None, timeout: float = 600) -> dict:
    """{"images_per_s": of all `jobs` together, "rss_mb": the largest one's peak memory} when `jobs`
    processes, each limited to its share of the cores, train a resolved config's model on random
    batches at the same time (released together after their warm-up)."""
    environment, gpus = {**os.environ, **thread_environment(jobs, cores), "PYTHONUNBUFFERED": "1"}, visible_gpus()
    command = [sys.executable, "-c", "from pneumonia_tf.jobs import timing_child; timing_child()"]
    with tempfile.TemporaryFile("w+") as errors:
        children = [subprocess.Popen(command, env={**environment, **device_environment(number, jobs, gpus)},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                                     preexec_fn=_die_with_parent) for number in range(1, jobs + 1)]
        timer = threading.Timer(timeout, lambda: [child.kill() for child in children])
        timer.start()
        try:
            for child in children:
                child.stdin.write(json.dumps(config) + "\n")
                child.stdin.flush()
            lines = [child.stdout.readline() for child in children]
            if all(line.strip() == "ready" for line in lines):
                for child in children:
                    child.stdin.write("go\n")
                    child.stdin.flush()
                lines = [child.stdout.readline() for child in children]
            if not all(line.startswith("{") for line in lines):  # one died (or the timer killed it)
                errors.seek(0)
                raise RuntimeError(f"a --jobs timing process ended early:\n{errors.read()[-2000:]}")
            results = [json.loads(line) for line in lines]
        finally:
            timer.cancel()
            for child in children:
                child.kill()
                child.wait()
    return {"images_per_s": sum(r["images_per_s"] for r in results), "rss_mb": max(r["rss_mb"] for r in results)}


def available_memory_mb() -> float:
    """MemAvailable of /proc/meminfo in MiB (inf where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def auto_jobs(config: dict, images: int, cores: int | None = None) -> tuple[int, dict[int, dict]]:
    """(N, {n: concurrent_rate} of the n measured) for --jobs auto: going up n = 1, 2, 4, ... (at most
    the cores, and the GPUs where there are any), the last n whose images/s (measured, cached) beat the
    previous n's by GAIN. It stops before an n whose processes would not fit in 80% of the available
    memory, each holding its model (the previous timing children's peak) and `images` decoded
    training images (float32 at the config's size and channels), and at the first n without the gain."""
    from pneumonia_tf.plan import cached_seconds, step_key
    cores, gpus = cores or available_cores(), visible_gpus()
    candidates = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= cores and (not gpus or n <= len(gpus))]
    data_mb = images * config["image_size"] ** 2 * config["channels"] * 4 / 2 ** 20
    measure = lambda n: cached_seconds(json.dumps({"jobs": n, "cores": cores, "step": step_key(config)}),  # noqa: E731
                                       lambda: concurrent_rate(config, n, cores))
    rates, best = {1: measure(1)}, 1
    for n in candidates[1:]:
        if n * (rates[best]["rss_mb"] + data_mb) > 0.8 * available_memory_mb():
            break
        rates[n] = measure(n)
        if rates[n]["images_per_s"] < GAIN * rates[best]["images_per_s"]:
            break
        best = n
    return best, rates
