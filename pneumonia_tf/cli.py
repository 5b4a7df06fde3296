"""One way for every `python -m pneumonia_tf.<command>` to parse its arguments and report errors.

    parser = cli.make_parser("python -m pneumonia_tf.evaluate", __doc__)
    ...
    @cli.entry_point
    def main(argv): args = parser.parse_args(argv); ...

A UserError (bad path, option, config key, data file) ends the command with `error: <one line>` on
stderr and exit code 2, as argparse does for a bad option; `--debug` shows its traceback instead.
Other exceptions are bugs and keep their tracebacks. Library code logs through `logging` (warnings for
data problems) and only entry points print: entry_point sends the package's log to stderr, one message
a line.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys

from pneumonia_tf.errors import UserError


def make_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """An ArgumentParser with the module docstring as its help and the shared --debug flag."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_debug(parser)
    return parser


def add_debug(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--debug", action="store_true", help="show the traceback of a user error")
    return parser


class StderrHandler(logging.StreamHandler):
    """A StreamHandler writing to sys.stderr as it is when a line is logged, not as it was when the
    handler was made: a second command in the same process (a test's captured stderr, a redirect)
    gets its own lines, and a closed earlier stream is never written to. Inside log_stays_on_stderr,
    the stderr of the block's start instead, unless it was closed meanwhile (in one process, another
    thread's cell_log can close the stream a block pinned)."""
    pinned: list = []  # the streams of the open log_stays_on_stderr blocks, innermost last

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return next((stream for stream in reversed(self.pinned) if not stream.closed), sys.stderr)


@contextlib.contextmanager
def log_stays_on_stderr():
    """While the block runs, the package log keeps writing to sys.stderr as it was when the block
    began, even when the block redirects sys.stderr (a --jobs cell's Keras output to its log.txt)."""
    StderrHandler.pinned.append(sys.stderr)
    try:
        yield
    finally:
        StderrHandler.pinned.pop()


def show_log() -> None:
    """Send pneumonia_tf's log (INFO and up) to stderr as bare lines, once per process."""
    log = logging.getLogger("pneumonia_tf")
    if not log.handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def entry_point(function):
    """Wrap `function(argv: list[str]) -> int` as a main(argv=None) that ends a UserError with one line
    and exit code 2 (re-raised with --debug)."""
    @functools.wraps(function)
    def main(argv=None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        show_log()
        try:
            return function(argv)
        except UserError as error:
            if "--debug" in argv:
                raise
            print(f"error: {error}", file=sys.stderr)
            return 2
    return main
