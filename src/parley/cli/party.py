"""``parley party ...``: create a party, members, fingerprints and trust."""

from __future__ import annotations

import io
from pathlib import Path

import segno
import typer

from parley.cli.common import open_client, options, resolve_party
from parley.cli.output import console, emit, err_console, table
from parley.client.agent import agent_secrets
from parley.client.profile import Profile, read_public
from parley.client.sdk import Client
from parley.crypto.fingerprint import fingerprint_digits
from parley.crypto.keystore import new_member_passphrase, passphrase_from_env_or_prompt
from parley.errors import ConfigError, InputError, NotFoundError
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
                                 passphrase=passphrase_from_env_or_prompt(
                                     confirm=True, whose=f"{member} ({name}), profile {opts.home}"))
    party = client.profile.party
    emit(opts.as_json, {"party_id": party.party_id, "name": party.name, "fingerprint": fingerprint_digits(party.root_key),
                        "home": str(opts.home), "relay_vkey": client.profile.relay_vkey},
         lambda: console.print(f"Created party '{party.name}' ({party.party_id}) in {opts.home}\n"
                               f"Fingerprint: [bold]{fingerprint_digits(party.root_key)}[/bold]\n"
                               "Read it to the other parties out of band; they run 'parley party trust'."))
    client.close()


def _party_view(client: Client, party_id: str) -> dict:
    from parley.client import offline
    from parley.errors import TransportError

    as_of = None
    try:
        record, certs = client.fetch_party(party_id)
    except TransportError as exc:
        if not offline.unreachable(exc):
            raise
        record, certs = offline.local_party(client, party_id)  # the directory is out of reach
        as_of = "the verified local copy (the relay cannot be reached)"
    pinned = client.profile.trust.get(party_id)
    view = {
        "party_id": record.party_id, "name": record.name, "root_key": record.root_key,
        "fingerprint": fingerprint_digits(record.root_key),
        "trust": "verified" if pinned and pinned.verified else ("pinned, UNVERIFIED" if pinned else "not pinned"),
        # ``person``: one id for every device of one person (a linked device names the device that linked it)
        "members": [{"member": c.member, "role": c.role, "device_key_id": c.device_key_id,
                     "not_after": c.not_after, "person": c.person_id,
                     "linked_by": None if c.linked_by is None else c.parent.device_key_id} for c in certs],
    }
    return view if as_of is None else {**view, "as_of": as_of}


@app.command("show")
def show(ctx: typer.Context, party: str | None = typer.Argument(None, help="Party name or id (default: yours).")) -> None:
    """Show a party: fingerprint, trust state, members."""
    client = open_client(ctx)
    party_id = client.profile.party.party_id if party is None else resolve_party(client, party)
    view = _party_view(client, party_id)

    def human() -> None:
        console.print(f"[bold]{view['name']}[/bold]  ({view['party_id']})  trust: {view['trust']}")
        console.print(f"fingerprint: {view['fingerprint']}")
        if view.get("as_of"):
            console.print(f"members as of {view['as_of']}")
        table("Members", ["member", "role", "device key", "valid until", "device of"],
              [(m["member"], m["role"], m["device_key_id"], m["not_after"],
                "" if m["linked_by"] is None else f"the same person (linked by {m['linked_by']})")
               for m in view["members"]])

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
    digits_only: bool = typer.Option(False, "--digits", help="Print the 30 digits alone (for scripts)."),
) -> None:
    """Print a party's root-key fingerprint as digits (and a QR code) for out-of-band comparison.

    Your own party and pinned parties need no passphrase (public data); another party is fetched from the
    relay, which needs your device key.
    """
    _, pins = read_public(options(ctx).home)
    pinned = None if party is None else next((p for p in pins.values() if party in (p.party_id, p.name)), None)
    if party is None:
        public, _ = read_public(options(ctx).home)
        pinned = pins.get(public["party"]["party_id"])
    if pinned is not None:
        party_id, root_key, name = pinned.party_id, pinned.root_key, pinned.name
    else:
        # The relay answers its directory to enrolled devices only (who negotiates there is not public), so
        # a party not pinned yet costs an unlock; pinned ones and one's own are read from the profile.
        if agent_secrets(options(ctx).home) is None:
            err_console.print(f"'{party}' is not pinned in this profile: asking the relay for its record, "
                              "which needs your device key ('parley party trust' pins it).")
        client = open_client(ctx)
        party_id = resolve_party(client, party)
        record = client.fetch_party(party_id)[0]
        root_key, name = record.root_key, record.name
    digits = fingerprint_digits(root_key)
    code = segno.make(f"parley-fingerprint:{party_id}:{digits.replace(' ', '')}", error="m")
    if qr is not None:
        code.save(str(qr), scale=6)

    def human() -> None:
        if digits_only:
            print(digits)
            return
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
    """Pin a party's root key after comparing its fingerprint out of band (a head records it for the whole
    delegation, in every negotiation both parties are in)."""
    client = open_client(ctx)
    party_id = resolve_party(client, party)
    client.trust_party(party_id, fingerprint_digits_typed)
    pinned = client.profile.trust[party_id]
    emit(options(ctx).as_json, {"party_id": party_id, "name": pinned.name, "verified": True},
         lambda: console.print(f"'{pinned.name}' is now verified."))


@app.command("distrust")
def distrust(ctx: typer.Context, party: str = typer.Argument(..., help="Party name or id.")) -> None:
    """Withdraw the verification of a party's fingerprint (a head withdraws it for the whole delegation)."""
    client = open_client(ctx)
    party_id = resolve_party(client, party)
    recorded = client.distrust_party(party_id)
    pinned = client.profile.trust[party_id]
    emit(options(ctx).as_json, {"party_id": party_id, "name": pinned.name, "verified": False,
                                "recorded_in_negotiations": recorded},
         lambda: console.print(f"'{pinned.name}' is no longer verified"
                               + (f" (recorded for your party in {recorded} negotiations)." if recorded else ".")))


@app.command("add-member")
def add_member(
    ctx: typer.Context,
    member: str = typer.Option(..., "--name", help="The member's title, e.g. 'Delegate (security)'."),
    role: str = typer.Option("delegate", "--role", help=f"One of: {', '.join(ROLES)}."),
    out: Path = typer.Option(..., "--out", help="Folder for the new member's profile (hand it over securely)."),
) -> None:
    """Certify a new member device with the party root and write its profile (administrator only)."""
    if Profile.exists(out):
        raise ConfigError(f"a profile already exists in {out}")
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'", hint=f"one of: {', '.join(ROLES)}")
    client = open_client(ctx)
    passphrase = new_member_passphrase(f"{member} ({client.profile.party.name}), profile {out}")
    profile = client.add_member(out, member=member, role=role, passphrase=passphrase)
    emit(options(ctx).as_json, {"member": member, "role": role, "device_key_id": profile.identity.device_key_id,
                                "home": str(out)},
         lambda: console.print(f"Added {member} ({role}); profile written to {out}"))


@app.command("remove-member")
def remove_member(ctx: typer.Context, member: str = typer.Argument(..., help="Member title or device key id.")) -> None:
    """Revoke a member device (administrator only); it is removed from every negotiation.

    If this stops part way (a lost connection), 'parley party sync-members' finishes it.
    """
    client = open_client(ctx)
    _, certs = client.fetch_party(client.profile.party.party_id)
    matches = [c for c in certs if member in (c.member, c.device_key_id)]
    if len(matches) != 1:
        raise NotFoundError(f"no single member matches '{member}'")
    revocation = client.remove_member(matches[0].device_key_id)
    emit(options(ctx).as_json, revocation.to_obj(),
         lambda: console.print(f"Removed {matches[0].member} as of {revocation.revoked_at}"))


@app.command("sync-members")
def sync_members(ctx: typer.Context) -> None:
    """Bring every negotiation up to your party's directory: members added or removed, root rotations.

    Finishes an add-member, remove-member or rotate-root that stopped part way (lost connection, crash);
    running it again posts nothing.
    """
    from parley.client.membership import carry_membership

    client = open_client(ctx)
    carried = carry_membership(client)
    rows = [{"negotiation_id": c.negotiation_id, "event": c.kind, "subject": c.subject} for c in carried]
    emit(options(ctx).as_json, rows, lambda: console.print(
        "Every negotiation already agrees with your party's directory." if not rows else "\n".join(
            f"{r['negotiation_id']}: posted {r['event']} ({r['subject']})" for r in rows)))


@app.command("rotate-root")
def rotate_root(ctx: typer.Context) -> None:
    """Replace your party's root key (administrator): signed by the old root, announced in every negotiation."""
    client = open_client(ctx)
    rotation = client.rotate_root(passphrase_from_env_or_prompt())
    emit(options(ctx).as_json, rotation.to_obj(), lambda: console.print(
        f"New root key fingerprint: [bold]{fingerprint_digits(rotation.new_root_key)}[/bold]\n"
        "Other parties' clients follow the rotation (it is signed by the old root); read them the new digits."))
