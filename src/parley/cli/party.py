"""``parley party ...``: create a party, members, fingerprints and trust."""

from __future__ import annotations

import io
from pathlib import Path

import segno
import typer

from parley.cli.common import open_client, options, resolve_party
from parley.cli.output import console, emit, table
from parley.client.profile import Profile
from parley.client.sdk import Client
from parley.crypto.fingerprint import fingerprint_digits
from parley.crypto.keystore import passphrase_from_env_or_prompt
from parley.errors import ConfigError, NotFoundError
from parley.protocol.identity import ROLES

app = typer.Typer(help="Your party: members, fingerprints, and trust in other parties.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The party's name, e.g. 'Ukraine'."),
    relay: str = typer.Option(..., "--relay", help="Relay URL, e.g. http://127.0.0.1:8470"),
    token: str = typer.Option(..., "--token", help="One-time enrolment token from the relay operator."),
    member: str = typer.Option("Head of delegation", "--member", help="Your title in the delegation."),
) -> None:
    """Create a party root key and your (head of delegation) profile in --home, and enrol at the relay."""
    opts = options(ctx)
    client = Client.create_party(opts.home, relay_url=relay, party_name=name, member=member, token=token,
                                 passphrase=passphrase_from_env_or_prompt(confirm=True))
    party = client.profile.party
    emit(opts.as_json, {"party_id": party.party_id, "name": party.name, "fingerprint": fingerprint_digits(party.root_key),
                        "home": str(opts.home), "relay_vkey": client.profile.relay_vkey},
         lambda: console.print(f"Created party '{party.name}' ({party.party_id}) in {opts.home}\n"
                               f"Fingerprint: [bold]{fingerprint_digits(party.root_key)}[/bold]\n"
                               "Read it to the other parties out of band; they run 'parley party trust'."))
    client.close()


def _party_view(client: Client, party_id: str) -> dict:
    record, certs = client.fetch_party(party_id)
    pinned = client.profile.trust.get(party_id)
    return {
        "party_id": record.party_id, "name": record.name, "root_key": record.root_key,
        "fingerprint": fingerprint_digits(record.root_key),
        "trust": "verified" if pinned and pinned.verified else ("pinned, UNVERIFIED" if pinned else "not pinned"),
        "members": [{"member": c.member, "role": c.role, "device_key_id": c.device_key_id,
                     "not_after": c.not_after} for c in certs],
    }


@app.command("show")
def show(ctx: typer.Context, party: str | None = typer.Argument(None, help="Party name or id (default: yours).")) -> None:
    """Show a party: fingerprint, trust state, members."""
    client = open_client(ctx)
    party_id = client.profile.party.party_id if party is None else resolve_party(client, party)
    view = _party_view(client, party_id)

    def human() -> None:
        console.print(f"[bold]{view['name']}[/bold]  ({view['party_id']})  trust: {view['trust']}")
        console.print(f"fingerprint: {view['fingerprint']}")
        table("Members", ["member", "role", "device key", "valid until"],
              [(m["member"], m["role"], m["device_key_id"], m["not_after"]) for m in view["members"]])

    emit(options(ctx).as_json, view, human)


@app.command("list")
def list_parties(ctx: typer.Context) -> None:
    """Parties enrolled at the relay, with your trust in each."""
    client = open_client(ctx)
    rows = []
    for record in client.list_parties():
        pinned = client.profile.trust.get(record.party_id)
        rows.append({"party_id": record.party_id, "name": record.name,
                     "fingerprint": fingerprint_digits(record.root_key),
                     "trust": "verified" if pinned and pinned.verified else ("UNVERIFIED" if pinned else "not pinned")})
    emit(options(ctx).as_json, rows, lambda: table("Parties", ["name", "id", "fingerprint", "trust"],
                                                   [(r["name"], r["party_id"], r["fingerprint"], r["trust"]) for r in rows]))


@app.command("fingerprint")
def fingerprint(
    ctx: typer.Context,
    party: str | None = typer.Argument(None, help="Party name or id (default: yours)."),
    qr: Path | None = typer.Option(None, "--qr", help="Also write a QR code (.png or .svg) of the fingerprint."),
) -> None:
    """Print a party's root-key fingerprint as digits (and a QR code) for out-of-band comparison."""
    client = open_client(ctx)
    party_id = client.profile.party.party_id if party is None else resolve_party(client, party)
    pinned = client.profile.trust.get(party_id)
    record = client.fetch_party(party_id)[0] if pinned is None else None
    root_key, name = (pinned.root_key, pinned.name) if pinned else (record.root_key, record.name)
    digits = fingerprint_digits(root_key)
    code = segno.make(f"parley-fingerprint:{party_id}:{digits.replace(' ', '')}", error="m")
    if qr is not None:
        code.save(str(qr), scale=6)

    def human() -> None:
        console.print(f"{name}: [bold]{digits}[/bold]")
        buffer = io.StringIO()
        code.terminal(out=buffer, compact=True)
        console.print(buffer.getvalue())

    emit(options(ctx).as_json, {"party_id": party_id, "name": name, "fingerprint": digits,
                                "qr": None if qr is None else str(qr)}, human)


@app.command("trust")
def trust(
    ctx: typer.Context,
    party: str = typer.Argument(..., help="Party name or id."),
    fingerprint_digits_typed: str = typer.Option(..., "--fingerprint",
                                                 help="The 30 digits the party read to you out of band."),
) -> None:
    """Pin a party's root key after comparing its fingerprint out of band."""
    client = open_client(ctx)
    party_id = resolve_party(client, party)
    client.trust_party(party_id, fingerprint_digits_typed)
    pinned = client.profile.trust[party_id]
    emit(options(ctx).as_json, {"party_id": party_id, "name": pinned.name, "verified": True},
         lambda: console.print(f"'{pinned.name}' is now verified."))


@app.command("add-member")
def add_member(
    ctx: typer.Context,
    member: str = typer.Option(..., "--name", help="The member's title, e.g. 'Delegate (security)'."),
    role: str = typer.Option("delegate", "--role", help=f"One of: {', '.join(ROLES)}."),
    out: Path = typer.Option(..., "--out", help="Folder for the new member's profile (hand it over securely)."),
) -> None:
    """Certify a new member device with the party root and write its profile (administrator only)."""
    client = open_client(ctx)
    if Profile.exists(out):
        raise ConfigError(f"a profile already exists in {out}")
    profile = client.add_member(out, member=member, role=role, passphrase=passphrase_from_env_or_prompt())
    emit(options(ctx).as_json, {"member": member, "role": role, "device_key_id": profile.identity.device_key_id,
                                "home": str(out)},
         lambda: console.print(f"Added {member} ({role}); profile written to {out}"))


@app.command("remove-member")
def remove_member(ctx: typer.Context, member: str = typer.Argument(..., help="Member title or device key id.")) -> None:
    """Revoke a member device (administrator only); it is removed from every negotiation."""
    client = open_client(ctx)
    _, certs = client.fetch_party(client.profile.party.party_id)
    matches = [c for c in certs if member in (c.member, c.device_key_id)]
    if len(matches) != 1:
        raise NotFoundError(f"no single member matches '{member}'")
    revocation = client.remove_member(matches[0].device_key_id)
    emit(options(ctx).as_json, revocation.to_obj(),
         lambda: console.print(f"Removed {matches[0].member} as of {revocation.revoked_at}"))


@app.command("rotate-root")
def rotate_root(ctx: typer.Context) -> None:
    """Replace your party's root key (administrator): signed by the old root, announced in every negotiation."""
    client = open_client(ctx)
    rotation = client.rotate_root(passphrase_from_env_or_prompt())
    emit(options(ctx).as_json, rotation.to_obj(), lambda: console.print(
        f"New root key fingerprint: [bold]{fingerprint_digits(rotation.new_root_key)}[/bold]\n"
        "Other parties' clients follow the rotation (it is signed by the old root); read them the new digits."))
