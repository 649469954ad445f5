"""Progress of long work (a first sync of many events, verifying a log, an attachment, a backup), reported
to whoever listens: the CLI draws progress bars from it; nothing listens by default, and reporting then
costs one context-variable read.

``report(task, done, total)``: ``task`` names the work for a person ("fetching events"), ``done`` counts
what is finished, ``total`` is the count when known (None: unknown, a spinner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, int, int | None], None]

_listener: ContextVar[Listener | None] = ContextVar("parley_progress_listener", default=None)


def report(task: str, done: int, total: int | None = None) -> None:
    """Tell the listener, if any, how far ``task`` is."""
    listener = _listener.get()
    if listener is not None:
        listener(task, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the reports made inside the block (in this thread) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
