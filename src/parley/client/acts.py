"""``act``: a method run as one act under the profile lock (``Client.one_act``).

Its own module so that the modules an act lives in (trust, agreement, workflow...) need not import the
client SDK to be decorated (no import cycle through ``parley.client.sdk``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def act(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a method of an object with a ``client`` (or of a Client) as one act under the profile lock:
    its checks and its posts see no other process's writes in between (no double posts), and it lists
    each negotiation once (``Client.one_act``)."""

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = self if hasattr(self, "one_act") else self.client
        with client.one_act():
            return method(self, *args, **kwargs)

    return locked


__all__ = ["act"]
