"""Dates and time zones typed at the command line, and times shown to people.

Signed data holds UTC (``2027-06-02T07:00:00Z``); people type and read local times. A time without
an offset is read in the zone given by ``--timezone`` (an IANA name such as ``Europe/Istanbul``,
checked against the system's zone database), else in this machine's zone.
"""

from __future__ import annotations

import difflib
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from parley.errors import InputError
from parley.protocol.times import parse_time

EXAMPLES = "2027-06-02T10:00, 2027-06-02 10:00, 2027-06-02T07:00:00Z or 2027-06-02T10:00+03:00"


def zone(name: str | None) -> tzinfo:
    """The time zone named ``name`` (IANA), or this machine's zone for None.

    Raises:
        InputError: no such zone; the message suggests the closest names.
    """
    if name is None:
        return datetime.now().astimezone().tzinfo or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        names = sorted(available_timezones())
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        close += [n for n in names if n.split("/")[-1].lower() == name.lower() and n not in close]
        hint = f"did you mean {' or '.join(close[:3])}?" if close else "use an IANA name such as Europe/Istanbul"
        raise InputError(f"unknown time zone '{name}'", hint=hint) from None


def zone_name(name: str | None) -> str:
    """A validated IANA name to store (the machine's zone key, or UTC, for None).

    Raises:
        InputError: no such zone.
    """
    found = zone(name)
    return getattr(found, "key", None) or (name or "UTC")


def read_time(text: str, *, timezone: str | None = None, date_means_end_of_day: bool = False,
              now: datetime | None = None, what: str = "time", not_past: bool = False) -> datetime:
    """A moment typed by a person: with an offset or Z as given, else local to ``timezone``.

    ``date_means_end_of_day``: a date alone (``2027-01-15``) is 23:59:59 that day in the zone, as a
    deadline reads. ``not_past``: refuse a moment before ``now`` (a deadline or meeting in the past).

    Raises:
        InputError: unreadable, a date alone where a time is needed, an unknown zone, or in the past.
    """
    text = text.strip()
    try:
        moment = parse_time(text)
    except InputError:
        moment = None
    if moment is None:
        try:
            day = date.fromisoformat(text) if len(text) == 10 else None
        except ValueError:
            day = None
        if day is not None:
            if not date_means_end_of_day:
                raise InputError(f"the {what} '{text}' is a date: give a time too, e.g. {text}T10:00")
            moment = datetime.combine(day, time(23, 59, 59), zone(timezone))
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise InputError(f"cannot read the {what} '{text}'", hint=f"write it like {EXAMPLES}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone(timezone))
            elif timezone is not None:
                zone(timezone)
    now = now or datetime.now(UTC)
    if not_past and moment < now:
        raise InputError(f"the {what} {show_time(moment)} is in the past", hint="nothing was changed")
    return moment


def show_time(moment: datetime | str | None, timezone: str | None = None) -> str:
    """``2027-06-02 10:00 +03`` style: short enough for a table column; in ``timezone`` or this machine's zone."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = parse_time(moment)
    local = moment.astimezone(zone(timezone))
    label = local.tzname() or ""
    return local.strftime("%Y-%m-%d %H:%M") + (f" {label}" if label else "")


def show_venue_time(moment: str, venue_zone: str) -> str:
    """The venue's local time with UTC beside it: ``2027-06-02 10:00 Europe/Istanbul (07:00 UTC)``."""
    parsed = parse_time(moment)
    try:
        local = parsed.astimezone(zone(venue_zone))
    except InputError:
        return show_time(parsed, "UTC")
    return f"{local.strftime('%Y-%m-%d %H:%M')} {venue_zone} ({parsed.astimezone(UTC).strftime('%H:%M')} UTC)"
