"""Kermany et al. (2018) / Kaggle "Chest X-Ray Images (Pneumonia)": a folder or the downloaded zip.

Accepted: <root>/{train,test[,val]}/{NORMAL,PNEUMONIA}/*.{jpeg,jpg,png} in any letter case, the
doubly nested chest_xray/chest_xray/ layout, and the zip itself (extracted once into the cache).
Hidden files, .DS_Store and __MACOSX are ignored. The official val/ (16 images) is merged into train.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from pneumonia_tf import CLASSES
from pneumonia_tf.data.cache import cache_dir, file_key, fill_once
from pneumonia_tf.data.index import IMAGE_SUFFIXES, DataError, label_of, make_index
from pneumonia_tf.data.patients import patient_id

_SPLITS = {"train": "train", "val": "train", "test": "test"}  # official val/ joins train


def _visible_children(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if not p.name.startswith((".", "__MACOSX")))


def _child(path: Path, name: str) -> Path | None:
    """Child folder `name` of `path`, matched without regard to letter case."""
    for child in _visible_children(path):
        if child.is_dir() and child.name.lower() == name:
            return child
    return None


LAYOUTS = ((), ("chest_xray",), ("chest_xray", "chest_xray"))  # where a train/ folder is looked for, no deeper


def _at(path: Path, parts: tuple[str, ...]) -> Path | None:
    for name in parts:
        path = _child(path, name)
        if path is None:
            return None
    return path


def _listing(root: Path) -> set[tuple[str, ...]]:
    """Relative paths (lower case) of every file under root's train/ and test/."""
    return {tuple(p.relative_to(root).as_posix().lower().split("/")) for split in ("train", "test")
            if _child(root, split) for p in _child(root, split).rglob("*") if p.is_file()}


def find_root(path: Path) -> Path:
    """The data root under `path`: the one folder among path, path/chest_xray and
    path/chest_xray/chest_xray that has a train/ folder. Nothing deeper is searched, so no unrelated
    folder is ever taken for the data set. The Kaggle archive holds the set twice (chest_xray/ and
    chest_xray/chest_xray/, file for file); then the outer copy is used. Anything else is an error
    naming what was found."""
    candidates = [folder for folder in (_at(path, parts) for parts in LAYOUTS)
                  if folder is not None and _child(folder, "train") is not None]
    if len(candidates) == 2 and candidates[1].parent == candidates[0] \
            and _listing(candidates[0]) == _listing(candidates[1]):
        candidates = candidates[:1]  # the Kaggle archive's duplicate copy
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise DataError(f"{path}: more than one data root ({', '.join(map(str, candidates))}); "
                        f"pass the one to use as --data")
    deeper = sorted(str(train.parent) for train in _train_folders(path, depth=3))
    found = (f"found train/ only deeper, in {', '.join(deeper[:5])}{' ...' if len(deeper) > 5 else ''}; "
             f"pass that folder as --data" if deeper else "found no train/ folder")
    raise DataError(f"{path}: unknown layout; expected train/ and test/ folders, each with "
                    f"{' and '.join(CLASSES)}/ inside, in {path}, {path}/chest_xray or {path}/chest_xray/chest_xray "
                    f"({found})")


def _train_folders(path: Path, depth: int) -> list[Path]:
    """train/ folders up to `depth` levels below `path` (only to name them in an error)."""
    level, found = [path], []
    for _ in range(depth + 1):
        found += [c for folder in level for c in [_child(folder, "train")] if c is not None]
        level = [c for folder in level for c in _visible_children(folder) if c.is_dir()]
    return found


def extract_zip(archive: Path) -> Path:
    """Extract `archive` once into the cache (atomically: a partial extraction is never used)."""
    key = file_key(archive)[:12]

    def extract(partial: Path) -> None:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(partial)
        except zipfile.BadZipFile as error:
            raise DataError(f"{archive}: not a readable zip archive ({error})") from None

    return fill_once(cache_dir("zips") / f"{archive.stem}-{key}", extract)


def kermany_root(path: str | Path) -> Path:
    """The data root of a Kermany folder or zip (extracted once into the cache); see find_root."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise DataError(f"{path}: expected a folder or a .zip of the Kermany chest X-ray set")
        path = extract_zip(path)
    return find_root(path)


def load_kermany(path: str | Path) -> pd.DataFrame:
    """Index of a Kermany folder or zip (columns as in pneumonia_tf.data.index)."""
    return index_root(kermany_root(path))


def index_root(root: Path) -> pd.DataFrame:
    """Index of a data root (a folder with train/ and test/, each with the class folders)."""
    rows = []
    for official in ("train", "val", "test"):
        split_dir = _child(root, official)
        if split_dir is None:
            if official == "val":
                continue
            raise DataError(f"{root}: missing split {official}/ (expected {root}/{official}/NORMAL and .../PNEUMONIA)")
        class_dirs = {label_of(d.name, str(d)): d for d in _visible_children(split_dir) if d.is_dir()}
        for label, name in enumerate(CLASSES):
            if label not in class_dirs:
                raise DataError(f"{split_dir}: missing class folder {name}/")
            files = [f for f in _visible_children(class_dirs[label])
                     if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                raise DataError(f"{class_dirs[label]}: empty class folder (no {', '.join(IMAGE_SUFFIXES)} files)")
            rows += [dict(path=str(f), label=label, patient=patient_id(f), split=_SPLITS[official],
                          source="kermany") for f in files]
    return make_index(rows, str(root))
