"""Workflow commands: ``status``, ``issue``, ``round``, ``memo``, ``meeting``, ``channel``."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import typer

from parley.cli.common import open_client, options, resolve_party
from parley.cli.output import console, emit, table
from parley.client.workflow import Negotiation
from parley.errors import InputError
from parley.protocol.times import format_time, parse_time
from parley.protocol.workflow import STANCES

STANCE_HELP = f"ISSUE=STANCE[:TEXT], stance one of {', '.join(STANCES)} (repeatable)."
issue_app = typer.Typer(help="Key issues on the agenda.", no_args_is_help=True)
round_app = typer.Typer(help="Rounds of talks.", no_args_is_help=True)
memo_app = typer.Typer(help="Position memoranda, receipts and official responses.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meeting proposals and answers.", no_args_is_help=True)
channel_app = typer.Typer(help="Standing channels between some of the parties.", no_args_is_help=True)


def _negotiation(ctx: typer.Context, negotiation_id: str) -> Negotiation:
    negotiation = Negotiation(open_client(ctx), negotiation_id)
    negotiation.sync()
    return negotiation


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        if "=" not in value:
            raise InputError(f"{what} must be ISSUE=TEXT, got '{value}'")
        key, text = value.split("=", 1)
        out[key.strip()] = text
    return out


def _when(text: str) -> datetime:
    """Accept 2025-06-02T10:00:00Z or an ISO time with offset."""
    try:
        return parse_time(text)
    except InputError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"cannot read the time '{text}' (use 2025-06-02T10:00:00Z)") from None
        if moment.tzinfo is None:
            raise InputError(f"the time '{text}' needs a time zone (Z or +03:00)") from None
        return moment


def status(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """What awaits whose official response, the positions matrix, meetings and the timeline."""
    view = _negotiation(ctx, negotiation).status()

    def human() -> None:
        console.print(f"[bold]{negotiation}[/bold]  ({view['log_size']} events, as of {view['as_of']})")
        console.print("Parties: " + ", ".join(f"{p['name']} ({p['status']})" for p in view["parties"]))
        table("Awaiting official response", ["memorandum", "from", "awaiting", "since", "received", "respond by"],
              [(r["title"], r["from"], r["awaiting"], f"{r['since']} ({r['age_hours']} h)",
                "yes" if r["received"] else "no",
                (r["respond_by"] or "") + (" OVERDUE" if r["overdue"] else "")) for r in view["awaiting_official_response"]])
        matrix = view["positions_matrix"]
        rows = []
        for row in matrix["issues"]:
            cells = []
            for party in matrix["parties"]:
                cell = row["cells"].get(party) or {}
                text = (cell.get("position") or "")[:40]
                if cell.get("stance"):
                    text += f" [{cell['stance']['stance']}]"
                cells.append(text)
            rows.append((row["title"], row["status"], *cells))
        table("Positions", ["issue", "status", *matrix["parties"]], rows)
        table("Meetings", ["venue", "start", "level", "proposed by", "status"],
              [(m["venue"], m["start"], m["level"], m["proposed_by"], m["status"]) for m in view["meetings"]])
        table("Timeline", ["#", "time", "party", "author", "type"],
              [(t["seq"], t["created"], t["party"], t["author"], t["type"]) for t in view["timeline"][-15:]])

    emit(options(ctx).as_json, view, human)


@issue_app.command("add")
def issue_add(ctx: typer.Context, negotiation: str = typer.Argument(...), title: str = typer.Argument(...),
              issue_id: str | None = typer.Option(None, "--id", help="Short id (default: generated).")) -> None:
    """Add a key issue to the agenda."""
    new = _negotiation(ctx, negotiation).add_issue(title, issue_id)
    emit(options(ctx).as_json, {"issue_id": new}, lambda: console.print(new))


@issue_app.command("rename")
def issue_rename(ctx: typer.Context, negotiation: str = typer.Argument(...), issue_id: str = typer.Argument(...),
                 title: str = typer.Argument(...)) -> None:
    """Rename a key issue."""
    posted = _negotiation(ctx, negotiation).rename_issue(issue_id, title)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Renamed."))


@issue_app.command("close")
def issue_close(ctx: typer.Context, negotiation: str = typer.Argument(...), issue_id: str = typer.Argument(...)) -> None:
    """Close a key issue."""
    posted = _negotiation(ctx, negotiation).close_issue(issue_id)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Closed."))


@round_app.command("open")
def round_open(ctx: typer.Context, negotiation: str = typer.Argument(...), number: int = typer.Argument(...),
               venue: str = typer.Option(..., "--venue"), starts: str = typer.Option(..., "--starts"),
               ends: str | None = typer.Option(None, "--ends")) -> None:
    """Open a round of talks."""
    round_id = _negotiation(ctx, negotiation).open_round(number, venue, _when(starts), _when(ends) if ends else None)
    emit(options(ctx).as_json, {"round_id": round_id}, lambda: console.print(round_id))


@round_app.command("close")
def round_close(ctx: typer.Context, negotiation: str = typer.Argument(...), round_id: str = typer.Argument(...),
                outcome: str = typer.Option(..., "--outcome")) -> None:
    """Close a round with an outcome summary."""
    posted = _negotiation(ctx, negotiation).close_round(round_id, outcome)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Round closed."))


@memo_app.command("draft")
def memo_draft(ctx: typer.Context, negotiation: str = typer.Argument(...), title: str = typer.Option(..., "--title"),
               position: list[str] = typer.Option(..., "--position", help="ISSUE=TEXT, repeatable."),
               memo_id: str | None = typer.Option(None, "--memo", help="Add a version to this draft.")) -> None:
    """Save a draft version, readable by your own party only."""
    new = _negotiation(ctx, negotiation).draft_memorandum(title, _pairs(position, "--position"), memo_id)
    emit(options(ctx).as_json, {"memo_id": new}, lambda: console.print(new))


@memo_app.command("deliver")
def memo_deliver(
    ctx: typer.Context, negotiation: str = typer.Argument(...), title: str = typer.Option(..., "--title"),
    to: list[str] = typer.Option(..., "--to", help="Recipient party (repeatable)."),
    position: list[str] = typer.Option(..., "--position", help="ISSUE=TEXT, repeatable."),
    restricted: list[str] = typer.Option(None, "--restricted", help="ISSUE=TEXT readable by heads only."),
    respond_by: str | None = typer.Option(None, "--respond-by", help="Deadline for the official response."),
    memo_id: str | None = typer.Option(None, "--memo", help="Deliver a new version of this memorandum."),
    attach: list[Path] = typer.Option(None, "--attach", help="A file to attach (repeatable; 20 MB each at most)."),
) -> None:
    """Deliver a memorandum of positions per key issue to other parties."""
    negotiation_view = _negotiation(ctx, negotiation)
    parties = [resolve_party(negotiation_view.client, p) for p in to]
    new = negotiation_view.deliver_memorandum(title, _pairs(position, "--position"), parties, memo_id=memo_id,
                                              respond_by=_when(respond_by) if respond_by else None,
                                              restricted=_pairs(restricted, "--restricted") or None,
                                              attachments=attach or [])
    emit(options(ctx).as_json, {"memo_id": new}, lambda: console.print(new))


@memo_app.command("show")
def memo_show(ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...)) -> None:
    """A memorandum as you can read it: positions, head-only sections, receipts, responses."""
    negotiation_view = _negotiation(ctx, negotiation)
    memo = negotiation_view.views().memoranda.get(memo_id)
    if memo is None:
        raise InputError(f"no memorandum '{memo_id}' that you can read")
    emit(options(ctx).as_json, memo, lambda: console.print_json(json.dumps(memo, ensure_ascii=False)))


@memo_app.command("attachment")
def memo_attachment(ctx: typer.Context, negotiation: str = typer.Argument(...),
                    attachment_id: str = typer.Argument(...), out: Path = typer.Option(..., "--out")) -> None:
    """Save an attachment of a memorandum (checked against the SHA-256 its sender declared)."""
    path = _negotiation(ctx, negotiation).save_attachment(attachment_id, out)
    emit(options(ctx).as_json, {"file": str(path)}, lambda: console.print(f"Wrote {path}"))


@memo_app.command("redline")
def memo_redline(ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...),
                 old: int = typer.Argument(...), new: int = typer.Argument(...)) -> None:
    """The changes between two versions of a memorandum."""
    diff = _negotiation(ctx, negotiation).redline(memo_id, old, new)
    emit(options(ctx).as_json, {"redline": diff}, lambda: print(diff or "(no changes)"))


@memo_app.command("respond")
def memo_respond(
    ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...),
    stance: list[str] = typer.Option(..., "--stance", help=STANCE_HELP),
    text: str | None = typer.Option(None, "--text", help="Covering text."),
) -> None:
    """Give your party's official response (head of delegation only)."""
    stances = {}
    for issue, value in _pairs(stance, "--stance").items():
        kind, _, counter = value.partition(":")
        stances[issue] = {"stance": kind.strip(), **({"text": counter.strip()} if counter else {})}
    posted = _negotiation(ctx, negotiation).respond(memo_id, stances, text)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Official response delivered."))


@memo_app.command("comment")
def memo_comment(ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...),
                 text: str = typer.Argument(...)) -> None:
    """Comment on a memorandum (any member of its audience)."""
    posted = _negotiation(ctx, negotiation).comment(memo_id, text)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Comment posted."))


@meeting_app.command("propose")
def meeting_propose(
    ctx: typer.Context, negotiation: str = typer.Argument(...), venue: str = typer.Option(..., "--venue"),
    start: str = typer.Option(..., "--start"), end: str = typer.Option(..., "--end"),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the venue."),
    level: str = typer.Option("delegation", "--level", help="delegation, ministerial or leaders."),
    to: list[str] = typer.Option(..., "--to", help="Invited party (repeatable)."),
    agenda: list[str] = typer.Option(None, "--agenda", help="Key issue id (repeatable)."),
) -> None:
    """Propose a meeting to other parties."""
    negotiation_view = _negotiation(ctx, negotiation)
    meeting_id = negotiation_view.propose_meeting(
        venue=venue, start=_when(start), end=_when(end), timezone=timezone, level=level,
        parties=[resolve_party(negotiation_view.client, p) for p in to], agenda=agenda or [])
    emit(options(ctx).as_json, {"meeting_id": meeting_id}, lambda: console.print(meeting_id))


@meeting_app.command("answer")
def meeting_answer(ctx: typer.Context, negotiation: str = typer.Argument(...), meeting_id: str = typer.Argument(...),
                   answer: str = typer.Argument(..., help="accept, decline or counter."),
                   note: str | None = typer.Option(None, "--note")) -> None:
    """Accept or decline a proposed meeting."""
    posted = _negotiation(ctx, negotiation).answer_meeting(meeting_id, answer, note=note)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Answer sent."))


@meeting_app.command("ics")
def meeting_ics(ctx: typer.Context, negotiation: str = typer.Argument(...), meeting_id: str = typer.Argument(...),
                out: Path = typer.Option(..., "--out", help="Where to write the .ics file.")) -> None:
    """Export an accepted meeting to an iCalendar file."""
    out.write_bytes(_negotiation(ctx, negotiation).ics(meeting_id))
    emit(options(ctx).as_json, {"file": str(out)}, lambda: console.print(f"Wrote {out}"))


@channel_app.command("open")
def channel_open(ctx: typer.Context, negotiation: str = typer.Argument(...), name: str = typer.Argument(...),
                 with_party: list[str] = typer.Option(..., "--with", help="Other party (repeatable).")) -> None:
    """Open a standing channel between your party and others; nobody else can read it."""
    negotiation_view = _negotiation(ctx, negotiation)
    channel_id = negotiation_view.open_channel(name, [resolve_party(negotiation_view.client, p) for p in with_party])
    emit(options(ctx).as_json, {"channel_id": channel_id}, lambda: console.print(channel_id))


@channel_app.command("send")
def channel_send(ctx: typer.Context, negotiation: str = typer.Argument(...), channel_id: str = typer.Argument(...),
                 text: str = typer.Argument(...)) -> None:
    """Send a message on a channel."""
    posted = _negotiation(ctx, negotiation).channel_message(channel_id, text)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Sent."))


@channel_app.command("list")
def channel_list(ctx: typer.Context, negotiation: str = typer.Argument(...)) -> None:
    """Channels you can read, with their messages."""
    channels = list(_negotiation(ctx, negotiation).views().channels.values())

    def human() -> None:
        for channel in channels:
            console.print(f"[bold]{channel['name']}[/bold] ({channel['channel_id']})")
            for message in channel["messages"]:
                console.print(f"  {message['at']} {message['by']}: {message['text']}", markup=False)

    emit(options(ctx).as_json, channels, human)


@channel_app.command("watch")
def channel_watch(ctx: typer.Context, negotiation: str = typer.Argument(...), channel_id: str = typer.Argument(...),
                  seconds: float = typer.Option(0, "--for", help="Stop after this many seconds (0: until Ctrl-C).")) -> None:
    """Follow a channel live (server-sent events from the relay); prints each new message."""
    negotiation_view = _negotiation(ctx, negotiation)
    channel = negotiation_view.views().channels.get(channel_id)
    if channel is None:
        raise InputError(f"no channel '{channel_id}' that you can read")
    shown = len(channel["messages"])
    for message in channel["messages"]:
        console.print(f"{message['at']} {message['by']}: {message['text']}", markup=False)
    deadline = time.monotonic() + seconds if seconds else None
    for _ in negotiation_view.client.watch(negotiation, deadline=deadline):
        negotiation_view.sync()
        messages = negotiation_view.views().channels[channel_id]["messages"]
        for message in messages[shown:]:
            console.print(f"{message['at']} {message['by']}: {message['text']}", markup=False)
        shown = len(messages)


__all__ = ["format_time"]
