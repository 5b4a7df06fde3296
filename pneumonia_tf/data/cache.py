"""Where derived data lives ($PNEUMONIA_TF_CACHE, else ~/.cache/pneumonia_tf), and how an entry is
filled safely when several processes want it at once."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("PNEUMONIA_TF_CACHE", Path.home() / ".cache" / "pneumonia_tf"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_key(path: str | Path, *extra) -> str:
    """sha1 hex of what identifies a file's contents (resolved path, size, modification time in ns) and
    of `extra` (e.g. the decoder): a cache entry keyed by it is rebuilt when the file changes."""
    stat = os.stat(path)
    text = ":".join(map(str, (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, *extra)))
    return hashlib.sha1(text.encode()).hexdigest()


@contextmanager
def exclusive(path: Path, wait: bool = True):
    """Hold an exclusive lock on `path`.lock while the block runs; other processes asking for the same
    lock wait. The kernel drops the lock when its holder dies, so a killed process never leaves one
    that anybody waits on. The block gets True; with wait=False it gets False at once, unlocked, when
    another process holds the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            locked = True
        except BlockingIOError:
            locked = False
        try:
            yield locked
        finally:
            if locked:
                fcntl.flock(handle, fcntl.LOCK_UN)


def fill_once(target: Path, fill) -> Path:
    """Make the folder `target` once, by `fill(partial)` writing into an empty folder, then renaming it
    to `target`. Safe under concurrent processes: one fills while the others wait for the lock and then
    find `target` done; a partial folder left by a killed filler is removed by the next one (under the
    lock, so never while somebody writes into it). Readers see no folder or a complete one."""
    if target.exists():
        return target
    with exclusive(target):
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            fill(partial)
            partial.rename(target)
    return target
