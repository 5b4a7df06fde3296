"""Every command ends a user's mistake with one line, `error: ...`, and exit code 2; --debug shows the
traceback; real bugs keep theirs."""
from __future__ import annotations

import importlib
import io
import logging
import subprocess
import sys

import pytest

from pneumonia_tf.errors import UserError

MISSING = "no/such/path"
CASES = [
    ("pneumonia_tf.evaluate", ["--run", MISSING], "no such run folder"),
    ("pneumonia_tf.cam.__main__", ["--run", MISSING, "--out", "x"], "no such run folder"),
    ("pneumonia_tf.cam.__main__", ["score", "--run", MISSING], "no such run folder"),
    ("pneumonia_tf.results", ["no_such_study"], "no such experiment file"),
    ("pneumonia_tf.reproduce", ["no_such_study"], "no such experiment file"),
    ("pneumonia_tf.reproduce", ["seed000", "--jobs", "two"], "--jobs two: expected a number of processes"),
    ("pneumonia_tf.reproduce", ["seed000", "--jobs", "2", "--strategy", "multiworker"], "use one or the other"),
    ("pneumonia_tf.lr_find", ["--data", MISSING, "--out", "x"], "no such file or folder"),
    ("pneumonia_tf.train", ["--data", MISSING, "--out", "x"], "no such file or folder"),
    ("pneumonia_tf.train", ["--model", "model9", "--out", "x"], "unknown model 'model9'"),
    ("pneumonia_tf.tune", ["--data", MISSING, "--out", "x"], "no such file or folder"),
    ("pneumonia_tf.dcgan.__main__", ["--class", "NORMAL", "--feature-run", MISSING], "no such run folder"),
    ("pneumonia_tf.data.__main__", ["summary", "--data", MISSING], "no such file or folder"),
    ("pneumonia_tf.bench", ["pipeline", "--data", MISSING], "no such file or folder"),
    ("pneumonia_tf.bench", ["cam", "--from-run", MISSING], "no such run folder"),
]


@pytest.mark.parametrize("module, argv, message", CASES, ids=[f"{m.split('.')[1]}-{a[0]}" for m, a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(module, argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(module).main
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_a_run_folder_without_its_model_is_named(tmp_path, capsys):
    from pneumonia_tf.evaluate import main
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "record.json").write_text('{"config": {}}')
    assert main(["--run", str(tmp_path / "run")]) == 2
    assert "not a finished run folder (no model.keras)" in capsys.readouterr().err


def test_debug_shows_the_traceback():
    from pneumonia_tf.evaluate import main
    with pytest.raises(UserError, match="no such run folder"):
        main(["--run", MISSING, "--debug"])


def test_python_dash_m_prints_one_line_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pneumonia_tf.evaluate", "--run", str(tmp_path / "absent")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'absent'}: no such run folder"]
    assert "Traceback" not in result.stderr


def test_python_dash_m_shows_the_commands_own_log(tmp_path):
    """`python -m pneumonia_tf.train` logs as "__main__": its INFO lines reach stderr all the same."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "record.json").write_text('{"config": {}}')
    result = subprocess.run([sys.executable, "-m", "pneumonia_tf.train", "--data", "synthetic:20", "--out", str(run)],
                            capture_output=True, text=True, timeout=180)
    # the folder has a record but no model: after the log line the run is refused (exit 2)
    assert f"{run}: finished run found (record.json)" in result.stderr, result.stderr[-2000:]


def test_the_log_goes_to_the_stderr_each_command_has_when_it_logs(monkeypatch):
    """Two commands in one process (as in the tests): the second one's log lines reach its own
    stderr, not the first one's (which may be closed by then)."""
    from pneumonia_tf.cli import show_log
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    show_log()
    logging.getLogger("pneumonia_tf.some_module").info("first command")
    monkeypatch.setattr(sys, "stderr", second)
    show_log()
    logging.getLogger("pneumonia_tf.some_module").info("second command")
    assert "second command" in second.getvalue() and "second command" not in first.getvalue()


def test_a_pinned_stderr_that_another_thread_closed_is_not_written_to(monkeypatch, tmp_path):
    """Two reproduce threads in one process (a test's jobs): the second cell_log pins the first's
    log.txt, which the first closes when its cell ends. The package log then goes to sys.stderr as it
    is, not into the closed file ('--- Logging error ---', ValueError: I/O operation on closed file)."""
    from pneumonia_tf.cli import log_stays_on_stderr, show_log
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    show_log()
    first_cell = open(tmp_path / "first.txt", "w")
    monkeypatch.setattr(sys, "stderr", first_cell)  # the first thread's cell_log redirect
    with log_stays_on_stderr():  # the second thread's cell starts
        first_cell.close()  # the first thread's cell ends
        monkeypatch.setattr(sys, "stderr", terminal)
        logging.getLogger("pneumonia_tf.reproduce").info("=== the second cell's DCGAN")
    assert "=== the second cell's DCGAN" in terminal.getvalue()
    assert "Logging error" not in terminal.getvalue()


def test_a_jobs_cell_log_takes_keras_output_but_the_package_log_stays_on_the_terminal(monkeypatch, tmp_path):
    """A --jobs child's cell: print() and warnings go to the cell's log.txt, while the package's
    lines logged inside it (a DCGAN's '=== ...' start line) still reach the stderr the command had."""
    from pneumonia_tf.cli import show_log
    from pneumonia_tf.reproduce import cell_log
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    show_log()
    with cell_log(tmp_path / "cell"):
        print("epoch 1/1 - loss 0.5")
        print("a warning", file=sys.stderr)
        logging.getLogger("pneumonia_tf.reproduce").info("=== table1 / smoke / dcgan / seed 0 / NORMAL")
    logging.getLogger("pneumonia_tf.reproduce").info("after the cell")
    log_txt = (tmp_path / "cell" / "log.txt").read_text()
    assert "epoch 1/1" in log_txt and "a warning" in log_txt and "===" not in log_txt
    assert "=== table1 / smoke / dcgan" in terminal.getvalue() and "after the cell" in terminal.getvalue()
    assert "a warning" not in terminal.getvalue()
