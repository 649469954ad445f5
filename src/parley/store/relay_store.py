"""The relay's storage contract, one implementation for SQLite and PostgreSQL.

Reads are plain queries. Writes of events go through ``RelayStore.write()``,
one transaction that takes the negotiation's lock (a row lock on PostgreSQL,
the database write lock on SQLite via ``BEGIN IMMEDIATE``), so sequence
numbers stay gap-free however many relay processes post at once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's busy handler alone serialises writers there
    fcntl = None  # type: ignore[assignment]

from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from parley.errors import AuthError, ConfigError, ConflictError, NotFoundError, ReplayError, StorageError
from parley.store import codec, driver, pages
from parley.store import schema as t
from parley.store.engine import database_url, make_engine
from parley.store.nodes import nodes_query
from parley.store.revisions import head_revision, migrate, schema_problem, scripts
from parley.tlog.merkle import NodeKey


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    header: bytes
    signature: str
    received_at: str
    #: ciphertexts the reader may fetch, by index
    ciphertexts: Mapping[int, bytes]


#: what a caller of ``RelayStore.packed_page`` makes of a page
_Rendered = TypeVar("_Rendered")


@dataclass(frozen=True)
class NegotiationHead:
    negotiation_id: str
    size: int
    root: bytes
    checkpoint: str


@dataclass(frozen=True)
class DeviceRow:
    device_key_id: str
    party_id: str
    certificate: str
    revoked_at: str | None
    #: the root-signed revocation (JSON) when revoked
    revocation: str | None = None


_EVENT_COLUMNS = (t.events.c.seq, t.events.c.event_id, t.events.c.header, t.events.c.signature,
                  t.events.c.received_at)


def unpack_event(row, ciphertexts: Mapping[int, bytes]) -> StoredEvent:  # noqa: ANN001
    """A ``StoredEvent`` from an event row in stored form (``pages.EventRow`` or a row of the same
    columns) and its readable ciphertexts. Raises: StorageError if the stored header is damaged."""
    return StoredEvent(row.seq, codec.unpack_event_id(row.event_id), codec.unpack_header(row.header),
                       codec.unpack_signature(row.signature), row.received_at, ciphertexts)


def open_store(url_or_path: str, *, migrate_schema: bool = True) -> RelayStore:
    """Open the relay database, and with ``migrate_schema`` bring its schema to the newest revision.
    Without it nothing is written: the caller checks ``RelayStore.schema_revision`` itself.

    Raises:
        ConfigError: unsupported URL.
        StorageError: cannot connect or migrate.
    """
    url = database_url(url_or_path)
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise ConfigError("the relay database must be SQLite (a file path) or PostgreSQL (postgresql://...)")
    try:
        engine = make_engine(url)
        if migrate_schema:
            migrate(engine)
    except OperationalError as exc:
        raise StorageError(f"cannot open the relay database: {exc.orig}") from exc
    return RelayStore(engine)


class _WriteGate:
    """Serialises the writers of one SQLite file, across threads and relay processes, with ``flock`` on
    ``<database>-writer.lock``: a waiting writer wakes as soon as the holder is done, where SQLite's own
    busy handler sleeps 1 to 100 ms between tries (tens of ms lost per batch with two processes).
    A no-op for PostgreSQL (row locks) and in-memory databases."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    @classmethod
    def for_engine(cls, engine: Engine) -> _WriteGate:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or fcntl is None or not database or database == ":memory:":
            return cls(None)
        return cls(database + "-writer.lock")

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        # One open file description per hold: flock excludes other threads of this process as well.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the relay's write lock {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RelayStore:
    """Storage contract of the relay (see ``tests/store`` for the suite both engines pass)."""

    #: seconds a device row read for request authentication may be reused (see ``get_device``)
    DEVICE_CACHE_SECONDS = 2.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_gate = _WriteGate.for_engine(engine)
        # device_key_id -> (row, monotonic time read); only found devices are cached
        self._devices: dict[str, tuple[DeviceRow, float]] = {}
        self._devices_lock = threading.Lock()
        self._devices_generation = 0  # bumped by every forget: a read that raced a revocation is not cached
        # negotiation id -> negotiation_no, device key id -> device_no: committed numbers never change,
        # so they are cached for good (numbers assigned in a write transaction only once it committed)
        self._negotiation_nos: dict[str, int] = {}
        self._device_nos: dict[str, int] = {}

    def close(self) -> None:
        self.engine.dispose()

    # ---- schema ---------------------------------------------------------------------------------------
    def schema_revision(self) -> str | None:
        """The database's schema revision (None for a database without parley's tables). Raises: StorageError."""
        with self._read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def pending_revisions(self) -> list[tuple[str, str]]:
        """The migrations ``migrate`` would run, oldest first, as (revision, description).

        Raises:
            StorageError: unreachable, or at a revision this version of parley does not know.
        """
        current = self.schema_revision()
        if current is not None and current not in {s.revision for s in scripts().walk_revisions()}:
            raise StorageError(schema_problem(current) or current, hint="upgrade parley; never migrate down")
        pending = list(scripts().iterate_revisions(head_revision(), current))
        return [(script.revision, (script.doc or "").strip().splitlines()[0] if script.doc else "")
                for script in reversed(pending)]

    def migrate(self) -> list[tuple[str, str]]:
        """Run every pending migration in one transaction; returns what ran (see ``pending_revisions``).

        Raises:
            StorageError: unreachable, a newer schema, or a migration failed (nothing is changed then).
        """
        pending = self.pending_revisions()
        if pending:
            try:
                migrate(self.engine)
            except OperationalError as exc:
                raise StorageError(f"cannot migrate the relay database: {exc.orig}") from exc
        return pending

    def require_current_schema(self) -> None:
        """Raises: StorageError (with what to do) unless the schema is the one this version needs."""
        problem = schema_problem(self.schema_revision())
        if problem is not None:
            newer = "does not know" in problem
            raise StorageError(problem, hint="upgrade parley to the version that migrated it" if newer else
                               "back up the database, then run 'parley relay migrate' (--dry-run lists the steps)")

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StorageError(f"relay database unavailable: {exc.orig}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._write_gate.hold(), self.engine.connect() as conn:
                conn.info["writer"] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info["writer"] = False
        except OperationalError as exc:
            raise StorageError(f"relay database unavailable: {exc.orig}") from exc

    def _insert(self):  # noqa: ANN202
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert

    def _negotiation_no(self, conn: Connection, negotiation_id: str) -> int | None:
        """The number of a committed negotiation (read connections only: see ``WriteTxn.negotiation_no``)."""
        return self._number(conn, self._negotiation_nos, t.negotiations.c.negotiation_no,
                            t.negotiations.c.negotiation_id, negotiation_id)

    def _device_no(self, conn: Connection, device_key_id: str) -> int | None:
        """The number of a device key id (read connections only), None if it never had one."""
        return self._number(conn, self._device_nos, t.device_numbers.c.device_no,
                            t.device_numbers.c.device_key_id, device_key_id)

    @staticmethod
    def _number(conn: Connection, cache: dict[str, int], number_column, key_column, key: str) -> int | None:  # noqa: ANN001
        """A number from ``cache``, else read (and cached once found: numbers never change)."""
        number = cache.get(key)
        if number is None:
            number = conn.execute(select(number_column).where(key_column == key)).scalar()
            if number is not None:
                cache[key] = number
        return number

    def _committed(self, txn: WriteTxn) -> None:
        self._negotiation_nos.update(txn.negotiation_nos)
        self._device_nos.update(txn.device_nos)

    # ---- enrolment -------------------------------------------------------------------------------
    def create_enrol_token(self, party_name: str, now: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._write() as conn:
            conn.execute(insert(t.enrol_tokens).values(token_hash=_hash_token(token), party_name=party_name,
                                                       created_at=now))
        return token

    def consume_enrol_token(self, conn: Connection, token: str, now: str) -> str:
        """Mark a one-time token used, inside the caller's transaction; return the party name it admits.

        Raises:
            AuthError: unknown or already used token.
        """
        row = conn.execute(
            select(t.enrol_tokens.c.party_name, t.enrol_tokens.c.used_at).where(
                t.enrol_tokens.c.token_hash == _hash_token(token))
        ).first()
        if row is None or row.used_at is not None:
            raise AuthError("enrolment token is unknown or already used")
        conn.execute(update(t.enrol_tokens).where(t.enrol_tokens.c.token_hash == _hash_token(token))
                     .values(used_at=now))
        return row.party_name

    # ---- directory -------------------------------------------------------------------------------
    def enrol_party(self, token: str, party_id: str, name: str, record_json: str,
                    certificates: Sequence[tuple[str, str]], now: str) -> None:
        """Consume the token and store the party with its first devices, all or nothing.

        Raises:
            AuthError: bad token.  ConflictError: the party or a device exists already.
            InputError: the name differs from the one the operator invited.
        """
        from parley.errors import InputError

        try:
            with self._write() as conn:
                invited_name = self.consume_enrol_token(conn, token, now)
                if invited_name != name:
                    raise InputError(f"this token admits the party '{invited_name}', not '{name}'")
                conn.execute(insert(t.parties).values(party_id=party_id, name=name, record=record_json,
                                                      created_at=now))
                for device_key_id, cert_json in certificates:
                    conn.execute(insert(t.devices).values(device_key_id=device_key_id, party_id=party_id,
                                                          certificate=cert_json))
        except IntegrityError:
            raise ConflictError("that party or device is already enrolled") from None

    def add_device(self, device_key_id: str, party_id: str, cert_json: str) -> None:
        """Raises: ConflictError if the device exists."""
        try:
            with self._write() as conn:
                conn.execute(insert(t.devices).values(device_key_id=device_key_id, party_id=party_id,
                                                      certificate=cert_json))
        except IntegrityError:
            raise ConflictError("that device is already enrolled") from None

    def revoke_device(self, device_key_id: str, revoked_at: str, revocation_json: str) -> None:
        """Raises: NotFoundError for an unknown device."""
        self.forget_device(device_key_id)
        try:
            with self._write() as conn:
                result = conn.execute(update(t.devices).where(t.devices.c.device_key_id == device_key_id)
                                      .values(revoked_at=revoked_at, revocation=revocation_json))
                if result.rowcount == 0:
                    raise NotFoundError("no such device")
                if self.dialect == "postgresql":
                    # Other relay processes drop their cached row at once (see parley.relay.app.Relay).
                    conn.execute(text("SELECT pg_notify('parley_devices', :k)"), {"k": device_key_id})
        finally:
            self.forget_device(device_key_id)

    def get_device(self, device_key_id: str, *, cached: bool = False) -> DeviceRow | None:
        """The device row. ``cached=True`` (request authentication) may reuse a row read at most
        ``DEVICE_CACHE_SECONDS`` ago; a revocation through this store drops it at once, and on
        PostgreSQL other relay processes drop it when the ``parley_devices`` notification arrives."""
        if cached:
            with self._devices_lock:
                hit = self._devices.get(device_key_id)
            if hit is not None and time.monotonic() - hit[1] < self.DEVICE_CACHE_SECONDS:
                return hit[0]
        read_at = time.monotonic()
        generation = self._devices_generation
        with self._read() as conn:
            row = conn.execute(select(t.devices).where(t.devices.c.device_key_id == device_key_id)).first()
        if row is None:
            return None
        device = DeviceRow(row.device_key_id, row.party_id, row.certificate, row.revoked_at)
        if cached:
            with self._devices_lock:
                if len(self._devices) > 100_000:
                    self._devices.clear()
                if generation == self._devices_generation:
                    self._devices[device_key_id] = (device, read_at)
        return device

    def cached_device(self, device_key_id: str) -> DeviceRow | None:
        """The row ``get_device(cached=True)`` would return without reading the database, or None when
        it would have to read it (not cached, or cached too long ago)."""
        with self._devices_lock:
            hit = self._devices.get(device_key_id)
        if hit is not None and time.monotonic() - hit[1] < self.DEVICE_CACHE_SECONDS:
            return hit[0]
        return None

    def forget_device(self, device_key_id: str | None = None) -> None:
        """Drop one cached device row (all of them with None)."""
        with self._devices_lock:
            self._devices_generation += 1
            if device_key_id is None:
                self._devices.clear()
            else:
                self._devices.pop(device_key_id, None)

    def get_party(self, party_id: str) -> tuple[str, list[DeviceRow]] | None:
        """The party record JSON and its devices, or None."""
        with self._read() as conn:
            row = conn.execute(select(t.parties.c.record).where(t.parties.c.party_id == party_id)).first()
            if row is None:
                return None
            devices = conn.execute(select(t.devices).where(t.devices.c.party_id == party_id)
                                   .order_by(t.devices.c.device_key_id)).all()
        return row.record, [DeviceRow(d.device_key_id, d.party_id, d.certificate, d.revoked_at, d.revocation)
                            for d in devices]

    def party_rotations(self, party_id: str) -> list[str]:
        """The party's root rotations (JSON), oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(t.party_rotations.c.rotation).where(t.party_rotations.c.party_id == party_id)
                                .order_by(t.party_rotations.c.position)).all()
        return [r.rotation for r in rows]

    def add_party_rotation(self, party_id: str, position: int, rotation_json: str) -> None:
        """Append a rotation at ``position`` (its index in the chain).

        Raises:
            ConflictError: another rotation took that position first.
        """
        try:
            with self._write() as conn:
                conn.execute(insert(t.party_rotations).values(party_id=party_id, position=position,
                                                              rotation=rotation_json))
        except IntegrityError:
            raise ConflictError("another root rotation of this party was recorded first") from None

    def list_parties(self) -> list[str]:
        with self._read() as conn:
            return [r.record for r in conn.execute(select(t.parties.c.record).order_by(t.parties.c.name))]

    # ---- request nonces --------------------------------------------------------------------------
    def remember_nonce(self, key_id: str, nonce: str, expires_at: int) -> None:
        """Record a request nonce.

        Raises:
            ReplayError: this key used this nonce before (a replayed request).
        """
        try:
            with self._write() as conn:
                conn.execute(insert(t.request_nonces).values(key_id=codec.pack_key_id(key_id), nonce=nonce,
                                                             expires_at=expires_at))
        except IntegrityError:
            raise ReplayError("this signed request was seen before (replayed request)") from None

    def purge_nonces(self, now: int) -> int:
        with self._write() as conn:
            return conn.execute(delete(t.request_nonces).where(t.request_nonces.c.expires_at < now)).rowcount

    # ---- negotiations: reads ---------------------------------------------------------------------
    def head(self, negotiation_id: str) -> NegotiationHead | None:
        with self._read() as conn:
            row = conn.execute(select(t.negotiations).where(t.negotiations.c.negotiation_id == negotiation_id)).first()
        return None if row is None else NegotiationHead(row.negotiation_id, row.size, row.root, row.checkpoint)

    def negotiations_of_party(self, party_id: str) -> list[NegotiationHead]:
        with self._read() as conn:
            rows = conn.execute(
                select(t.negotiations).join(
                    t.negotiation_parties, t.negotiation_parties.c.negotiation_id == t.negotiations.c.negotiation_id
                ).where(t.negotiation_parties.c.party_id == party_id).order_by(t.negotiations.c.created_at)
            ).all()
        return [NegotiationHead(r.negotiation_id, r.size, r.root, r.checkpoint) for r in rows]

    def events(self, negotiation_id: str, after: int, limit: int, reader: str | None,
               log_access_at: str | None = None, nonce: tuple[str, str, int] | None = None) -> list[StoredEvent]:
        """Events with ``seq > after``, with only the ciphertexts ``reader`` (a device key id) may fetch.

        ``reader=None`` returns every ciphertext (relay-internal use only). When
        ``log_access_at`` is given, each ciphertext handed out is written to the access log.
        ``nonce`` (key id, nonce, expiry) is the listing request's nonce, stored in the same transaction
        as its access-log rows (one commit per listing).

        Raises:
            ReplayError: ``nonce`` was stored before (nothing is logged or returned).
            StorageError: the database failed or a stored header is damaged.
        """
        return self.packed_page(
            negotiation_id, after, limit, reader,
            lambda rows, blobs: [unpack_event(r, blobs.get(r.seq, {})) for r in rows], log_access_at, nonce)

    def packed_page(self, negotiation_id: str, after: int, limit: int, reader: str | None,
                    render: Callable[[list[pages.EventRow], dict[int, dict[int, bytes]]], _Rendered],
                    log_access_at: str | None = None, nonce: tuple[str, str, int] | None = None,
                    max_bytes: int | None = None) -> _Rendered:
        """What ``render`` makes of the page's event rows, still in their stored form (``unpack_event``
        turns one into a ``StoredEvent``), and of the readable ciphertexts by seq and index: a caller that
        keeps what it unpacked before (the relay's page cache) unpacks only the rest. ``render`` runs before
        anything is written: a page it cannot make logs no access and stores no nonce. With ``max_bytes``
        the page ends before the event that would take its headers and ciphertexts past that many bytes
        (its first event always in).

        Raises: as ``events``, and whatever ``render`` raises.
        """
        number, device_no, rows, blobs = self._page(negotiation_id, after, limit, reader, max_bytes)
        rendered = render(rows, blobs)
        if nonce is not None:
            try:
                with self._write() as wconn:
                    wconn.execute(insert(t.request_nonces).values(
                        key_id=codec.pack_key_id(nonce[0]), nonce=nonce[1], expires_at=nonce[2]))
                    self._log_access(wconn, number, device_no, blobs, log_access_at)
            except IntegrityError:
                raise ReplayError("this signed request was seen before (replayed request)") from None
        elif log_access_at is not None and device_no is not None and blobs:
            with self._write() as wconn:
                self._log_access(wconn, number, device_no, blobs, log_access_at)
        return rendered

    def _page(self, negotiation_id: str, after: int, limit: int, reader: str | None, max_bytes: int | None = None,
              ) -> tuple[int | None, int | None, list, dict[int, dict[int, bytes]]]:
        """(negotiation number, reader's device number, event rows, readable blobs by seq and index)."""
        device_no = None
        with self._read() as conn:
            number = self._negotiation_no(conn, negotiation_id)
            if number is None:
                return None, None, [], {}
            pattern = None
            if reader is not None:
                device_no = self._device_no(conn, reader)
                # A device without a number was never a recipient: it may fetch no ciphertext.
                pattern = codec.reader_pattern(device_no) if device_no is not None else None
            rows, blobs = pages.read_page(conn, self.dialect, number, after, limit, pattern,
                                          every_reader=reader is None, max_bytes=max_bytes)
        return number, device_no, rows, blobs

    def _log_access(self, wconn: Connection, number: int | None, device_no: int | None,
                    blobs: dict[int, dict[int, bytes]], log_access_at: str | None) -> None:
        """One access-log row per ciphertext handed out, in the caller's transaction."""
        if log_access_at is None or number is None or device_no is None or not blobs:
            return
        fetched = [(seq, idx) for seq, by_idx in blobs.items() for idx in by_idx]
        if self.dialect == "postgresql":
            # One statement for the whole page: executemany costs a protocol round of its own per row,
            # 12 ms for 1,000 rows, a quarter of a page's time.
            wconn.exec_driver_sql(
                "INSERT INTO access_log (negotiation_no, device_no, seq, idx, fetched_at) "
                "SELECT %(negotiation_no)s, %(device_no)s, f.seq, f.idx, %(fetched_at)s "
                "FROM unnest(%(seqs)s::bigint[], %(idxs)s::int[]) AS f(seq, idx)",
                {"negotiation_no": number, "device_no": device_no, "fetched_at": log_access_at,
                 "seqs": [seq for seq, _ in fetched], "idxs": [idx for _, idx in fetched]})
        else:  # through the driver: SQLAlchemy's per-row parameter processing was half of these 1,000 rows
            try:
                driver.execute_many(wconn, driver.INSERT_ACCESS,
                                    [(number, device_no, seq, idx, log_access_at) for seq, idx in fetched])
            except wconn.dialect.dbapi.Error as exc:  # the driver's own errors: SQLAlchemy does not wrap them
                raise StorageError(f"relay database unavailable: {exc.__class__.__name__}: {exc}") from exc

    def seq_of_leaf(self, negotiation_id: str, event_id: str) -> int | None:
        with self._read() as conn:
            number = self._negotiation_no(conn, negotiation_id)
            if number is None:
                return None
            row = conn.execute(select(t.events.c.seq).where(
                and_(t.events.c.negotiation_no == number,
                     t.events.c.event_id == codec.pack_event_id(event_id)))).first()
        return None if row is None else row.seq

    def committed_headers(self, negotiation_id: str, after: int) -> list[StoredEvent]:
        """Events after ``after`` without their ciphertexts: to catch up a stale in-memory state."""
        with self._read() as conn:
            number = self._negotiation_no(conn, negotiation_id)
            if number is None:
                return []
            rows = conn.execute(select(*_EVENT_COLUMNS).where(
                and_(t.events.c.negotiation_no == number, t.events.c.seq > after)).order_by(t.events.c.seq)).all()
        return [unpack_event(r, {}) for r in rows]

    def node_reader(self, negotiation_id: str) -> SqlNodeReader:
        return SqlNodeReader(self, negotiation_id, None)

    def access_log(self, negotiation_id: str, after_id: int = 0, limit: int = 1000) -> list[dict]:
        log, numbers = t.access_log, t.device_numbers
        with self._read() as conn:
            number = self._negotiation_no(conn, negotiation_id)
            if number is None:
                return []
            rows = conn.execute(
                select(log.c.id, numbers.c.device_key_id, log.c.seq, log.c.idx, log.c.fetched_at)
                .select_from(log.join(numbers, numbers.c.device_no == log.c.device_no))
                .where(and_(log.c.negotiation_no == number, log.c.id > after_id)).order_by(log.c.id).limit(limit)
            ).all()
        return [{"id": r.id, "device_key_id": r.device_key_id, "seq": r.seq, "ciphertext": r.idx,
                 "fetched_at": r.fetched_at} for r in rows]

    def public_record(self, kind: str, record_id: str) -> dict | None:
        with self._read() as conn:
            row = conn.execute(select(t.public_records).where(
                and_(t.public_records.c.kind == kind, t.public_records.c.record_id == record_id))).first()
        return None if row is None else {"negotiation_id": row.negotiation_id, "seq": row.seq,
                                         "content": row.content, "created_at": row.created_at}

    def public_records(self, kind: str, limit: int = 200) -> list[dict]:
        with self._read() as conn:
            rows = conn.execute(select(t.public_records).where(t.public_records.c.kind == kind)
                                .order_by(t.public_records.c.created_at.desc()).limit(limit)).all()
        return [{"record_id": r.record_id, "negotiation_id": r.negotiation_id, "seq": r.seq, "content": r.content,
                 "created_at": r.created_at} for r in rows]

    def count_rows(self) -> dict[str, int]:
        with self._read() as conn:
            return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                    for table in t.metadata.sorted_tables}

    # ---- negotiations: the write transaction -------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[WriteTxn]:
        """One write transaction; commit on normal exit, roll back on any exception.

        Raises:
            StorageError: the database failed.
        """
        dbapi = self.engine.dialect.dbapi
        try:
            with self._write() as conn:
                txn = WriteTxn(self, conn)
                yield txn
        except (IntegrityError, dbapi.IntegrityError) as exc:  # the driver's own: see parley.store.driver
            raise ConflictError("conflicting write (duplicate event or negotiation)") from exc
        except dbapi.Error as exc:
            raise StorageError(f"relay database unavailable: {exc.__class__.__name__}: {exc}") from exc
        self._committed(txn)


class WriteTxn:
    def __init__(self, store: RelayStore, conn: Connection) -> None:
        self.store = store
        self.conn = conn
        #: numbers read or assigned in this transaction: the store caches them once it committed
        self.negotiation_nos: dict[str, int] = {}
        self.device_nos: dict[str, int] = {}
        #: (negotiation_no, seq) -> leaf hash of each event inserted in this transaction
        self.leaves: dict[tuple[int, int], bytes] = {}

    def negotiation_no(self, negotiation_id: str) -> int | None:
        number = self.store._negotiation_nos.get(negotiation_id) or self.negotiation_nos.get(negotiation_id)
        if number is None:
            number = self.conn.execute(select(t.negotiations.c.negotiation_no)
                                       .where(t.negotiations.c.negotiation_id == negotiation_id)).scalar()
            if number is not None:
                self.negotiation_nos[negotiation_id] = number
        return number

    def _require_negotiation_no(self, negotiation_id: str) -> int:
        """Raises: NotFoundError if the negotiation does not exist."""
        number = self.negotiation_no(negotiation_id)
        if number is None:
            raise NotFoundError("no such negotiation")
        return number

    def device_numbers(self, device_key_ids: Iterable[str]) -> dict[str, int]:
        """The number of each device key id, numbering the new ones (in sorted order, so two relay
        processes numbering the same new devices wait on each other instead of deadlocking)."""
        wanted = set(device_key_ids)
        found = {}
        for key in wanted:
            number = self.store._device_nos.get(key) or self.device_nos.get(key)
            if number is not None:
                found[key] = number
        missing = sorted(wanted - set(found))
        numbers = t.device_numbers
        for attempt in range(2):
            if not missing:
                break
            if attempt:
                self.conn.execute(self.store._insert()(numbers).on_conflict_do_nothing(),
                                  [{"device_key_id": key} for key in missing])
            for row in self.conn.execute(select(numbers.c.device_key_id, numbers.c.device_no)
                                         .where(numbers.c.device_key_id.in_(missing))):
                found[row.device_key_id] = self.device_nos[row.device_key_id] = row.device_no
            missing = [key for key in missing if key not in found]
        if missing:
            raise StorageError("could not number a device key id")
        return found

    def lock_head(self, negotiation_id: str) -> NegotiationHead | None:
        """The negotiation's head row, locked until the transaction ends (None if it does not exist)."""
        row = driver.head_row(self.conn, negotiation_id, for_update=self.store.dialect == "postgresql")
        if row is None:
            return None
        number, found_id, size, root, checkpoint = row
        self.negotiation_nos[negotiation_id] = number
        return NegotiationHead(found_id, size, bytes(root), checkpoint)

    def create_negotiation(self, negotiation_id: str, created_at: str) -> None:
        result = self.conn.execute(insert(t.negotiations).values(
            negotiation_id=negotiation_id, created_at=created_at, size=0, root=hashlib.sha256(b"").digest(),
            checkpoint=""))
        self.negotiation_nos[negotiation_id] = result.inserted_primary_key[0]

    def insert_events(self, negotiation_id: str, rows: Sequence[dict], blobs: Sequence[dict],
                      readers: Sequence[dict]) -> dict[int, tuple[bytes, bytes]]:
        """Rows as ``{seq, event_id, header, signature, received_at, leaf_hash}``, blobs as ``{seq, idx, blob}``,
        readers as ``{device_key_id, seq, idx}`` (who may fetch ciphertext ``idx`` of event ``seq``).
        ``leaf_hash`` (32 bytes) is the event's Merkle leaf hash: the log's level-0 node ``(0, seq)``
        is stored in the event row (``put_nodes`` then accepts that node and writes nothing more).
        Returns each row's header and signature as stored, by seq (what a page read gives back).

        Raises:
            NotFoundError: no such negotiation.  StorageError: a row has no 32-byte ``leaf_hash``.
            IntegrityError (ConflictError from ``write``): an event with this seq or event id exists.
        """
        number = self._require_negotiation_no(negotiation_id)
        values = []
        stored: dict[int, tuple[bytes, bytes]] = {}
        for r in rows:
            leaf = r.get("leaf_hash")
            if not isinstance(leaf, bytes) or len(leaf) != 32:
                raise StorageError("an event row needs its 32-byte leaf hash")
            self.leaves[(number, r["seq"])] = leaf
            header, signature = codec.pack_header(r["header"]), codec.pack_signature(r["signature"])
            stored[r["seq"]] = (header, signature)
            values.append((number, r["seq"], codec.pack_event_id(r["event_id"]), header, signature,
                           r["received_at"], leaf))
        driver.execute_many(self.conn, driver.INSERT_EVENTS, values)
        if blobs:
            device_nos = self.device_numbers(r["device_key_id"] for r in readers)
            readers_of: dict[tuple[int, int], list[int]] = {}
            for r in readers:
                readers_of.setdefault((r["seq"], r["idx"]), []).append(device_nos[r["device_key_id"]])
            driver.execute_many(self.conn, driver.INSERT_CIPHERTEXTS, [
                (number, b["seq"], b["idx"], codec.pack_readers(readers_of.get((b["seq"], b["idx"]), [])), b["blob"])
                for b in blobs])
        return stored

    def notify_appended(self, negotiation_ids: Sequence[str]) -> None:
        """PostgreSQL: NOTIFY ``parley_events`` with each negotiation id, delivered when this transaction
        commits (and never if it rolls back). No-op on SQLite (one process)."""
        if self.store.dialect == "postgresql" and negotiation_ids:
            self.conn.execute(text("SELECT pg_notify('parley_events', :n)"), [{"n": n} for n in negotiation_ids])

    def add_negotiation_parties(self, negotiation_id: str, party_ids: Sequence[str]) -> None:
        existing = {r.party_id for r in self.conn.execute(
            select(t.negotiation_parties.c.party_id).where(t.negotiation_parties.c.negotiation_id == negotiation_id))}
        new = [p for p in party_ids if p not in existing]
        if new:
            self.conn.execute(insert(t.negotiation_parties),
                              [{"negotiation_id": negotiation_id, "party_id": p} for p in new])

    def put_nodes(self, negotiation_id: str, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store log nodes ``(level, idx, hash)``. A level-0 node is the leaf hash of event ``idx``, kept in
        its event row: it must be the ``leaf_hash`` given to ``insert_events`` in this transaction, and
        nothing more is written for it.

        Raises:
            NotFoundError: no such negotiation.  StorageError: a level-0 node that is not the leaf hash
            of an event inserted in this transaction.
        """
        if not nodes:
            return
        number = self._require_negotiation_no(negotiation_id)
        upper = []
        for node in nodes:
            if node[0] != 0:
                upper.append((number, node[0], node[1], node[2]))
            elif self.leaves.get((number, node[1])) != node[2]:
                raise StorageError(f"log node (0, {node[1]}) is not the leaf hash of an event inserted in this "
                                   "transaction")
        driver.execute_many(self.conn, driver.INSERT_NODES, upper)

    def set_head(self, negotiation_id: str, size: int, root: bytes, checkpoint: str) -> None:
        """Raises: NotFoundError: no such negotiation."""
        driver.execute(self.conn, driver.SET_HEAD, (size, root, checkpoint, self._require_negotiation_no(negotiation_id)))

    def events_after(self, negotiation_id: str, after: int, *, ciphertexts: bool = True) -> list[StoredEvent]:
        """All events after ``after``, with every ciphertext unless ``ciphertexts=False`` (headers only,
        enough to catch up a stale in-memory state from the committed log)."""
        number = self.negotiation_no(negotiation_id)
        if number is None:
            return []
        rows = self.conn.execute(select(*_EVENT_COLUMNS).where(
            and_(t.events.c.negotiation_no == number, t.events.c.seq > after)).order_by(t.events.c.seq)).all()
        if not ciphertexts:
            return [unpack_event(r, {}) for r in rows]
        blobs: dict[int, dict[int, bytes]] = {}
        for b in self.conn.execute(select(t.ciphertexts.c.seq, t.ciphertexts.c.idx, t.ciphertexts.c.blob).where(
                and_(t.ciphertexts.c.negotiation_no == number, t.ciphertexts.c.seq > after))):
            blobs.setdefault(b.seq, {})[b.idx] = b.blob
        return [unpack_event(r, blobs.get(r.seq, {})) for r in rows]

    def node_reader(self, negotiation_id: str) -> SqlNodeReader:
        return SqlNodeReader(self.store, negotiation_id, self)

    def add_public_records(self, rows: Sequence[dict]) -> None:
        if rows:
            self.conn.execute(insert(t.public_records), list(rows))


class SqlNodeReader:
    """``parley.tlog.merkle.NodeReader`` over ``events.leaf_hash`` (level 0) and the ``tlog_nodes`` table
    (levels >= 1): one query per batch."""

    def __init__(self, store: RelayStore, negotiation_id: str, txn: WriteTxn | None) -> None:
        self.store = store
        self.negotiation_id = negotiation_id
        self.txn = txn

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        if self.txn is not None:
            number = self.txn.negotiation_no(self.negotiation_id)
            rows = [] if number is None else self.txn.conn.execute(nodes_query(number, keys)).all()
        else:
            with self.store._read() as conn:
                number = self.store._negotiation_no(conn, self.negotiation_id)
                rows = [] if number is None else conn.execute(nodes_query(number, keys)).all()
        return {(r.level, r.idx): r.hash for r in rows}
