"""Recovery files: a profile's keys, pins and verified local copy in one age file, and their restoration.

``parley backup create`` writes a tar archive of

    manifest.json   format, when, whose (member, party, device key), and each negotiation's pinned checkpoint
    secrets.json    the device's key set (signing seed, age identity, certificate, the party root if held)
    profile.json    public facts (relay URL, the relay's pinned checkpoint key)
    trust.json      the pinned party root keys, verified or not
    cache.db        a consistent copy of the verified local store (still SQLCipher-encrypted)

encrypted under a passphrase or a generated recovery key (``parley.crypto.recovery``).

``parley backup restore`` never overwrites a profile. It trusts the backup for nothing but the pins: the
keys must be one device's (certificate matching its keys, chained to the pinned party root), and the
local copy is *not* copied over: each negotiation's events are replayed from scratch through the
protocol core, hashed to the pinned checkpoint (signed by the pinned relay key) and their bodies
decrypted again from their ciphertexts. A file altered by someone who learnt its passphrase, or a
relay that rewrote history since (checked by syncing and fetching the whole log again), is refused.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from parley.client import sync
from parley.client.cache import ClientCache
from parley.client.profile import Identity, Profile
from parley.crypto.keystore import save_keystore
from parley.crypto.local_store import local_store_key
from parley.crypto.recovery import open_recovery, seal_recovery
from parley.errors import ConflictError, InputError, TransportError, TrustError
from parley.protocol.identity import PartyRecord, verify_certificate
from parley.protocol.times import format_time
from parley.protocol.verified_log import VerifiedLog

FORMAT = "parley.backup.v1"
MEMBERS = ("manifest.json", "secrets.json", "profile.json", "trust.json", "cache.db")


def create_backup(client: Any, destination: Path, *, passphrase: str | None = None,
                  recovery_key: str | None = None) -> dict[str, Any]:
    """Write ``client``'s profile as a recovery file at ``destination`` (which must not exist).

    Raises:
        ConflictError: the destination exists.
        InputError: neither or both of passphrase and recovery key.
    """
    if destination.exists():
        raise ConflictError(f"{destination} exists: a backup never overwrites a file")
    home: Path = client.profile.home
    profile = client.profile
    negotiations = {}
    for negotiation_id in client.cache.negotiations():
        pinned = client.cache.checkpoint(negotiation_id)
        if pinned is not None:
            negotiations[negotiation_id] = {"size": pinned[0]}
    manifest = {"format": FORMAT, "created": format_time(client.clock()), "member": profile.member,
                "party": profile.party.name, "party_id": profile.party.party_id,
                "device_key_id": client.identity.device_key_id, "negotiations": negotiations}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
        _add_bytes(tar, "secrets.json", json.dumps(client.identity.to_secrets(), sort_keys=True).encode())
        for name in ("profile.json", "trust.json"):
            _add_bytes(tar, name, (home / name).read_bytes())
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "cache.db"
            client.cache.copy_to(copy)  # consistent even while another process syncs
            tar.add(copy, arcname="cache.db")
    blob = seal_recovery(buffer.getvalue(), passphrase=passphrase, recovery_key=recovery_key)
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    return {"file": str(destination), "bytes": len(blob), "negotiations": manifest["negotiations"],
            "protected_by": "passphrase" if passphrase is not None else "recovery key"}


def read_backup(path: Path, *, passphrase: str | None = None, recovery_key: str | None = None) -> dict[str, bytes]:
    """Decrypt a recovery file: its members by name.

    Raises:
        BadPassphraseError: wrong passphrase or recovery key (or an altered file).
        InputError: not a parley backup.
    """
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    plain = open_recovery(blob, passphrase=passphrase, recovery_key=recovery_key)
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.name not in MEMBERS or member.name in out:
                    raise InputError(f"unexpected entry {member.name!r} in the backup")
                out[member.name] = tar.extractfile(member).read()
    except tarfile.TarError:
        raise InputError(f"{path} is not a parley backup") from None
    if set(out) != set(MEMBERS):
        raise InputError(f"{path} is not a complete parley backup (missing {sorted(set(MEMBERS) - set(out))})")
    return out


def write_backup(files: dict[str, bytes], destination: Path, *, passphrase: str | None = None,
                 recovery_key: str | None = None) -> None:
    """Seal ``files`` (as ``read_backup`` returns them) into a recovery file (used to re-seal, and by tests)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in MEMBERS:
            _add_bytes(tar, name, files[name])
    destination.write_bytes(seal_recovery(buffer.getvalue(), passphrase=passphrase, recovery_key=recovery_key))


def restore_backup(path: Path, home: Path, *, passphrase: str | None = None, recovery_key: str | None = None,
                   new_passphrase: str | None, transport: httpx.BaseTransport | None = None,
                   clock: Callable[[], datetime] | None = None, check_relay: bool = True) -> dict[str, Any]:
    """Restore a recovery file into the new profile folder ``home`` and verify everything from scratch.

    ``new_passphrase`` protects the restored keystore (None: keys in memory only, for tests).
    With ``check_relay``, each negotiation is then synced and the relay's whole log fetched again and
    compared (a relay that rewrote history since the backup is caught); an unreachable relay leaves
    the profile verified against its pins only, which the answer says.

    Raises:
        ConflictError: a profile (or anything) already exists in ``home``.
        BadPassphraseError / InputError: as ``read_backup``.
        TrustError / ForkError / VerificationError: the backup's keys or local copy do not verify
            (nothing is left in ``home``), or the relay's log is not the one pinned (the verified
            profile is kept; the error says what the relay did).
    """
    from parley.client.sdk import Client, verify_log

    if Profile.exists(home) or (home.exists() and any(home.iterdir())):
        raise ConflictError(f"a profile (or other files) already exists in {home}: a restore never overwrites one",
                            hint="restore into a new, empty folder with --profile")
    files = read_backup(path, passphrase=passphrase, recovery_key=recovery_key)
    manifest = _json(files, "manifest.json")
    if manifest.get("format") != FORMAT:
        raise InputError("not a parley backup of a version this program reads")
    secrets = _json(files, "secrets.json")
    created_home = not home.exists()
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    client = None
    try:
        for name in ("profile.json", "trust.json"):
            _write_private(home / name, files[name])
        profile = Profile.load_unlocked(home, secrets)
        _check_keys(profile)
        if new_passphrase is not None:
            save_keystore(home / "keystore.age", secrets, new_passphrase)
        kwargs = {} if clock is None else {"clock": clock}
        client = Client(profile, transport=transport, **kwargs)
        restored = _replay_local_copy(client, files["cache.db"], manifest)
    except BaseException:
        if client is not None:
            client.close()
        _remove_restored(home, created_home)
        raise
    report: dict[str, Any] = {"home": str(home), "member": profile.member, "party": profile.party.name,
                              "negotiations": restored, "relay": "not checked"}
    try:
        if check_relay:
            try:
                for negotiation_id in restored:
                    result = verify_log(client, negotiation_id)
                    restored[negotiation_id]["relay_size"] = result["size"]
                report["relay"] = "verified"
            except TransportError as exc:
                report["relay"] = f"unreachable ({exc.message}): verified against the pinned checkpoints only"
    finally:
        client.close()
    return report


def _check_keys(profile: Profile) -> None:
    """The restored keys must be one device of the pinned party: certificate of these keys, chained to its root.

    Raises:
        TrustError: a certificate for other keys, or one the pinned party root did not sign.
    """
    identity: Identity = profile.identity
    cert = identity.certificate
    if cert.signing_key != identity.signing.public_b64 or cert.encryption_key != identity.encryption.recipient:
        raise TrustError("the backup's certificate is not that of its keys: an altered backup")
    own = profile.trust.get(profile.party.party_id)
    if own is None or own.chain[0] != profile.party.root_key:
        raise TrustError("the backup does not pin its own party's root key: an altered backup")
    PartyRecord.from_obj(profile.party.to_obj())
    for root in own.chain:
        try:
            verify_certificate(cert, root, party_id=profile.party.party_id)
            return
        except TrustError:
            continue
    raise TrustError("the backup's certificate is not signed by its party's pinned root: an altered backup")


def _replay_local_copy(client: Any, cache_bytes: bytes, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Verify each negotiation of the backup's local copy from scratch into the new profile's empty store.

    Raises:
        SignatureError: a checkpoint not signed by the pinned relay key.
        ForkError / VerificationError / ProtocolError / TrustError: the events do not replay, or do not
            hash to the pinned checkpoint.
        StorageError: the local copy does not open with the backup's keys.
    """
    restored: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "cache.db"
        _write_private(copy, cache_bytes)
        source = ClientCache(copy, local_store_key(client.identity.encryption))
        try:
            listed = set(source.negotiations())
            if listed != set(manifest.get("negotiations", {})):
                raise TrustError("the backup's local copy and its manifest name different negotiations: "
                                 "an altered backup")
            for negotiation_id in sorted(listed):
                restored[negotiation_id] = _replay_one(client, source, negotiation_id)
        finally:
            source.close()
    return restored


def _replay_one(client: Any, source: ClientCache, negotiation_id: str) -> dict[str, Any]:
    pinned = source.checkpoint(negotiation_id)
    if pinned is None:
        raise TrustError(f"the backup holds no pinned checkpoint for {negotiation_id}")
    log = VerifiedLog.empty(negotiation_id, verifier=client.relay_verifier(), origin=client.origin(negotiation_id),
                            own_device=client.identity.device_key_id, limits=client.limits,
                            addressed=sync.addressed_check(client))
    checkpoint = log.open_checkpoint(pinned[2])
    log.update(checkpoint, pinned[2])
    log.extend([sync.log_item(seq, env, at) for seq, env, _, at in source.events(negotiation_id)])
    batch = log.finish(client.check_trust)
    stored = sync.stored_rows(client, batch.events)
    client.cache.store_sync(negotiation_id, stored, list(batch.nodes),
                            (checkpoint.size, checkpoint.root, batch.note))
    for size, root, event_id in batch.pending_gossip:
        client.cache.add_gossip(negotiation_id, size, root, event_id)
    return {"size": checkpoint.size}


def _json(files: dict[str, bytes], name: str) -> dict[str, Any]:
    try:
        value = json.loads(files[name])
    except ValueError:
        raise InputError(f"the backup's {name} is not JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"the backup's {name} is not a JSON object")
    return value


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _remove_restored(home: Path, created_home: bool) -> None:
    """Undo a refused restore: the files it wrote (the folder too, if it made it)."""
    if created_home:
        shutil.rmtree(home, ignore_errors=True)
        return
    for child in home.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


__all__ = ["create_backup", "read_backup", "restore_backup", "write_backup"]
