"""Run the ``parley`` CLI in this process, as a user's terminal would see it: exit code, stdout, stderr."""

from __future__ import annotations

import contextlib
import io

from parley.cli import output
from parley.cli.main import main


def run(*args: str) -> tuple[int, str, str]:
    """``parley ARGS…`` in-process; Rich's consoles and the standard streams are captured apart."""
    out, err = io.StringIO(), io.StringIO()
    output.console.file, output.err_console.file = out, err
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        output.console.file = output.err_console.file = None
    return code, out.getvalue(), err.getvalue()
