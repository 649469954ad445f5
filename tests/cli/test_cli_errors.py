"""Exit codes and messages for mistakes a user makes at the command line (no relay needed)."""

from __future__ import annotations

import contextlib
import io

from parley.cli.main import main


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(args))
    return code, out.getvalue()


def test_missing_argument_is_a_usage_error_not_a_traceback():
    code, text = run("message", "send")
    assert code == 2
    assert "Traceback" not in text


def test_unknown_option_is_a_usage_error():
    code, text = run("--bogus")
    assert code == 2 and "Traceback" not in text


def test_help_and_version_exit_zero():
    assert run("--help")[0] == 0
    code, text = run("--version")
    assert code == 0 and text.startswith("parley ")


def test_missing_profile_says_how_to_create_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_PASSPHRASE", "x")
    code, _ = run("--home", str(tmp_path / "none"), "negotiation", "list")
    assert code == 2


def test_verify_of_a_missing_bundle_exits_one(tmp_path):
    code, text = run("verify", str(tmp_path / "nothing-here"))
    assert code == 1 and "INVALID" in text


def test_an_error_on_a_pipe_stays_one_line_whatever_its_length(tmp_path):
    """Logs and scripts grep a message whole: Rich must not break it at the console's width."""
    home = tmp_path / ("a-folder-with-a-long-name-" * 6) / "profile"
    code, text = run("relay", "invite-party", "Ukraine", "--data", str(home))
    assert code == 2
    (line,) = [line for line in text.splitlines() if line.startswith("error:")]
    assert str(home) in line and "holds no relay key" in line
