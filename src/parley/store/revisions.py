"""The relay schema's revisions: the one this parley needs, why a database cannot be served, migrating."""

from __future__ import annotations

import functools
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from parley.errors import StorageError


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations inside the package."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("parley.store") / "migrations"))
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    """The migrations this installation ships (read once)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The schema revision this version of parley needs (the newest migration it ships)."""
    head = scripts().get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise StorageError("no migrations found in this installation of parley")
    return head


def schema_problem(revision: str | None) -> str | None:
    """Why a database at ``revision`` cannot be served by this version of parley, or None if it can."""
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return "the relay database has no schema yet"
    known = {script.revision for script in scripts().walk_revisions()}
    if revision in known:
        return f"the relay database is at schema revision {revision}; this version of parley needs {head}"
    return (f"the relay database is at schema revision {revision}, which this version of parley does not know "
            f"(a newer parley migrated it; this one needs {head})")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (every pending revision in one transaction).

    Raises:
        StorageError: the database cannot be migrated.
    """
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate the relay database: {exc.__class__.__name__}") from exc


__all__ = ["alembic_config", "head_revision", "migrate", "schema_problem", "scripts"]
