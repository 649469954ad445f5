"""The CLI's global plumbing: ``--json`` anywhere on the line, JSON errors with the same exit codes, shell
completion for bash, zsh and fish, and progress bars only on a terminal."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cli_runner import run
from parley.cli.main import hoist_json_flag
from parley.cli.progress import bars_wanted, progress_bars
from parley.client.sdk import verify_log
from parley.progress import listening, report

PARLEY = [sys.executable, "-c", "import sys; from parley.cli.main import run; sys.argv[0] = 'parley'; run()"]


@pytest.fixture
def relay_folder(tmp_path: Path) -> list[str]:
    code, _, err = run("relay", "init", "--data", str(tmp_path / "relay"), "--name", "cli.relay")
    assert code == 0, err
    return ["--data", str(tmp_path / "relay"), "--name", "cli.relay"]


def test_json_flag_anywhere_on_the_line(relay_folder: list[str]) -> None:
    first = run("--json", "relay", "info", *relay_folder)
    assert first[0] == 0
    for args in (("relay", "--json", "info", *relay_folder), ("relay", "info", *relay_folder, "--json"),
                 ("relay", "info", relay_folder[0], relay_folder[1], "--json", *relay_folder[2:])):
        assert run(*args) == first, args
    assert json.loads(first[1])["name"] == "cli.relay"


def test_json_flag_after_a_double_dash_is_an_argument() -> None:
    assert hoist_json_flag(["message", "send", "n", "--", "--json"]) == (["message", "send", "n", "--", "--json"],
                                                                        False)
    assert hoist_json_flag(["a", "--json", "b"]) == (["--json", "a", "b"], True)


@pytest.mark.parametrize("args, exit_code, code", [
    (["relay", "info", "--data", "/nonexistent/relay"], 2, "config"),  # a ParleyError
    (["message", "send"], 2, "usage"),  # a missing argument
    (["relay", "serve", "--port", "eighty"], 2, "usage"),  # a bad value
    (["--bogus"], 2, "usage"),
])
def test_errors_are_json_with_json_and_keep_their_exit_code(args: list[str], exit_code: int, code: str) -> None:
    plain = run(*args)
    assert plain[0] == exit_code
    assert not plain[2].lstrip().startswith("{")
    for where in (0, len(args)):
        with_json = run(*args[:where], "--json", *args[where:])
        assert with_json[0] == exit_code
        error = json.loads(with_json[2])["error"]
        assert error["code"] == code and error["message"]
        assert set(error) == {"code", "message", "hint"}
        assert with_json[1] == ""  # nothing on standard output


def test_a_storage_error_is_json_with_exit_code_six(tmp_path: Path, relay_folder: list[str]) -> None:
    database = tmp_path / "empty.db"
    database.touch()
    code, out, err = run("relay", "invite-party", "Ukraine", *relay_folder, "--database", str(database), "--json")
    assert code == 6 and out == ""
    error = json.loads(err)["error"]
    assert error["code"] == "storage" and "parley relay migrate" in error["hint"]


@pytest.mark.parametrize("shell, variables, expected", [
    ("bash", {"_PARLEY_COMPLETE": "complete_bash", "COMP_WORDS": "parley relay mi", "COMP_CWORD": "2"}, "migrate"),
    ("zsh", {"_PARLEY_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "parley relay mi"}, "migrate"),
    ("fish", {"_PARLEY_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": "parley relay mi",
              "_TYPER_COMPLETE_FISH_ACTION": "get-args"}, "migrate"),
    ("bash", {"_PARLEY_COMPLETE": "complete_bash", "COMP_WORDS": "parley rel", "COMP_CWORD": "1"}, "relay"),
])
def test_completion_answers_each_shell(shell: str, variables: dict[str, str], expected: str) -> None:
    env = {**os.environ, **variables, "PYTHONPATH": os.pathsep.join(sys.path)}
    answer = subprocess.run(PARLEY, capture_output=True, text=True, env=env, timeout=60)
    assert answer.returncode == 0, answer.stderr
    assert expected in answer.stdout, (shell, answer.stdout)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_install_completion_in_bash_completes_for_real(tmp_path: Path) -> None:
    """`parley --install-completion` from bash, then bash itself completes `parley rel` to `relay`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "parley"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"import sys; from parley.cli.main import run; "
                        f"sys.argv[0] = 'parley'; run()\" \"$@\"\n")
    launcher.chmod(0o755)
    env = {"HOME": str(tmp_path), "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHONPATH": os.pathsep.join(sys.path)}
    # "; exit $?": bash stays parley's parent (a lone command would be exec'd in its place), so the shell
    # parley detects is bash whatever started the test
    installed = subprocess.run(["bash", "-c", "parley --install-completion; exit $?"], capture_output=True,
                               text=True, env=env, timeout=60)
    assert installed.returncode == 0, installed.stderr
    assert "bash completion installed" in installed.stdout
    shown = subprocess.run(["bash", "-c", "parley --show-completion; exit $?"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert shown.returncode == 0 and "_PARLEY_COMPLETE=complete_bash" in shown.stdout
    completed = subprocess.run(["bash", "-c", "source ~/.bashrc; COMP_WORDS=(parley rel); COMP_CWORD=1; "
                                "_parley_completion parley rel parley; echo ${COMPREPLY[@]}"], capture_output=True, text=True,
                               env=env, timeout=60)
    assert completed.stdout.split() == ["relay"], completed.stderr


def test_progress_bars_only_on_a_terminal_and_without_json() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    pipe = Console(file=io.StringIO(), force_terminal=False)
    assert bars_wanted(False, terminal)
    assert not bars_wanted(True, terminal) and not bars_wanted(False, pipe)
    with progress_bars(terminal):
        report("fetching events", 5, 10)
    assert "fetching events" in terminal.file.getvalue()


def test_sync_and_log_verify_report_their_progress(world) -> None:  # noqa: ANN001
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    for index in range(5):
        ua.send_message(nid, f"message {index}")
    seen: list[tuple[str, int, int | None]] = []
    with listening(lambda task, done, total: seen.append((task, done, total))):
        size = ru.sync(nid).size
        verify_log(ru, nid)
    fetched = [(done, total) for task, done, total in seen if task == "fetching events"]
    assert fetched and fetched[-1][0] == fetched[-1][1] > 0
    checked = [(done, total) for task, done, total in seen if task == "checking the relay's log"]
    assert checked[-1] == (size, size)
    seen.clear()
    report("nobody listens", 1, 1)  # outside the block: no listener, nothing happens
    assert seen == []
