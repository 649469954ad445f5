"""The optional installs: a delegation installs ``parley``; a relay operator ``parley[relay]`` (and
``parley[postgres]``). A command that needs an install that is missing says which, instead of failing on
an import deep inside."""

from __future__ import annotations

import importlib.util

from parley.errors import ConfigError

#: extra -> the top-level modules it installs that parley imports
EXTRAS: dict[str, tuple[str, ...]] = {
    "relay": ("fastapi", "sqlalchemy", "alembic", "prometheus_client", "structlog"),
    "postgres": ("psycopg",),
}


def require(extra: str, what: str) -> None:
    """Raises: ConfigError naming the pip command when a module of ``extra`` is not installed."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"{what} needs the libraries of parley[{extra}] ({', '.join(missing)} not installed)",
                          hint=f"pip install 'parley[{extra}]'")


__all__ = ["EXTRAS", "require"]
