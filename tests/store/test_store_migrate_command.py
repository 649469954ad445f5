"""``parley relay migrate`` from every earlier schema revision, on SQLite and PostgreSQL: ``--dry-run`` lists
what would run and changes nothing, ``serve`` and ``invite-party`` refuse a database that is not current
(older or newer) and never migrate it, read-only commands leave the revision as it was, and a migrated
database is ready (``/readyz``)."""

from __future__ import annotations

import contextlib
import io
import json
import time
from importlib import resources
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from parley.cli import output
from parley.cli.main import main
from parley.client.transport import InProcessTransport
from parley.relay.app import Relay, create_app
from parley.relay.server import RelayConfig, load_signer
from parley.store.engine import database_url, make_engine
from parley.store.relay_store import open_store
from parley.store.revisions import head_revision
from parley.tlog.note import new_signer_key

NAME = "migrate.relay"
REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    output.console.file, output.err_console.file = out, err
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        output.console.file = output.err_console.file = None
    return code, out.getvalue(), " ".join(err.getvalue().split())


def _database_at(url: str, revision: str | None) -> None:
    engine = make_engine(database_url(url))
    if revision is not None:
        config = Config()
        config.set_main_option("script_location", str(resources.files("parley.store") / "migrations"))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    else:
        with engine.connect():
            pass  # an empty SQLite file, or an empty PostgreSQL schema
    engine.dispose()


def _revision(url: str) -> str | None:
    store = open_store(url, migrate_schema=False)
    try:
        return store.schema_revision()
    finally:
        store.close()


def _relay_folder(tmp_path: Path) -> Path:
    """A relay's data folder with its key (as ``relay init`` leaves it), the database made apart."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    skey, _ = new_signer_key(NAME)
    (data / "relay.key").write_text(skey + "\n")
    return data


def test_head_is_the_newest_revision() -> None:
    assert head_revision() == REVISIONS[-1]


@pytest.mark.parametrize("start", [None, *REVISIONS[:-1]])
def test_migrate_from_every_earlier_revision(db_url: str, tmp_path: Path, start: str | None) -> None:
    _database_at(db_url, start)
    data = _relay_folder(tmp_path)
    where = ["--data", str(data), "--database", db_url, "--name", NAME]
    expected = REVISIONS[REVISIONS.index(start) + 1:] if start else REVISIONS

    # serve and invite-party refuse, say why and what to do, and change nothing
    for args in (["serve", "--port", "1"], ["invite-party", "Ukraine"]):
        code, _, err = run("relay", *args, *where)
        assert code == 6, (args, err)
        assert "parley relay migrate" in err, err
        assert (f"at schema revision {start}" if start else "has no schema yet") in err
        assert _revision(db_url) == start
    # read-only commands never migrate
    code, _, err = run("relay", "info", *where[:2], "--name", NAME)
    assert code == 0, err
    if db_url.startswith("postgresql"):  # rows are read with this version's tables: refused, unchanged
        code, _, err = run("relay", "backup", str(tmp_path / "backup.jsonl.gz"), *where)
        assert code == 6 and "parley relay migrate" in err
    else:  # a copy of the file, whatever its revision
        code, _, err = run("relay", "backup", str(tmp_path / "backup.db"), *where)
        assert code == 0, err
    assert _revision(db_url) == start

    code, out, err = run("--json", "relay", "migrate", "--dry-run", *where)
    assert code == 0, err
    dry = json.loads(out)
    assert dry["from"] == start and dry["dry_run"] is True
    assert [r["revision"] for r in dry["revisions"]] == expected
    assert all(r["description"] for r in dry["revisions"])
    assert _revision(db_url) == start

    code, out, err = run("--json", "relay", "migrate", *where)
    assert code == 0, err
    assert [r["revision"] for r in json.loads(out)["revisions"]] == expected
    assert _revision(db_url) == REVISIONS[-1]
    code, out, _ = run("--json", "relay", "migrate", *where)
    assert code == 0 and json.loads(out)["revisions"] == []  # nothing left to do

    code, out, err = run("--json", "relay", "invite-party", "Ukraine", *where)
    assert code == 0 and json.loads(out)["token"], err
    config = RelayConfig.from_options(data, db_url, NAME)
    relay = Relay(open_store(db_url, migrate_schema=False), load_signer(config), NAME)
    transport = InProcessTransport(create_app(relay))
    try:
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            ready = http.get("/readyz")
            assert ready.json()["checks"]["database"] == "ok"
            # On PostgreSQL the LISTEN connection may still be connecting just after start: not ready yet.
            deadline = time.monotonic() + 30
            while ready.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.1)
                ready = http.get("/readyz")
        assert ready.status_code == 200, ready.json()
    finally:
        transport.shutdown()
        relay.close()


def test_a_newer_schema_is_refused_not_migrated(db_url: str, tmp_path: Path) -> None:
    """A database migrated by a newer parley, served by an older one, would be misread: refused."""
    _database_at(db_url, REVISIONS[-1])
    engine = make_engine(database_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    data = _relay_folder(tmp_path)
    where = ["--data", str(data), "--database", db_url, "--name", NAME]
    for args in (["serve", "--port", "1"], ["migrate"], ["migrate", "--dry-run"], ["invite-party", "Ukraine"]):
        code, _, err = run("relay", *args, *where)
        assert code == 6, (args, err)
        assert "does not know" in err and "0099" in err, err
    assert _revision(db_url) == "0099"
    relay = Relay(open_store(db_url, migrate_schema=False), load_signer(RelayConfig.from_options(data, db_url, NAME)),
                  NAME)
    try:
        assert "does not know" in relay.readiness()["database"]
    finally:
        relay.close()


def test_readyz_says_not_ready_on_an_old_schema_and_a_stopped_writer(tmp_path: Path) -> None:
    database = str(tmp_path / "relay.db")
    _database_at(database, "0004")
    data = _relay_folder(tmp_path)
    relay = Relay(open_store(database, migrate_schema=False),
                  load_signer(RelayConfig.from_options(data, database, NAME)), NAME)
    transport = InProcessTransport(create_app(relay))
    try:
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            assert http.get("/healthz").status_code == 200  # alive all the same
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not ready"
            assert "0004" in ready.json()["checks"]["database"]
            assert ready.json()["checks"]["writer"] == "ok"
            relay.store.migrate()
            assert http.get("/readyz").status_code == 200
            relay.ingestor.close()  # the writer thread stops
            stopped = http.get("/readyz")
            assert stopped.status_code == 503 and stopped.json()["checks"]["writer"] == "the writer has stopped"
    finally:
        transport.shutdown()
        relay.store.close()
