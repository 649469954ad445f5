"""Formatting and parsing helpers for the UI's templates and forms (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from parley.errors import InputError
from parley.protocol.times import parse_time
from parley.protocol.views import IssueView

EVENT_LABELS = {
    "negotiation.genesis": "Negotiation opened",
    "party.invite": "Party invited",
    "party.join": "Party joined",
    "party.leave": "Party left",
    "member.add": "Member added",
    "member.remove": "Member removed",
    "agenda.issue.add": "Key issue added",
    "agenda.issue.rename": "Key issue renamed",
    "agenda.issue.close": "Key issue closed",
    "round.open": "Round opened",
    "round.close": "Round closed",
    "round.link": "Linked to a round",
    "memorandum.draft": "Memorandum draft saved",
    "memorandum.deliver": "Memorandum delivered",
    "memorandum.restricted": "Head-only sections delivered",
    "receipt": "Delivery receipt",
    "response.official": "Official response",
    "comment": "Comment",
    "meeting.propose": "Meeting proposed",
    "meeting.respond": "Meeting answered",
    "channel.open": "Channel opened",
    "channel.message": "Channel message",
    "message": "Message",
    "agreement.text": "Agreement text version",
    "agreement.objection": "Objection / comment on an article",
    "agreement.finalize": "Agreement text finalized",
    "agreement.sign": "Agreement signed",
    "agreement.release": "Consent to release",
    "agreement.publication": "Agreement published",
    "public.statement": "Public statement",
    "statement.public": "Public statement",
    "tracing.secret": "Tracing record (own party)",
    "trust.verify": "Trust in a party recorded (own party)",
}

STANCE_LABELS = {"accept": "Accept", "reject": "Reject", "counter": "Counter-proposal", "take-note": "Take note",
                 "reserve": "Reserve position"}


def event_label(event_type: str | None) -> str:
    if event_type is None:
        return "Sealed (addressed to others)"
    return EVENT_LABELS.get(event_type, event_type)


def when(value: str | None) -> str:
    """``2025-06-02T07:00:00Z`` as ``2025-06-02 07:00 UTC``."""
    if not value:
        return ""
    try:
        moment = parse_time(value)
    except InputError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(hours: float | None) -> str:
    if hours is None:
        return ""
    if hours < 1:
        return f"{max(0, round(hours * 60))} min"
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"


def parse_local(value: str, what: str) -> datetime:
    """A ``<input type=datetime-local>`` value, read as UTC.

    Raises:
        InputError: empty or malformed.
    """
    if not value:
        raise InputError(f"{what} is required")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{what}: use the form YYYY-MM-DDTHH:MM") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_articles(text: str) -> list[dict[str, str]]:
    """Articles typed as blocks that start with a ``## Heading`` line, each followed by its text.

    Raises:
        InputError: no article, or an article without heading or text.
    """
    articles: list[dict[str, Any]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("## "):
            articles.append({"heading": line[3:].strip(), "lines": []})
        elif articles:
            articles[-1]["lines"].append(line)
        elif line.strip():
            raise InputError("start each article with a line '## Heading'")
    out = []
    for number, article in enumerate(articles, 1):
        body = "\n".join(article["lines"]).strip()
        if not article["heading"] or not body:
            raise InputError(f"article {number} needs a heading and a text")
        out.append({"heading": article["heading"], "text": body})
    if not out:
        raise InputError("type at least one article: a line '## Heading', then its text")
    return out


def articles_text(articles: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"## {a['heading']}\n{a['text']}" for a in articles)


def redline_rows(diff: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) with kind in add / del / head / same."""
    rows = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            rows.append(("head", line[4:]))
        elif line.startswith("@@"):
            continue
        elif line.startswith("+"):
            rows.append(("add", line[1:]))
        elif line.startswith("-"):
            rows.append(("del", line[1:]))
        else:
            rows.append(("same", line[1:] if line.startswith(" ") else line))
    return rows


def issue_title(issue_id: str, issues: Mapping[str, IssueView]) -> str:
    """A key issue's title on the agenda, or its id when this member cannot read it."""
    issue = issues.get(issue_id)
    return issue_id if issue is None else issue.title


def short(text: str | None, limit: int = 160) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def word_redline(old: dict[str, str], new: dict[str, str]) -> list[dict[str, Any]]:
    """Per key issue, the new text as segments (same / add / del) against the old, word by word."""
    import difflib

    out = []
    for issue_id in sorted(set(old) | set(new)):
        before, after = old.get(issue_id, "").split(" "), new.get(issue_id, "").split(" ")
        if before == after:
            continue
        segments: list[tuple[str, str]] = []
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        for op, a1, a2, b1, b2 in matcher.get_opcodes():
            if op == "equal":
                segments.append(("same", " ".join(before[a1:a2])))
            if op in ("delete", "replace"):
                segments.append(("del", " ".join(before[a1:a2])))
            if op in ("insert", "replace"):
                segments.append(("add", " ".join(after[b1:b2])))
        out.append({"issue_id": issue_id, "segments": [s for s in segments if s[1]]})
    return out
