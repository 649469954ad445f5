"""The relay's files on disk: readable by the operator's account only, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from parley.relay.backup import backup
from parley.relay.config import RelayConfig
from parley.relay.server import init_relay, open_relay_store


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def test_relay_database_readable_by_other_local_users(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual default: new files 0644
    try:
        config = RelayConfig.from_options(tmp_path / "relay-data", None, "relay.test")
        init_relay(config)  # the key, the database
        store = open_relay_store(config)
        store.create_enrol_token("Ukraine", "2030-01-01T00:00:00Z")  # a write: the WAL files exist
        copy = backup(config.database, tmp_path / "backups" / "relay-backup.db")
        data_modes = _modes(config.data_dir)
        store.close()
    finally:
        os.umask(old)
    assert {"relay.key", "relay.db", "relay.db-wal"} <= set(data_modes)
    assert {name: mode for name, mode in data_modes.items() if mode & 0o077} == {}
    assert stat.S_IMODE(config.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(copy["file"]).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
