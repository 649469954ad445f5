"""The CLI's command groups, imported only when a command line names them.

A command's module pulls in what it works with (the client, the relay, PDF, tracing, the Paillier
library...): importing them all made ``parley --help`` load hundreds of modules. The top-level group
lists every command from the table below, with the one-line help it shows, and imports a module when
its command runs (``tests/cli/test_cli_startup.py`` keeps the table's help equal to the commands' own).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

import typer
from typer.core import TyperCommand, TyperGroup

from parley.cli.plain_values import plain_values


@dataclass(frozen=True)
class LazyCommand:
    """A command named ``name``: ``attribute`` of ``module`` (a Typer app, or a command function)."""

    module: str
    attribute: str
    help: str


#: every command but the few defined in ``parley.cli.main``, in the order ``parley --help`` lists them
LAZY_COMMANDS: dict[str, LazyCommand] = {
    "party": LazyCommand("parley.cli.party", "app", "Your party: members, fingerprints, and trust in other parties."),
    "negotiation": LazyCommand("parley.cli.negotiation", "negotiation_app", "Open, join and inspect negotiations."),
    "message": LazyCommand("parley.cli.negotiation", "message_app", "Plain encrypted messages between parties."),
    "log": LazyCommand("parley.cli.negotiation", "log_app", "The tamper-evident log of a negotiation."),
    "relay": LazyCommand("parley.cli.relay", "app",
                         "Create and run a relay, migrate its database, manage its enrolments."),
    "issue": LazyCommand("parley.cli.workflow", "issue_app", "Key issues on the agenda."),
    "round": LazyCommand("parley.cli.workflow", "round_app", "Rounds of talks."),
    "memo": LazyCommand("parley.cli.workflow", "memo_app", "Position memoranda, receipts and official responses."),
    "meeting": LazyCommand("parley.cli.workflow", "meeting_app", "Meeting proposals and answers."),
    "channel": LazyCommand("parley.cli.workflow", "channel_app", "Standing channels between some of the parties."),
    "status": LazyCommand("parley.cli.workflow", "status",
                          "What awaits whose official response (with memo ids), the positions matrix, meetings and "
                          "the timeline."),
    "due": LazyCommand("parley.cli.workflow", "due",
                       "Official responses, meeting answers and signatures due or overdue, across all your "
                       "negotiations."),
    "trace": LazyCommand("parley.cli.audit", "trace_command",
                         "Trace a leaked excerpt to the recipient(s) whose copy it came from, offline, from the "
                         "local copy."),
    "audit": LazyCommand("parley.cli.audit", "audit_app", "Who fetched what from the relay."),
    "agreement": LazyCommand("parley.cli.agreement", "agreement_app",
                             "The single negotiating text, signatures, release and publication."),
    "key": LazyCommand("parley.cli.keys", "key_app", "This device's keys."),
    "verify": LazyCommand("parley.cli.agreement", "verify_command",
                          "Verify a publication bundle offline, with no relay: exit 0 when valid, 1 when not, naming "
                          "what failed."),
    "search": LazyCommand("parley.cli.search", "search_command",
                          "Find memoranda, official responses, messages, objections and attachments' text by words, "
                          "in the local copy of the negotiation (no relay is contacted: 'parley status' syncs "
                          "it first)."),
    "statement": LazyCommand("parley.cli.agreement", "statement_command",
                             "Post a public statement (a joint communiqué): cleartext, shown on the relay's public "
                             "page."),
    "ui": LazyCommand("parley.ui.cli", "ui_command",
                      "Serve the local web UI on 127.0.0.1. The first line printed is its URL, with a per-launch "
                      "token."),
    "witness": LazyCommand("parley.cli.witness", "app",
                           "Witnessed checkpoints: every party's client cosigns the log it verified, with its next "
                           "act or with 'parley witness cosign'."),
    "zopa": LazyCommand("parley.cli.zopa", "app",
                        "Blind check that a deal zone exists on an issue (nobody learns the other's number)."),
    "backup": LazyCommand("parley.cli.backup", "app",
                          "Recovery files: back up this profile's keys, pins and verified history; restore them."),
    "watch": LazyCommand("parley.cli.watch", "watch_command",
                         "Tell me (one terminal line each) when something awaits me: an official response due, a "
                         "meeting to answer, a text to sign. Nothing about content leaves this machine."),
    "outbox": LazyCommand("parley.cli.outbox", "outbox_command",
                          "Acts made while the relay could not be reached: pending ones are posted in order when it "
                          "is back (by the next command, or now with --flush); refused ones say why. None is lost or "
                          "posted twice."),
    "history": LazyCommand("parley.cli.history", "app",
                           "Earlier content for a new device or a late party: granted by a head, in the log."),
    "device": LazyCommand("parley.cli.devices", "app",
                          "Your devices: link a new one with a short code, list them, remove a lost one."),
}


@functools.cache
def load_command(name: str) -> TyperCommand | TyperGroup:
    """The click command behind ``name`` (its module imported now, once)."""
    entry = LAZY_COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    # Mounted on an app of its own, as the top level would mount it (no completion options of its own).
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
        holder.callback()(lambda: None)  # keeps the group a group, with ``name`` under it
        return plain_values(typer.main.get_command(holder).commands[name])  # type: ignore[attr-defined]
    holder.command(name)(target)  # one command: the app is that command
    return plain_values(typer.main.get_command(holder))


class _Listed(TyperCommand):
    """What the top-level help needs of a command not imported yet: its name and one-line help."""

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help=help_text, short_help=help_text)


class LazyGroup(TyperGroup):
    """The top-level ``parley`` group: commands of ``LAZY_COMMANDS`` are imported when run, not when listed."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*LAZY_COMMANDS, *(name for name in super().list_commands(ctx) if name not in LAZY_COMMANDS)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name in LAZY_COMMANDS:
            if getattr(ctx, "_parley_listing", False):
                return _Listed(cmd_name, LAZY_COMMANDS[cmd_name].help)
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: typer.Context, formatter) -> None:  # noqa: ANN001 - the framework's formatter
        # Listing the commands must not import them: help reads the table's one-line help instead.
        ctx._parley_listing = True  # type: ignore[attr-defined]
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx._parley_listing = False  # type: ignore[attr-defined]

__all__ = ["LAZY_COMMANDS", "LazyCommand", "LazyGroup", "load_command"]
