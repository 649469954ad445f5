"""Shared CLI plumbing: opening a profile and its client (the options live in ``parley.cli.options``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from parley.cli.options import options
from parley.cli.output import err_console
from parley.client.profile import Profile, read_public
from parley.client.sdk import Client
from parley.crypto.keystore import passphrase_from_env_or_prompt
from parley.errors import ConfigError, InputError

if TYPE_CHECKING:
    from parley.client.workflow import Negotiation


def unlock_profile(home: Path) -> Profile:
    """The profile in ``home`` with its keys: from its key agent (``parley unlock``) when one runs, else
    from the keystore with the passphrase.

    Raises:
        ConfigError: no profile, or an agent folder that is not private; BadPassphraseError: wrong passphrase.
    """
    from parley.client.agent import agent_secrets

    if not Profile.exists(home):
        raise ConfigError(f"no parley profile in {home}", hint="create one with 'parley init' or pass --home")
    secrets = agent_secrets(home)
    if secrets is not None:
        return Profile.load_unlocked(home, secrets)
    public, _ = read_public(home)
    whose = f"{public['member']} ({public['party']['name']}), profile {home}"
    return Profile.load(home, passphrase_from_env_or_prompt(whose=whose))


def open_client(ctx: typer.Context) -> Client:
    """Unlock the profile in --home and connect to its relay.

    Raises:
        ConfigError: no profile; BadPassphraseError: wrong passphrase.
    """
    opts = options(ctx)
    client = Client(unlock_profile(opts.home))
    ctx.call_on_close(client.close)
    # With the relay away, reads show the verified local copy and acts wait in the outbox
    # (parley.client.offline); what waited is posted first once the relay answers again.
    client.offline_ok = True
    _flush_outbox(client)
    ctx.call_on_close(lambda: _tell_offline(client))  # runs before close (last registered, first run)
    return client


def _flush_outbox(client: Client) -> None:
    from parley.client import offline

    if not offline.pending_count(client):
        return
    for item in offline.flush(client):
        if item["state"] == "posted":
            err_console.print(f"outbox: posted {item['type']} to {item['negotiation_id']} (event {item['seq']})",
                              markup=False, highlight=False, soft_wrap=True)
        else:
            err_console.print(f"outbox: REFUSED {item['type']} to {item['negotiation_id']}: {item['message']}",
                              markup=False, highlight=False, soft_wrap=True)


def _tell_offline(client: Client) -> None:
    """On standard error: which views came from the local copy (as of when), and what waits in the outbox."""
    from parley.client import offline

    for mark in client.offline.values():
        err_console.print(f"the relay cannot be reached: {mark['negotiation_id']} is shown as of its last verified "
                          f"checkpoint (size {mark['size']}, verified {mark['verified_at'] or 'before'})",
                          markup=False, highlight=False, soft_wrap=True)
    waiting = offline.pending_count(client)
    if waiting:
        err_console.print(f"{waiting} act(s) wait in the outbox, pending: they are posted in order when the relay is "
                          "back (parley outbox)", markup=False, highlight=False, soft_wrap=True)


def open_negotiation(ctx: typer.Context, client: Client, negotiation_id: str, *, read: bool,
                     whole_command: bool = True) -> Negotiation:
    """A negotiation after one verified sync. For a ``read`` command it posts nothing; a command that posts
    anyway, once it succeeded, also sends what this client owes the talks (delivery receipts, a head's
    party verifications, the title for parties that joined later: each once, so usually nothing).

    With ``whole_command`` the rest of the command is one act under the profile lock (``Client.one_act``):
    the command's checks see this listing, and an act it then takes lists nothing again, so a command
    costs at most one listing and the one post it was typed for.

    Raises:
        VerificationError (any subclass): the relay's log does not verify.  BusyError: the profile is busy.
    """
    from parley.client.workflow import Negotiation

    if whole_command:
        ctx.with_resource(client.one_act())
    negotiation = Negotiation(client, negotiation_id)
    negotiation.sync(receipts=False)
    if not read:
        def owed() -> None:
            # Closing the context while an error unwinds it: the command failed, so nothing more is posted.
            if sys.exc_info()[0] is None:
                negotiation.send_owed()

        ctx.call_on_close(owed)  # runs before the act ends (the context's resources close last-in first-out)
    return negotiation


def resolve_party(client: Client, name_or_id: str) -> str:
    """A party id from a name or id, looking in pinned parties first, then the relay directory."""
    for pinned in client.profile.trust.values():
        if name_or_id in (pinned.party_id, pinned.name):
            return pinned.party_id
    return client.find_party(name_or_id).party_id


def confirm(question: str, yes: bool) -> None:
    """Ask before an act that cannot be taken back; ``--yes`` answers for scripts.

    Raises:
        InputError: no terminal to ask on and no ``--yes`` (nothing is changed).
        typer.Exit: the person said no (exit 1; nothing is changed).
    """
    if yes:
        return
    if not os.isatty(0):
        raise InputError(f"{question} (no terminal to confirm on; nothing was changed)",
                         hint="add --yes to confirm from a script")
    if not typer.confirm(question, default=False):
        err_console.print("Cancelled; nothing was changed.")
        raise typer.Exit(1)
