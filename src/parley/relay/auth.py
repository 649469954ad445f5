"""Who is calling: RFC 9421 signature check, device lookup, replay store.

A request is accepted when it is signed by a registered, unrevoked device key,
covers method, authority, path, query and the body digest, is at most five
minutes old, and carries a nonce this key never used before.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from parley.crypto.httpsig import verify_request
from parley.crypto.keys import PublicKey, load_public_key
from parley.errors import AuthError, ReplayError
from parley.protocol.identity import MemberCertificate
from parley.store.relay_store import RelayStore


@dataclass(frozen=True)
class Caller:
    device_key_id: str
    party_id: str
    certificate: MemberCertificate
    nonce: str
    created: int
    #: when the nonce may be forgotten (Unix time); for callers that persist the nonce themselves
    nonce_expires_at: int = 0


class NonceCache:
    """In-process replay guard in front of the database nonce table.

    The database table is the authority across relay processes; the cache saves
    a round trip for the common case and catches replays within this process
    even before the nonce row commits.
    """

    #: seconds between two purges of expired rows from the database nonce table
    PURGE_INTERVAL = 60.0

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def purge_pending(self) -> bool:
        """Whether ``purge_due`` would now return True (without claiming the purge)."""
        return time.monotonic() >= self._next_purge

    def purge_due(self) -> bool:
        """True at most once per ``PURGE_INTERVAL`` (per process): time to purge the database table."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_purge:
                return False
            self._next_purge = now + self.PURGE_INTERVAL
            return True

    def claim(self, key_id: str, nonce: str, expires_at: int, now: int) -> None:
        """Raises: ReplayError if the pair was seen and has not expired."""
        with self._lock:
            if len(self._seen) > 100_000:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
            previous = self._seen.get((key_id, nonce))
            if previous is not None and previous >= now:
                raise ReplayError("this signed request was seen before (replayed request)")
            self._seen[(key_id, nonce)] = expires_at


class NeedsDatabase(Exception):  # noqa: N818 - a signal, not an error
    """Authentication on the event loop would have to read or write the database: run it in a thread."""


@lru_cache(maxsize=4096)
def _certificate(text: str) -> tuple[MemberCertificate, PublicKey]:
    """A stored certificate parsed once (keyed by its exact text, so a changed row is parsed again)."""
    cert = MemberCertificate.from_obj(json.loads(text))
    return cert, load_public_key(cert.signing_key)


def authenticate(
    *,
    store: RelayStore,
    nonces: NonceCache,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: datetime,
    max_age_seconds: int,
    extra_keys: dict[str, MemberCertificate] | None = None,
    persist_nonce: bool = True,
    database: bool = True,
) -> Caller:
    """Authenticate a request (runs in a worker thread: it touches the database).

    With ``database=False`` (on the event loop) nothing touches the database: ``NeedsDatabase`` is raised
    instead when that would be needed (device row not cached, nonce to store, purge due), before any
    state changes, and the caller runs the call again in a worker thread.

    ``extra_keys`` lets enrolment accept a signature by a device certified in the
    request itself. With ``persist_nonce=False`` the caller must store the nonce
    (``Caller.nonce_expires_at``) in the transaction that carries out the request,
    as event posts do in their group-commit batch; the in-process cache has
    already refused a replay seen by this process.

    Raises:
        AuthError: unsigned, forged, expired, unknown or revoked key.
        ReplayError: the nonce was used before.
        NeedsDatabase: only with ``database=False``.
    """
    if not database and (persist_nonce or nonces.purge_pending()):
        raise NeedsDatabase
    certs: dict[str, MemberCertificate] = {}

    def resolve(key_id: str) -> PublicKey | None:
        if extra_keys and key_id in extra_keys:
            certs[key_id] = extra_keys[key_id]
            return load_public_key(extra_keys[key_id].signing_key)
        row = store.get_device(key_id, cached=True) if database else store.cached_device(key_id)
        if row is None and not database:
            raise NeedsDatabase
        if row is None or row.revoked_at is not None:
            return None
        cert, public_key = _certificate(row.certificate)
        certs[key_id] = cert
        return public_key

    verified = verify_request(method=method, url=url, headers=headers, body=body, resolve_key=resolve, now=now,
                              max_age_seconds=max_age_seconds)
    cert = certs.get(verified.key_id)
    if cert is None:  # pragma: no cover - verify_request only succeeds through resolve
        raise AuthError("unknown or revoked device key")
    expires_at = verified.created + max_age_seconds + 120
    nonces.claim(verified.key_id, verified.nonce, expires_at, int(now.timestamp()))
    if persist_nonce:
        store.remember_nonce(verified.key_id, verified.nonce, expires_at)
    if database and nonces.purge_due():
        store.purge_nonces(int(now.timestamp()))
    return Caller(verified.key_id, cert.party_id, cert, verified.nonce, verified.created, expires_at)
