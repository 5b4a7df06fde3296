"""Run records: atomic writes, the provenance stored next to every metric (config, seed,
package versions, git commit), and the seconds each step of a run took."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "keras-tuner", "numpy", "scikit-learn", "pandas",
            "pydicom", "pillow", "matplotlib")


@contextlib.contextmanager
def timed(timings: dict, step: str):
    """timings[step] = the wall seconds (0.1 s) the block took, also when it raised."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(time.perf_counter() - start, 1)


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, else set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and os.replace: readers see the
    old file or the new one, never half of one. The file gets the permissions an ordinary open() would
    give it under the process's umask (mkstemp alone makes it 0600, unreadable by a lab-mate)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~current_umask())
    with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, obj) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_commit() -> str:
    """The commit of the checkout this package runs from ('+dirty' if it has changes), or 'unknown'."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# The code a process runs is the code it loaded: a long reproduction that writes records while the
# checkout moves on must record the commit it started from, not the checkout's commit at each record.
LOADED_COMMIT = git_commit()


def available_cores() -> int:
    """The CPUs this process may run on: its affinity mask, which a Slurm allocation, `taskset` or a
    container's cpuset narrows (os.cpu_count() counts the whole machine's), else os.cpu_count()."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_threads() -> dict:
    """{"cores": the CPUs this process may run on, "intra_op": N, "inter_op": N}: TensorFlow's thread pools
    as set (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, as reproduce --jobs sets them, or
    tf.config.threading), else TensorFlow's default of one per core. They change a CPU run's numbers:
    the same seed with 2 intra-op threads and with 1 gives different models (float sums in another
    order), so two runs agree to the bit only with the same threads."""
    import tensorflow as tf
    cores = available_cores()
    set_in_tf = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    variables = {"intra_op": "TF_NUM_INTRAOP_THREADS", "inter_op": "TF_NUM_INTEROP_THREADS"}
    return {"cores": cores, **{pool: set_in_tf[pool] or int(os.environ.get(variable) or 0) or cores
                               for pool, variable in variables.items()}}


def provenance() -> dict:
    return {"versions": package_versions(), "git_commit": LOADED_COMMIT, "platform": platform.platform(),
            "cpu_threads": cpu_threads()}
