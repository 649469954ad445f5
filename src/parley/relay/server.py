"""A relay's data folder, its key and database, and the uvicorn entry point.

The data folder holds the relay's checkpoint signing key (``relay.key``, a C2SP signer key, mode 0600)
and, by default, the SQLite database ``relay.db``. Only ``parley relay init`` creates them
(``init_relay``); every other command refuses a folder without a key, so a mistyped ``--data`` never
makes a second relay.
"""

from __future__ import annotations

import gc
import os

from parley.errors import ConfigError
from parley.relay.config import DEFAULT_RELAY_NAME, RelayConfig
from parley.store.relay_store import RelayStore, open_store
from parley.tlog.note import Signer, new_signer_key

__all__ = ["DEFAULT_RELAY_NAME", "RelayConfig", "init_relay", "load_signer", "open_relay_store", "serve"]


def load_signer(config: RelayConfig) -> Signer:
    """The relay's checkpoint key, from ``DATA/relay.key``.

    Raises:
        ConfigError: no key there (not a relay's data folder), unreadable, or for another relay name.
    """
    path = config.key_path
    if not path.exists():
        raise ConfigError(
            f"{config.data_dir} holds no relay key (relay.key): it is not a relay's data folder",
            hint=f"give the relay's folder with --data, or create a new relay with "
                 f"'parley relay init --data {config.data_dir} --name NAME'")
    try:
        signer = Signer.from_skey(path.read_text().strip())
    except OSError as exc:
        raise ConfigError(f"cannot read the relay key {path}: {exc.strerror}") from None
    if signer.name != config.name:
        raise ConfigError(f"the relay key in {path} is for relay '{signer.name}', not '{config.name}'",
                          hint=f"give --name {signer.name} (or set name in the configuration)")
    return signer


def init_relay(config: RelayConfig) -> tuple[Signer, list[tuple[str, str]]]:
    """Create a relay: its data folder (0700), its checkpoint key (0600) and its database schema.
    Returns the signer and the migrations run.

    Raises:
        ConflictError: the folder holds a relay key already.
        StorageError: the database cannot be reached or migrated.
    """
    from parley.errors import ConflictError

    path = config.key_path
    if path.exists():
        raise ConflictError(f"{config.data_dir} holds a relay key already: this relay exists",
                            hint="'parley relay info' shows its key; 'parley relay migrate' updates its database")
    config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = open_store(config.database, migrate_schema=False)
    try:
        applied = store.migrate()
    finally:
        store.close()
    skey, _vkey = new_signer_key(config.name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(skey + "\n")
    return Signer.from_skey(skey), applied


def open_relay_store(config: RelayConfig, *, require_current: bool = True) -> RelayStore:
    """The relay's database, never migrated here (``parley relay migrate`` does that).

    Raises:
        StorageError: unreachable, or (``require_current``) its schema is not the one this version needs.
    """
    store = open_store(config.database, migrate_schema=False)
    if require_current:
        try:
            store.require_current_schema()
        except BaseException:
            store.close()
            raise
    return store


#: allocations between two young-generation collections (CPython's default is 700)
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector cheap for a long-running relay process; call once it has started.

    A page of 1,000 events allocates some 40,000 objects and a post a few hundred, so at CPython's
    defaults the collector runs every few requests, and now and then a full collection walks every object
    the process holds (about 40 ms with 100,000 of them). ``gc.freeze`` moves what exists after start
    (modules, the app, caches) out of the collector's sight for good; the higher young threshold runs the
    collector once per 50,000 allocations instead of 700. Reference counting still frees everything
    that is not in a cycle at once; cycles wait a little longer.
    """
    if os.environ.get("PARLEY_RELAY_GC") == "default":
        return
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def build_app(config: RelayConfig, writer: tuple[str, bytes] | None = None):  # noqa: ANN201
    """The relay's app for ``config``, with its request log. Raises: ConfigError, StorageError."""
    from parley.relay.app import Relay, create_app
    from parley.relay.logs import RequestLog

    signer = load_signer(config)
    relay = Relay(open_relay_store(config), signer, config.name, config.limits, writer=writer,
                  metrics_token=config.metrics_token)
    app = create_app(relay)
    app.add_middleware(RequestLog, log_ids=config.log_ids)
    return app


def configure_relay_logging(config: RelayConfig) -> None:
    from parley.relay.logs import configure_logging

    configure_logging(json_lines=None if config.log_format == "auto" else config.log_format == "json",
                      level=config.log_level)


def serve(config: RelayConfig) -> None:
    """Run the relay (one process) until interrupted.

    ``config.http="h11"`` caps request headers at 16 KiB (httptools, uvicorn's "auto" choice, does not);
    ``config.limit_concurrency`` answers 503 beyond that many open connections (see docs/security.md).

    Raises:
        ConfigError: no relay key in the data folder.  StorageError: the database is unreachable or its
        schema is not current (``parley relay migrate``).
    """
    import uvicorn

    configure_relay_logging(config)
    app = build_app(config)
    tune_garbage_collector()
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level, access_log=False,
                log_config=None, http=config.http, limit_concurrency=config.limit_concurrency)
