"""``parley --help`` lists every command without importing them; the list says what each command says. Read
commands (``status``, ``memo list``, ``negotiation list``) import only what they use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from parley.cli.commands import LAZY_COMMANDS, load_command
from parley.cli.main import app


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_listed_help_is_the_commands_own(name: str) -> None:
    command = load_command(name)
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert LAZY_COMMANDS[name].help == own, f"update the help of '{name}' in parley.cli.commands"


def test_every_command_is_listed_once() -> None:
    group = typer.main.get_command(app)
    names = group.list_commands(typer.Context(group))
    assert len(names) == len(set(names))
    assert {"party", "memo", "agreement", "init", "unlock", "demo"} <= set(names)


def test_help_imports_no_command_module() -> None:
    probe = ("import sys, contextlib, io\n"
             "from parley.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    code = main(['--help'])\n"
             "import json; print(json.dumps([code, sorted(m for m in sys.modules if m.startswith('parley'))]))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0
    heavy = [m for m in modules if m.split(".")[1:2] and m.split(".")[1] in {"client", "relay", "store", "tracing", "protocol", "ui", "tlog"}
             or m in {f"parley.cli.{name}" for name in ("party", "workflow", "agreement", "zopa", "audit")}]
    assert heavy == []


#: what no read command needs: typer's pydantic conversion (``parley.cli.plain_values``), httpx's own command
#: line, progress bars nobody asked for, leak tracing beyond removing marks, PDF, calendars, the relay's
#: stack, the web UI, the Paillier library
NOT_FOR_READING = ("pydantic", "pydantic_core", "typer._adapters", "click", "pygments", "rich.progress", "rich.syntax",
                   "parley.tracing.trace", "parley.tracing.code", "parley.tracing.document", "parley.tracing.wording",
                   "parley.tracing.extract", "parley.tracing.drafts", "parley.client.tracing", "parley.client.pdf", "parley.client.bundle",
                   "fpdf", "pypdf", "icalendar", "parley.relay", "parley.store", "sqlalchemy", "alembic", "uvicorn",
                   "fastapi", "starlette", "parley.ui", "parley.demo", "phe", "PIL", "rich._emoji_codes")


@pytest.fixture(scope="module")
def unlocked_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], str, str]]:
    """(environment, profile folder, negotiation id): a party with one negotiation and a message in it, its keys
    unlocked by the key agent, its relay on a loopback port."""
    from cli_runner import run
    from parley.client import agent
    from parley.demo import DEMO_RELAY_NAME, LocalRelay

    tmp = tmp_path_factory.mktemp("reads")
    agent_dir = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))  # short: AF_UNIX paths
    env = {**os.environ, agent.AGENT_DIR_ENV: str(agent_dir), "PARLEY_PASSPHRASE": "correct horse"}
    home = tmp / "ua"
    data = ["--data", str(tmp / "relay"), "--database", str(tmp / "relay.db"), "--name", DEMO_RELAY_NAME]
    with pytest.MonkeyPatch.context() as patch, LocalRelay(tmp / "relay", tmp / "relay.db") as local:
        for name, value in env.items():
            patch.setenv(name, value)
        code, out, err = run("--json", "relay", "invite-party", "Ukraine", *data)
        assert code == 0, err
        code, _, err = run("--home", str(home), "party", "create", "Ukraine", "--relay", local.url, "--token",
                           json.loads(out)["token"])
        assert code == 0, err
        code, out, err = run("--json", "--home", str(home), "negotiation", "create")
        assert code == 0, err
        negotiation = json.loads(out)["negotiation_id"]
        assert run("--home", str(home), "message", "send", negotiation, "Opening position.")[0] == 0
        assert run("--home", str(home), "unlock", "--timeout", "600")[0] == 0
        try:
            yield {key: value for key, value in env.items() if key != "PARLEY_PASSPHRASE"}, str(home), negotiation
        finally:
            agent.lock(home)
            shutil.rmtree(agent_dir, ignore_errors=True)


@pytest.mark.parametrize("command", [["status", "{n}"], ["memo", "list", "{n}"], ["negotiation", "list"]],
                         ids=" ".join)
def test_read_commands_import_only_what_they_use(unlocked_profile: tuple[dict[str, str], str, str],
                                                 command: list[str]) -> None:
    """A read command in a fresh process, as typed (``parley.cli.main.run``), loads none of ``NOT_FOR_READING``."""
    env, home, negotiation = unlocked_profile
    probe = ("import sys, contextlib, io, json\n"
             "from parley.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
             "    code = main(sys.argv[1:])\n"
             "print(json.dumps([code, out.getvalue(), sorted(sys.modules)]))\n")
    args = ["--home", home, *(word.format(n=negotiation) for word in command)]
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    code, out, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0, done.stderr
    assert out.strip(), "the command answered nothing"
    loaded = [m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_FOR_READING)]
    assert loaded == []
    # the probe sees what it checks: the client and its relay connection were there
    assert {"parley.client.sdk", "httpx", "httpcore"} <= set(modules)


def _parley(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``parley ARGS`` as the installed program runs it (``parley.cli.launch``), in a fresh process."""
    return subprocess.run([sys.executable, "-m", "parley", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("command", [["status", "{n}"], ["--json", "memo", "list", "{n}"], ["status", "n-0000"],
                                     ["issue", "list"]], ids=" ".join)
def test_read_command_run_by_the_agent_answers_as_it_would_here(unlocked_profile: tuple[dict[str, str], str, str],
                                                                command: list[str]) -> None:
    """Output, errors and exit code are the same whether the key agent runs the command or this process does
    (a missing negotiation, a usage error)."""
    env, home, negotiation = unlocked_profile
    args = ["--home", home, *(word.format(n=negotiation) for word in command)]
    by_agent = _parley(args, env)
    here = _parley(args, {**env, "PARLEY_AGENT_RUNS": "0"})
    assert (by_agent.returncode, by_agent.stdout, by_agent.stderr) == (here.returncode, here.stdout, here.stderr)
    assert by_agent.stdout or by_agent.stderr


def test_read_command_is_run_by_the_agent_on_this_process_streams(unlocked_profile: tuple[dict[str, str], str, str],
                                                                   capfd: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_in_agent`` answers only when the agent started the command; the command writes on the caller's
    own standard output."""
    from parley.client import agent

    env, home, negotiation = unlocked_profile
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert agent.run_in_agent(Path(home), ["--home", home, "status", negotiation]) == 0
    assert negotiation in capfd.readouterr().out
    assert agent.run_in_agent(Path(home), ["--home", home, "status", "n-0000"]) == 3  # not found


def test_agent_runs_no_command_of_other_parley_code(unlocked_profile: tuple[dict[str, str], str, str],
                                                    capfd: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller of another parley version or installation runs its command itself: an agent left running
    across an upgrade never answers with its older code."""
    from parley.client import agent

    env, home, negotiation = unlocked_profile
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(agent, "code_identity", lambda: "0.0.1 /elsewhere/parley /usr/bin/python3")
    assert agent.run_in_agent(Path(home), ["--home", home, "status", negotiation]) is None
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize(("argv", "expected"), [
    (["status", "n-1"], "~/.parley"),
    (["--home", "/p/ua", "memo", "list", "n-1"], "/p/ua"),
    (["--home=/p/ua", "--json", "negotiation", "list"], "/p/ua"),
    (["--json", "--home", "/p/ua", "due", "--mine"], "/p/ua"),
    (["--home", "/p/ua", "memo", "deliver", "n-1", "x"], None),
    (["--home", "/p/ua", "message", "send", "n-1", "status"], None),
    (["--home", "/p/ua", "unlock"], None),
    (["--home", "/p/ua", "ui"], None),
    (["--home"], None),
    (["memo"], None),
    ([], None),
])
def test_only_read_commands_go_to_the_agent(argv: list[str], expected: str | None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.cli.launch import read_command_home

    monkeypatch.delenv("PARLEY_HOME", raising=False)
    home = read_command_home(argv)
    assert home == (None if expected is None else Path(expected).expanduser())
