"""Shared CLI plumbing: the --home/--json options and opening a profile."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from parley.client.profile import DEFAULT_HOME, Profile
from parley.client.sdk import Client
from parley.crypto.keystore import passphrase_from_env_or_prompt


@dataclass
class Options:
    home: Path
    as_json: bool


def options(ctx: typer.Context) -> Options:
    return ctx.find_root().obj


def home_from(value: Path | None) -> Path:
    return (value or Path(os.environ.get("PARLEY_HOME", str(DEFAULT_HOME)))).expanduser()


def open_client(ctx: typer.Context) -> Client:
    """Unlock the profile in --home and connect to its relay.

    Raises:
        ConfigError: no profile; BadPassphraseError: wrong passphrase.
    """
    opts = options(ctx)
    profile = Profile.load(opts.home, passphrase_from_env_or_prompt())
    client = Client(profile)
    ctx.call_on_close(client.close)
    return client


def resolve_party(client: Client, name_or_id: str) -> str:
    """A party id from a name or id, looking in pinned parties first, then the relay directory."""
    for pinned in client.profile.trust.values():
        if name_or_id in (pinned.party_id, pinned.name):
            return pinned.party_id
    return client.find_party(name_or_id).party_id
