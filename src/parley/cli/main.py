"""``parley``: the command line. This module alone turns errors into exit codes.

Exit codes: 0 ok; 1 unexpected; 2 bad input or config; 3 not found; 4 verification
or permission failure (``parley verify``: the bundle is invalid); 5 keystore; 6 storage;
7 network; 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from parley import __version__
from parley.cli import agreement, audit, keys, negotiation, party, relay, workflow
from parley.cli.common import Options, home_from
from parley.cli.output import err_console
from parley.errors import ParleyError
from parley.ui.cli import ui_command

app = typer.Typer(
    name="parley",
    help="Confidential negotiations: end-to-end encrypted, signed, tamper-evident.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(party.app, name="party")
app.add_typer(negotiation.negotiation_app, name="negotiation")
app.add_typer(negotiation.message_app, name="message")
app.add_typer(negotiation.log_app, name="log")
app.add_typer(relay.app, name="relay")
app.add_typer(workflow.issue_app, name="issue")
app.add_typer(workflow.round_app, name="round")
app.add_typer(workflow.memo_app, name="memo")
app.add_typer(workflow.meeting_app, name="meeting")
app.add_typer(workflow.channel_app, name="channel")
app.command("status")(workflow.status)
app.command("trace")(audit.trace_command)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(agreement.agreement_app, name="agreement")
app.add_typer(keys.key_app, name="key")
app.command("verify")(agreement.verify_command)
app.command("statement")(agreement.statement_command)
workflow.memo_app.command("export")(audit.export_memo)
workflow.memo_app.command("pdf")(audit.memo_pdf)
app.command("ui")(ui_command)


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


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the relay, profiles and transcript."),
    ui: bool = typer.Option(False, "--ui", help="Leave one member's web UI serving at the end."),
) -> None:
    """Play the negotiation from the news report end to end on a local relay."""
    from parley.demo import run_demo

    run_demo(out, keep_ui=ui)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code.

    Usage errors, --help and typer.Exit are handled by the command framework (standalone
    mode), which ends with SystemExit; parley's own errors are turned into messages here.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="parley", standalone_mode=True)
    except ParleyError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc.message}", markup=True, highlight=False)
        if exc.hint:
            err_console.print(f"hint: {exc.hint}")
        return exc.exit_code
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


def run() -> None:
    sys.exit(main())
