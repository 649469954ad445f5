"""A relay's configuration: command-line flags, ``PARLEY_RELAY_*`` environment variables and a TOML file.

Every setting has one name, used three ways: the flag ``--database``, the variable ``PARLEY_RELAY_DATABASE``
and the key ``database`` in ``parley-relay.toml`` (given with ``--config`` or ``PARLEY_RELAY_CONFIG``). A flag
wins over the variable, the variable over the file, the file over the default. Secrets (the PostgreSQL URL
with its password, the metrics token) never need the command line, where other local users read them
(``ps``): put them in the file, in the environment, or in a file of their own (``database-file``,
``metrics-token-file``, e.g. systemd credentials). A configuration file holding a secret must not be
readable by other users.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from parley.errors import ConfigError
from parley.settings import DEFAULT_LIMITS, Limits

DEFAULT_RELAY_NAME = "parley.relay"
DEFAULT_DATA_DIR = Path("~/.parley-relay")
ENV_PREFIX = "PARLEY_RELAY_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"

#: setting -> (type, help); the file key and the flag are the setting with "-" for "_"
SETTINGS: dict[str, tuple[type, str]] = {
    "data": (Path, "Relay data folder: the checkpoint key relay.key and, by default, the SQLite database."),
    "database": (str, "Database: a SQLite file path or a postgresql:// URL (default: DATA/relay.db)."),
    "database_file": (Path, "A file holding the database URL (keeps a password off the command line)."),
    "name": (str, "Relay name, the first part of checkpoint origins."),
    "host": (str, "Address to listen on."),
    "port": (int, "TCP port."),
    "workers": (int, "HTTP worker processes sharing one writer (2 or more use more cores)."),
    "rate": (float, "Requests per second per device (token bucket; 0 = no limit)."),
    "burst": (int, "Burst of requests per device above the rate."),
    "http": (str, "HTTP parser: auto, h11 (caps headers at 16 KiB) or httptools."),
    "limit_concurrency": (int, "Answer 503 beyond this many open connections."),
    "metrics_token": (str, "Bearer token /metrics asks for (without one /metrics is not served)."),
    "metrics_token_file": (Path, "A file holding the metrics token."),
    "log_format": (str, "Log lines: json, console, or auto (JSON unless standard error is a terminal)."),
    "log_level": (str, "Least level logged: debug, info, warning, error."),
    "log_ids": (bool, "Name negotiations, parties and devices in request logs (off: privacy mode)."),
}
_SECRETS = ("database", "metrics_token")


@dataclass(frozen=True)
class RelayConfig:
    data_dir: Path
    database: str
    name: str = DEFAULT_RELAY_NAME
    limits: Limits = DEFAULT_LIMITS
    host: str = "127.0.0.1"
    port: int = 8470
    workers: int = 1
    http: str = "auto"
    limit_concurrency: int | None = None
    metrics_token: str | None = field(default=None, repr=False)
    log_format: str = "auto"
    log_level: str = "info"
    log_ids: bool = False

    @classmethod
    def from_options(cls, data_dir: Path, database: str | None, name: str | None) -> RelayConfig:
        data_dir = data_dir.expanduser()
        return cls(data_dir=data_dir, database=database or str(data_dir / "relay.db"),
                   name=name or DEFAULT_RELAY_NAME)

    @property
    def key_path(self) -> Path:
        return self.data_dir / "relay.key"


def _convert(name: str, value: Any, origin: str) -> Any:
    kind = SETTINGS[name][0]
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{origin}: {name.replace('_', '-')} must be true or false, not {value!r}")
    if isinstance(value, bool) or (kind is not str and kind is not Path and isinstance(value, str) and not value):
        raise ConfigError(f"{origin}: {name.replace('_', '-')} must be a {kind.__name__}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {name.replace('_', '-')} must be a {kind.__name__}, not {value!r}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in a ``parley-relay.toml``.

    Raises:
        ConfigError: unreadable, not TOML, an unknown key, a wrong type, or a secret in a file that other
        users may read.
    """
    path = path.expanduser()
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read the relay configuration {path}: {exc.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    settings: dict[str, Any] = {}
    for key, value in document.get("relay", document).items():
        name = key.replace("-", "_")
        if name not in SETTINGS:
            raise ConfigError(f"{path}: unknown setting '{key}'",
                              hint=f"known settings: {', '.join(k.replace('_', '-') for k in SETTINGS)}")
        settings[name] = _convert(name, value, str(path))
    if mode & stat.S_IROTH and any(secret in settings for secret in _SECRETS):
        raise ConfigError(f"{path} holds a secret and every user of this machine can read it",
                          hint=f"chmod o-r {path} (or keep the secret in a file of its own: database-file)")
    return settings


def environment_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``PARLEY_RELAY_<NAME>`` variables. Raises: ConfigError for a wrong type."""
    environ = os.environ if environ is None else environ
    found = {}
    for name in SETTINGS:
        variable = ENV_PREFIX + name.upper()
        if variable in environ and environ[variable] != "":
            found[name] = _convert(name, environ[variable], variable)
    return found


def _read_secret_file(path: Path, what: str) -> str:
    try:
        value = path.expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} from {path}: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{path} is empty: it should hold the {what}")
    return value


def load_config(flags: dict[str, Any], *, config_file: Path | None = None,
                environ: dict[str, str] | None = None) -> RelayConfig:
    """Merge the sources (flags > environment > file > defaults) into a ``RelayConfig``. ``flags`` holds the
    command line's values, None for a flag not given.

    Raises:
        ConfigError: a bad file, variable or value.
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(CONFIG_ENV):
        config_file = Path(environ[CONFIG_ENV])
    merged: dict[str, Any] = read_config_file(config_file) if config_file is not None else {}
    merged.update(environment_settings(environ))
    merged.update({name: value for name, value in flags.items() if value is not None})
    for secret, holder in (("database", "database_file"), ("metrics_token", "metrics_token_file")):
        if secret not in merged and holder in merged:
            merged[secret] = _read_secret_file(merged[holder], secret.replace("_", " "))
    config = RelayConfig.from_options(merged.get("data", DEFAULT_DATA_DIR), merged.get("database"),
                                      merged.get("name"))
    simple = {f.name for f in fields(RelayConfig)} - {"data_dir", "database", "name", "limits"}
    config = replace(config, **{name: merged[name] for name in simple if name in merged})
    if "rate" in merged or "burst" in merged:
        config = replace(config, limits=replace(
            config.limits, rate_per_device=merged.get("rate", config.limits.rate_per_device),
            rate_burst=merged.get("burst", config.limits.rate_burst)))
    if config.log_format not in ("auto", "json", "console"):
        raise ConfigError(f"log-format must be auto, json or console, not {config.log_format!r}")
    if config.http not in ("auto", "h11", "httptools"):
        raise ConfigError(f"http must be auto, h11 or httptools, not {config.http!r}")
    if config.workers < 1:
        raise ConfigError("workers must be at least 1")
    return config
