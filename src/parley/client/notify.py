"""What awaits this member, as notifications: an official response due, a meeting to answer, a text to sign.

Computed on this machine from the verified local copy after each sync (``awaiting_party`` in
``parley.protocol.deadlines``); nothing about content leaves the machine. ``Notifier`` remembers what it
has told, so a running ``parley watch`` (or the web UI) announces each item once, and again only for a new
version (a revised memorandum, a new agreement version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parley.protocol.deadlines import awaiting_party


def awaiting_me(negotiation: Any) -> list[dict[str, Any]]:
    """What awaits this member's party in ``negotiation`` (a ``parley.client.workflow.Negotiation``, synced),
    with party names and the negotiation's id and title."""
    views = negotiation.views()
    names = negotiation.party_names()
    now = negotiation.client.clock()
    title = views.title.title if views.title else negotiation.id
    return [{**row, "negotiation_id": negotiation.id, "negotiation": title,
             "asked_by": names.get(row["asked_by"], row["asked_by"]),
             "key": f"{negotiation.id}:{row['key']}"}
            for row in awaiting_party(views, negotiation.agreements(), negotiation.own_party, now)]


def describe(item: dict[str, Any]) -> str:
    """One terminal line for a notification."""
    what = {"official response": "an official response is awaited from you on",
            "meeting answer": "a meeting awaits your answer:",
            "signature": "a text awaits your signature:"}[item["kind"]]
    due = f" (due {item['due']})" if item.get("due") else ""
    return f"{item['negotiation']}: {what} '{item['title']}' from {item['asked_by']}{due}"


@dataclass
class Notifier:
    """Announces each awaiting item once (per version); forgets items no longer awaited."""

    seen: set[str] = field(default_factory=set)

    def update(self, items: list[dict[str, Any]], negotiation_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The items not announced before. ``negotiation_ids``: the negotiations ``items`` cover (items of
        others stay remembered)."""
        fresh = [item for item in items if item["key"] not in self.seen]
        keys = {item["key"] for item in items}
        if negotiation_ids is not None:
            self.seen = {k for k in self.seen if k.split(":", 1)[0] not in negotiation_ids}
            self.seen |= keys
        else:
            self.seen = keys
        return fresh


__all__ = ["Notifier", "awaiting_me", "describe"]
