"""``parley``: the command line. This module alone turns errors into exit codes.

Exit codes (the table in docs/user-guide.md): 0 ok; 1 unexpected, a confirmation declined, or
``parley verify``: the bundle is invalid; 2 bad input or config (and usage errors); 3 not found;
4 verification or permission failure; 5 keystore; 6 storage; 7 network; 130 interrupted.

``--json`` may stand anywhere on the line (before a ``--``). With it, an error is one JSON object on
standard error, ``{"error": {"code": ..., "message": ..., "hint": ...}}``, with the same exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.markup import escape

from parley import __version__
from parley.cli.commands import LazyGroup
from parley.cli.options import Options, home_from, options
from parley.cli.output import err_console
from parley.cli.plain_values import plain_values
from parley.cli.progress import maybe_progress_bars
from parley.errors import ConfigError, ParleyError

app = typer.Typer(
    name="parley",
    cls=LazyGroup,  # the command groups of parley.cli.commands, imported when run
    help="Confidential negotiations: end-to-end encrypted, signed, tamper-evident.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
)


def _version(value: bool) -> None:
    if value:
        print(f"parley {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, "--home", help="Profile folder (default $PARLEY_HOME or ~/.parley)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable JSON output."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = Options(home_from(home), as_json)


@app.command("init")
def init(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Your party's name, e.g. 'Ukraine'."),
    relay_url: str = typer.Option(..., "--relay", help="Relay URL."),
    token: str = typer.Option(..., "--token", help="One-time enrolment token from the relay operator."),
    member: str = typer.Option("Head of delegation", "--member", help="Your title in the delegation."),
) -> None:
    """Set up this machine: create your party and your profile in --home (same as 'party create')."""
    from parley.cli import party

    party.create(ctx, name=name, relay=relay_url, token=token, member=member)


@app.command("export")
def export(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Encrypted export to write (must not exist)."),
) -> None:
    """Export your profile (verified negotiations, trust, settings), age-encrypted to your own key."""
    from parley.cli.common import open_client, options
    from parley.cli.output import console, emit
    from parley.client.export import export_profile

    result = export_profile(open_client(ctx), file.expanduser())
    emit(options(ctx).as_json, result, lambda: console.print(
        f"exported {len(result['negotiations'])} negotiations to {result['file']} (encrypted to your age key)"))


@app.command("unlock")
def unlock(
    ctx: typer.Context,
    timeout: int = typer.Option(15 * 60, "--timeout", min=1, max=24 * 3600,
                                help="Seconds the keys stay unlocked (default 15 minutes)."),
) -> None:
    """Keep this profile's keys unlocked for a while (a key agent on a socket only you can reach), so
    commands do not ask for the passphrase or run scrypt each time, and read commands are answered by the
    agent, which has the client loaded. 'parley lock' ends it early."""
    from parley.cli.output import console, emit
    from parley.client.agent import start_agent
    from parley.client.profile import Profile
    from parley.crypto.keystore import load_keystore, passphrase_from_env_or_prompt

    home = options(ctx).home
    if not Profile.exists(home):
        raise ConfigError(f"no parley profile in {home}", hint="create one with 'parley init' or pass --home")
    secrets = load_keystore(home / "keystore.age", passphrase_from_env_or_prompt())
    Profile.load_unlocked(home, secrets)  # the keys belong to this profile
    result = start_agent(home, secrets, timeout, entry="parley.cli.launch")  # it also runs read commands
    emit(options(ctx).as_json, result, lambda: console.print(
        f"keys of {home} unlocked for {timeout // 60} min {timeout % 60} s (agent pid {result['pid']}); "
        "'parley lock' locks them now"))


@app.command("lock")
def lock(ctx: typer.Context) -> None:
    """Forget the unlocked keys of this profile now (stops its key agent)."""
    from parley.cli.output import console, emit
    from parley.client.agent import lock as lock_agent

    home = options(ctx).home
    was_unlocked = lock_agent(home)
    emit(options(ctx).as_json, {"locked": True, "agent_was_running": was_unlocked}, lambda: console.print(
        "locked" if was_unlocked else "no key agent was running for this profile"))


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the relay, profiles and transcript."),
    ui: bool = typer.Option(False, "--ui", help="Leave one member's web UI serving at the end."),
) -> None:
    """Play the negotiation from the news report end to end on a local relay."""
    from parley.extras import require

    require("relay", "the demo (it runs a local relay)")
    from parley.demo import run_demo

    run_demo(out, keep_ui=ui)


def hoist_json_flag(argv: list[str]) -> tuple[list[str], bool]:
    """``--json`` anywhere before a ``--`` moves to the front, where the root command reads it."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--json" not in argv[:end]:
        return argv, False
    rest = [word for word in argv[:end] if word != "--json"] + argv[end:]
    return ["--json", *rest], True


def _fail(as_json: bool, code: str, message: str, hint: str | None, exit_code: int) -> int:
    """Report an error on standard error (JSON with ``--json``) and return its exit code."""
    if as_json:
        sys.stderr.write(json.dumps({"error": {"code": code, "message": message, "hint": hint}},
                                    ensure_ascii=False) + "\n")
    else:
        err_console.print(f"[bold red]error:[/bold red] {escape(message)}", markup=True, highlight=False)
        if hint:
            err_console.print(f"hint: {escape(hint)}", markup=True, highlight=False)
    return exit_code


def _without_httpx_command_line() -> None:
    """httpx imports its own command-line client when click and pygments are installed (the relay's
    uvicorn brings click; rich brings pygments): about 15 ms of imports in every command that talks to a
    relay, for a program parley never runs. Marking that one module as absent makes httpx define its
    stand-in instead (``httpx/__init__.py`` imports it under ``except ImportError``). Only before httpx is
    imported, so an httpx already loaded in this process is left as it is."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code. Every error ends here: parley's own (their class names the
    exit code), usage errors (2), interruptions (130) and, with ``--json`` only, anything unexpected (1)."""
    _without_httpx_command_line()
    args, as_json = hoist_json_flag(list(sys.argv[1:] if argv is None else argv))
    command = plain_values(typer.main.get_command(app))  # texts and paths read without pydantic
    try:
        with maybe_progress_bars(as_json, err_console):
            result = command.main(args=args, prog_name="parley", standalone_mode=False)
    except ParleyError as exc:
        return _fail(as_json, exc.code, exc.message, exc.hint, exc.exit_code)
    except typer.Abort:  # Ctrl-C (the framework turns KeyboardInterrupt into Abort)
        return _fail(as_json, "interrupted", "interrupted", None, 130)
    except KeyboardInterrupt:
        return _fail(as_json, "interrupted", "interrupted", None, 130)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        exit_code = getattr(exc, "exit_code", 2)
        if not as_json:
            exc.show()
            return exit_code
        context = getattr(exc, "ctx", None)
        where = context.command_path if context is not None else "parley"
        return _fail(True, "usage", exc.format_message(), f"see '{where} --help'", exit_code)
    except Exception as exc:
        if not as_json:
            raise
        return _fail(True, "unexpected", f"{exc.__class__.__name__}: {exc}", None, 1)
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
