"""The visible copy line put on every export and print: 'Copy for <name>, <party>, <UTC time>, copy no. N'."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from parley.errors import InputError

_TIME_FORMAT = "%Y-%m-%d %H:%M UTC"
_LINE = re.compile(
    r"Copy for (?P<name>[^,\n]+), (?P<party>[^,\n]+), (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d UTC), copy no\. (?P<no>\d+)"
)


@dataclass(frozen=True)
class VisibleMark:
    name: str
    party: str
    when: datetime
    copy_no: int


def _field(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be a non-empty string")
    # commas and line breaks would make the line ambiguous to parse back
    if any(ch in value for ch in ",\n\r") or not value.isprintable():
        raise InputError(f"{what} must be one line without commas or control characters")
    return value.strip()


def visible_mark(name: str, party: str, when: datetime, copy_no: int) -> str:
    """'Copy for <name>, <party>, <YYYY-MM-DD HH:MM UTC>, copy no. N'.

    Raises InputError if name or party is empty or holds commas or control characters, if
    ``when`` is not a timezone-aware datetime, or copy_no is not a positive integer.
    """
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise InputError("when must be a timezone-aware datetime")
    if isinstance(copy_no, bool) or not isinstance(copy_no, int) or copy_no < 1:
        raise InputError("copy_no must be a positive integer")
    stamp = when.astimezone(UTC).strftime(_TIME_FORMAT)
    return f"Copy for {_field(name, 'name')}, {_field(party, 'party')}, {stamp}, copy no. {copy_no}"


def with_visible_mark(text: str, line: str) -> str:
    """The export form: the copy line, a blank line, then the (invisibly marked) text."""
    return f"{line}\n\n{text}"


def find_visible_mark(text: str) -> VisibleMark | None:
    """The first copy line found in ``text`` (a leaker may have cut it off: then None)."""
    m = _LINE.search(text)
    if m is None:
        return None
    when = datetime.strptime(m.group("when"), _TIME_FORMAT).replace(tzinfo=UTC)
    return VisibleMark(m.group("name"), m.group("party"), when, int(m.group("no")))
