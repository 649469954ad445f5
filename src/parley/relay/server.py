"""Relay configuration on disk and the uvicorn entry point.

The data folder holds the relay's checkpoint signing key (``relay.key``, a
C2SP signer key, mode 0600) and, by default, the SQLite database ``relay.db``.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path

from parley.errors import ConfigError
from parley.settings import DEFAULT_LIMITS, Limits
from parley.store.relay_store import RelayStore, open_store
from parley.tlog.note import Signer, new_signer_key

DEFAULT_RELAY_NAME = "parley.relay"


@dataclass(frozen=True)
class RelayConfig:
    data_dir: Path
    database: str
    name: str = DEFAULT_RELAY_NAME
    limits: Limits = DEFAULT_LIMITS

    @classmethod
    def from_options(cls, data_dir: Path, database: str | None, name: str | None) -> RelayConfig:
        data_dir = data_dir.expanduser()
        return cls(data_dir=data_dir, database=database or str(data_dir / "relay.db"),
                   name=name or DEFAULT_RELAY_NAME)


def load_or_create_signer(config: RelayConfig) -> Signer:
    """The relay's checkpoint key, created on first use.

    Raises:
        ConfigError: the key file is unreadable or belongs to another relay name.
    """
    path = config.data_dir / "relay.key"
    if not path.exists():
        config.data_dir.mkdir(parents=True, exist_ok=True)
        skey, _vkey = new_signer_key(config.name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(skey + "\n")
    try:
        signer = Signer.from_skey(path.read_text().strip())
    except OSError as exc:
        raise ConfigError(f"cannot read the relay key {path}: {exc.strerror}") from None
    if signer.name != config.name:
        raise ConfigError(f"the relay key in {path} is for relay '{signer.name}', not '{config.name}'")
    return signer


def open_relay_store(config: RelayConfig) -> RelayStore:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return open_store(config.database)


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


def build_app(config: RelayConfig):  # noqa: ANN201
    from parley.relay.app import Relay, create_app

    relay = Relay(open_relay_store(config), load_or_create_signer(config), config.name, config.limits)
    return create_app(relay)


def serve(config: RelayConfig, host: str, port: int, *, log_level: str = "warning", http: str = "auto",
          limit_concurrency: int | None = None) -> None:
    """Run the relay until interrupted.

    ``http="h11"`` caps request headers at 16 KiB (httptools, uvicorn's "auto" choice, does not);
    ``limit_concurrency`` answers 503 beyond that many open connections (see docs/security.md).
    """
    import uvicorn

    app = build_app(config)
    tune_garbage_collector()
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, http=http,
                limit_concurrency=limit_concurrency)
