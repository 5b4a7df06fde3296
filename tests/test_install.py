"""The install: TensorFlow's CPU build by default, its GPU build with GPU=1, the same version pinned for
both, and a package that says what to install when TensorFlow is missing."""
from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pip_line(*make_args: str) -> str:
    """The pip command `make install` would run (make -n prints it without running it)."""
    out = subprocess.run(["make", "-n", "-C", str(ROOT), "install", *make_args], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return next(line for line in out.splitlines() if "pip install" in line and "constraints.txt" in line)


def test_make_install_picks_the_cpu_build_and_gpu_1_the_gpu_build():
    assert '-e ".[test,cpu]"' in pip_line()
    assert '-e ".[test,gpu]"' in pip_line("GPU=1")
    assert '-e ".[test,cpu]"' in pip_line("GPU=0")


def test_tensorflow_is_only_an_extra_and_both_builds_pin_one_version():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    names = {re.split(r"[<>=\[ ]", line)[0] for line in setup["options"]["install_requires"].split()}
    assert "tensorflow-datasets" in names and not names & {"tensorflow", "tensorflow-cpu"}  # or the CPU build beside the GPU one
    extras = setup["options.extras_require"]
    cpu, gpu = extras["cpu"].split(), extras["gpu"].split()
    assert cpu[0].startswith("tensorflow-cpu==") and gpu[0].startswith("tensorflow[and-cuda]==")
    assert cpu[0].partition("==")[2] == gpu[0].partition("==")[2]
    pins = dict(re.findall(r"^(tensorflow|tensorflow_cpu)==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M))
    assert set(pins) == {"tensorflow", "tensorflow_cpu"} and len(set(pins.values())) == 1


def test_without_tensorflow_the_package_says_what_to_install():
    hide = ("import importlib.util, sys; real = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda name, *a: None if name == 'tensorflow' else real(name, *a)\n"
            "try:\n    import pneumonia_tf\nexcept ImportError as error:\n    print(error)")
    out = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    assert "needs TensorFlow" in out and "make install GPU=1" in out
