"""Timestamps in signed data: only the strict RFC 3339 UTC form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.errors import InputError
from parley.protocol.times import format_time, parse_time


def test_round_trip() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    assert parse_time(format_time(moment)) == moment
    assert parse_time("2026-03-01T12:30:05Z") is parse_time("2026-03-01T12:30:05Z")  # cached, immutable


@pytest.mark.parametrize("text", ["2026-03-01T12:30:05Z\n", " 2026-03-01T12:30:05Z", "2026-03-01T12:30:05+00:00",
                                  "2026-03-01 12:30:05Z", "2026-03-01T12:30:05.1Z", "", 5, None])
def test_other_forms_are_refused(text: object) -> None:
    with pytest.raises(InputError, match="must look like"):
        parse_time(text, what="header.created")


def test_impossible_date_is_refused_every_time() -> None:
    for _ in range(2):  # the cache keeps the refusal, not a value
        with pytest.raises(InputError, match="not a valid date"):
            parse_time("2026-02-30T12:00:00Z")
