"""Shared fixtures: a private cache dir, tiny image folders made by the tests, the real data when present."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chest_xray"
STARTED = time.monotonic()


def pytest_addoption(parser):
    parser.addoption("--budget", type=float, default=None, metavar="SECONDS",
                     help="start no test later than SECONDS after the run began; the rest are reported as "
                          "skipped, by name (CI: the time its limit leaves for the slow tests)")


def pytest_collection_modifyitems(config, items):
    """Under --budget, the tests marked costly (several minutes each) run after all the others, so a
    spent budget leaves out the fewest tests."""
    if config.getoption("--budget") is not None:
        items.sort(key=lambda item: item.get_closest_marker("costly") is not None)  # stable: file order otherwise


def pytest_runtest_setup(item):
    budget = item.config.getoption("--budget")
    if budget is not None and time.monotonic() - STARTED > budget:
        pytest.skip(f"not started: the run's --budget of {budget:.0f} s was spent (run it alone: "
                    f"pytest -m slow {item.nodeid})")


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    os.environ["PNEUMONIA_TF_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def real_data():
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data not present at {REAL_DATA}")
    return REAL_DATA


def write_image(path: Path, value: int = 128, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    pixels = np.clip(rng.normal(value, 20, (size, size)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
    return path


def make_kermany(root: Path, splits=("train", "test"), names=None, per_class: int = 3) -> Path:
    """A tiny Kermany-style folder; `names` maps a class to its folder name (to test letter case)."""
    names = names or {"NORMAL": "NORMAL", "PNEUMONIA": "PNEUMONIA"}
    for offset, split in enumerate(splits):  # distinct patients per split, as in the real set
        for i in range(100 * offset, 100 * offset + per_class):
            write_image(root / split / names["NORMAL"] / f"IM-{i:04d}-0001.jpeg", 90)
            write_image(root / split / names["PNEUMONIA"] / f"person{i}_bacteria_{i}.jpeg", 160)
    return root


@pytest.fixture(scope="module")
def synthetic():
    """The built-in phantom, 40 training images per class at 32 px (a pneumonia_tf.data.sources.Data)."""
    from pneumonia_tf.data.sources import load
    return load("synthetic:40", image_size=32)
