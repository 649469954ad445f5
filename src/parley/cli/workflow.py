"""Workflow commands: ``status``, ``due``, ``issue``, ``round``, ``memo``, ``meeting``, ``channel``."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer

from parley.cli import listing
from parley.cli.audit import export_memo, memo_pdf
from parley.cli.common import confirm, open_client, open_negotiation, options, resolve_party
from parley.cli.output import console, emit, table
from parley.cli.when import read_time, show_time, zone_name
from parley.client.workflow import Negotiation, due_everywhere
from parley.errors import InputError, NotFoundError
from parley.protocol.times import format_time
from parley.protocol.views import plain
from parley.protocol.workflow import STANCES, meeting_terms

STANCE_HELP = f"ISSUE=STANCE[:TEXT], stance one of {', '.join(STANCES)} (repeatable)."
issue_app = typer.Typer(help="Key issues on the agenda.", no_args_is_help=True)
round_app = typer.Typer(help="Rounds of talks.", no_args_is_help=True)
memo_app = typer.Typer(help="Position memoranda, receipts and official responses.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meeting proposals and answers.", no_args_is_help=True)
channel_app = typer.Typer(help="Standing channels between some of the parties.", no_args_is_help=True)


def _negotiation(ctx: typer.Context, negotiation_id: str, *, read: bool = False,
                 whole_command: bool = True) -> Negotiation:
    return open_negotiation(ctx, open_client(ctx), negotiation_id, read=read, whole_command=whole_command)


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        if "=" not in value:
            raise InputError(f"{what} must be ISSUE=TEXT, got '{value}'")
        key, text = value.split("=", 1)
        out[key.strip()] = text
    return out


def _by_issue(negotiation: Negotiation, pairs: dict[str, str]) -> dict[str, str]:
    """Keys typed as issue ids or exact titles, turned into issue ids (NotFoundError names close ones)."""
    views = negotiation.views()
    return {negotiation.issue_id(key, views): text for key, text in pairs.items()}


def _when(text: str, timezone: str | None = None) -> datetime:
    """A time as typed: with Z or an offset, or local to --timezone (this machine's zone by default)."""
    return read_time(text, timezone=timezone)


TZ_HELP = "IANA time zone for times typed without an offset (default: this machine's)."


def status(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
           language: str | None = typer.Option(None, "--language", help="Positions in this language where a "
                                                                       "memorandum has a text in it.")) -> None:
    """What awaits whose official response (with memo ids), the positions matrix, meetings and the timeline."""
    negotiation_view = _negotiation(ctx, negotiation, read=True)
    view = negotiation_view.status(language=language)
    if negotiation in negotiation_view.client.offline:  # the relay is away: the local copy, as of its checkpoint
        view = {**view, "offline": negotiation_view.client.offline[negotiation]}
    emit(options(ctx).as_json, view, lambda: listing.print_status(view))


@issue_app.command("list")
def issue_list(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Key issues on the agenda: id, title, status (open, agreed or closed)."""
    rows = listing.issue_rows(_negotiation(ctx, negotiation, read=True).status())
    emit(options(ctx).as_json, rows, lambda: listing.print_issues(rows))


@memo_app.command("list")
def memo_list(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Memoranda you can read: id, title, sender, version, official responses."""
    rows = listing.memo_rows(_negotiation(ctx, negotiation, read=True).status())
    emit(options(ctx).as_json, rows, lambda: listing.print_memos(rows))


@meeting_app.command("list")
def meeting_list(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Meetings proposed to or by your party: id, venue, start (venue time and UTC), status."""
    rows = listing.meeting_rows(_negotiation(ctx, negotiation, read=True).status())
    emit(options(ctx).as_json, rows, lambda: listing.print_meetings(rows))


def due(ctx: typer.Context, mine: bool = typer.Option(False, "--mine", help="Only what your party owes.")) -> None:
    """Official responses, meeting answers and signatures due or overdue, across all your negotiations."""
    rows = due_everywhere(open_client(ctx), mine=mine)

    def human() -> None:
        if not rows:
            console.print("Nothing is due.")
            return
        listing.print_deadlines(rows, with_negotiation=True)

    emit(options(ctx).as_json, rows, human)


@issue_app.command("add")
def issue_add(ctx: typer.Context, negotiation: str = typer.Argument(...), title: str = typer.Argument(...),
              issue_id: str | None = typer.Option(None, "--id", help="Short id (default: generated).")) -> None:
    """Add a key issue to the agenda."""
    new = _negotiation(ctx, negotiation).add_issue(title, issue_id)
    emit(options(ctx).as_json, {"issue_id": new, "title": title}, lambda: print(new))


@issue_app.command("rename")
def issue_rename(ctx: typer.Context, negotiation: str = typer.Argument(...),
                 issue_id: str = typer.Argument(..., help="Issue id or exact title."),
                 title: str = typer.Argument(...)) -> None:
    """Rename a key issue."""
    view = _negotiation(ctx, negotiation)
    posted = view.rename_issue(view.issue_id(issue_id), title)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Renamed."))


@issue_app.command("close")
def issue_close(ctx: typer.Context, negotiation: str = typer.Argument(...),
                issue_id: str = typer.Argument(..., help="Issue id or exact title.")) -> None:
    """Close a key issue."""
    view = _negotiation(ctx, negotiation)
    posted = view.close_issue(view.issue_id(issue_id))
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Closed."))


@round_app.command("open")
def round_open(
    ctx: typer.Context, negotiation: str = typer.Argument(...), number: int = typer.Argument(...),
    venue: str | None = typer.Option(None, "--venue", help="Where (default: the venue of --meeting)."),
    starts: str | None = typer.Option(None, "--starts", help="Start (default: the start of --meeting)."),
    ends: str | None = typer.Option(None, "--ends"),
    meeting: str | None = typer.Option(None, "--meeting", help="The meeting the round is held at."),
    agenda: list[str] = typer.Option(None, "--agenda", help="Key issue id or exact title (repeatable)."),
    timezone: str | None = typer.Option(None, "--timezone", help=TZ_HELP),
) -> None:
    """Open a round of talks: its number, venue or meeting, dates and agenda."""
    view = _negotiation(ctx, negotiation)
    round_id = view.open_round(
        number, venue, _when(starts, timezone) if starts else None, _when(ends, timezone) if ends else None,
        meeting_id=meeting, agenda=[view.issue_id(a) for a in agenda or []])
    emit(options(ctx).as_json, {"round_id": round_id}, lambda: console.print(round_id))


@round_app.command("close")
def round_close(ctx: typer.Context, negotiation: str = typer.Argument(...), round_id: str = typer.Argument(...),
                outcome: str = typer.Option(..., "--outcome")) -> None:
    """Close a round with an outcome summary."""
    posted = _negotiation(ctx, negotiation).close_round(round_id, outcome)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Round closed."))


@round_app.command("link")
def round_link(ctx: typer.Context, negotiation: str = typer.Argument(...), round_id: str = typer.Argument(...),
               memo: str | None = typer.Option(None, "--memo", help="A memorandum id."),
               meeting: str | None = typer.Option(None, "--meeting", help="A meeting id."),
               agreement: str | None = typer.Option(None, "--agreement", help="An agreement id.")) -> None:
    """Record that a memorandum, meeting or agreement belongs to a round (whenever it was posted)."""
    given = [(kind, ref) for kind, ref in (("memorandum", memo), ("meeting", meeting), ("agreement", agreement)) if ref]
    if len(given) != 1:
        raise InputError("link exactly one of --memo, --meeting or --agreement")
    posted = _negotiation(ctx, negotiation).link_to_round(round_id, *given[0])
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Linked."))


def _print_round(round_: dict) -> None:
    state = "open" if round_["status"] == "open" else "closed"
    console.print(f"[bold]Round {round_['number']}[/bold] ({round_['round_id']}, {state}"
                  f"{', current' if round_['current'] else ''}): {round_['venue']}, from {round_['starts']}"
                  + (f" to {round_['ends']}" if round_["ends"] else ""), highlight=False)
    if round_["agenda"]:
        console.print("Agenda: " + ", ".join(i["title"] for i in round_["agenda"]), markup=False)
    if round_["outcome"]:
        console.print(f"Outcome: {round_['outcome']}", markup=False)
    table("Held in this round", ["time", "what", "title", "party", "how"],
          [(i["at"], i["kind"] + (f" v{i['version']}" if i.get("version") else ""), i["title"], i["party"], i["how"])
           for i in round_["items"]])


@round_app.command("list")
def round_list(ctx: typer.Context, negotiation: str = typer.Argument(...)) -> None:
    """Every round with its dates, venue, agenda, outcome and what it holds."""
    rounds = _negotiation(ctx, negotiation, read=True).rounds()
    emit(options(ctx).as_json, rounds, lambda: [_print_round(r) for r in rounds] or console.print("No round yet."))


@round_app.command("show")
def round_show(ctx: typer.Context, negotiation: str = typer.Argument(...), round_id: str = typer.Argument(...)) -> None:
    """One round: dates, venue, agenda, outcome, and the memoranda, responses, meetings and texts it holds."""
    round_ = _negotiation(ctx, negotiation, read=True).round(round_id)
    emit(options(ctx).as_json, round_, lambda: _print_round(round_))


ATTACH = typer.Option(None, "--attach", help="A file to attach (repeatable; streamed and encrypted like the text; "
                                             "its size and SHA-256 are in the signed event).")


@memo_app.command("draft")
def memo_draft(ctx: typer.Context, negotiation: str = typer.Argument(...), title: str = typer.Option(..., "--title"),
               position: list[str] = typer.Option(..., "--position", help="ISSUE=TEXT, repeatable."),
               memo_id: str | None = typer.Option(None, "--memo", help="Add a version to this draft."),
               attach: list[Path] = ATTACH) -> None:
    """Save a draft version, readable by your own party only."""
    view = _negotiation(ctx, negotiation)
    new = view.draft_memorandum(title, _by_issue(view, _pairs(position, "--position")), memo_id,
                                attachments=attach or [])
    emit(options(ctx).as_json, {"memo_id": new}, lambda: print(new))


@memo_app.command("deliver")
def memo_deliver(
    ctx: typer.Context, negotiation: str = typer.Argument(...),
    title: str | None = typer.Option(None, "--title", help="Title (required unless --from-draft)."),
    to: list[str] = typer.Option(..., "--to", help="Recipient party (repeatable)."),
    position: list[str] = typer.Option(None, "--position", help="ISSUE=TEXT, repeatable (unless --from-draft)."),
    restricted: list[str] = typer.Option(None, "--restricted", help="ISSUE=TEXT readable by heads only."),
    respond_by: str | None = typer.Option(None, "--respond-by",
                                          help="Deadline for the official response: a date (end of that day) or a time."),
    timezone: str | None = typer.Option(None, "--timezone", help=TZ_HELP),
    memo_id: str | None = typer.Option(None, "--memo", help="Deliver a new version of this memorandum."),
    attach: list[Path] = typer.Option(None, "--attach", help="A file to attach (repeatable; 500 MB each at most; "
                                                             "its size and SHA-256 are signed)."),
    preview_variants: bool = typer.Option(False, "--preview-variants",
                                          help="List the wording variants that tell the copies apart, deliver nothing."),
    no_variant: list[int] = typer.Option(None, "--no-variant",
                                         help="Veto variant N of --preview-variants (repeatable)."),
    from_draft: str | None = typer.Option(None, "--from-draft",
                                          help="Deliver this draft of your party as it stands, under its own id."),
    draft_version: int | None = typer.Option(None, "--draft-version", help="With --from-draft: this draft version."),
    no_annex_mark: bool = typer.Option(False, "--no-annex-mark",
                                       help="Stamp attached PDFs with each reader's copy line only, without the "
                                            "faint image mark over their pages."),
) -> None:
    """Deliver a memorandum of positions per key issue to other parties (or one of your party's drafts);
    prints its id alone.

    Each reader's copy differs in wording, to trace leaks: the alternatives you write as {a|b} in a
    position (the first is the canonical wording) and safe automatic variants (numbers, dates, per cent,
    serial comma, hyphenation, spelling). See them with --preview-variants; veto any with --no-variant N.
    An attached PDF reaches each reader with its copy line on every page and a faint keyed speckle over them
    (its image mark, traced from a screenshot or a print-out); --no-annex-mark leaves the speckle out.
    """
    if preview_variants:
        from parley.client.tracing import variant_preview

        lines = variant_preview(_pairs(position, "--position"), no_variant or [])
        emit(options(ctx).as_json, {"variants": lines}, lambda: console.print(
            "\n".join(lines) if lines else "No wording variants: the copies would differ only by their copy line.",
            markup=False))
        return
    # a past deadline is refused by the client, on its clock
    deadline = None if respond_by is None else read_time(respond_by, timezone=timezone, date_means_end_of_day=True,
                                                          what="response deadline")
    negotiation_view = _negotiation(ctx, negotiation)
    parties = [resolve_party(negotiation_view.client, p) for p in to]
    common = {"respond_by": deadline,
              "restricted": _by_issue(negotiation_view, _pairs(restricted, "--restricted")) or None,
              "attachments": attach or [], "vetoed_variants": no_variant or [], "annex_marks": not no_annex_mark}
    if from_draft is not None:
        if title is not None or position or memo_id is not None:
            raise InputError("--from-draft delivers the draft as it stands: no --title, --position or --memo")
        new = negotiation_view.deliver_draft(from_draft, parties, draft_version=draft_version, **common)
    else:
        if title is None or not position:
            raise InputError("a memorandum needs --title and at least one --position (or --from-draft DRAFT)")
        new = negotiation_view.deliver_memorandum(title, _by_issue(negotiation_view, _pairs(position, "--position")),
                                                  parties, memo_id=memo_id, **common)
    emit(options(ctx).as_json, {"memo_id": new}, lambda: print(new))


@memo_app.command("show")
def memo_show(ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...)) -> None:
    """A memorandum as you can read it: positions, head-only sections, receipts, every official response."""
    negotiation_view = _negotiation(ctx, negotiation, read=True)
    views = negotiation_view.views()
    memo = views.memoranda.get(memo_id)
    if memo is None:
        raise NotFoundError(f"no memorandum '{memo_id}' that you can read",
                            hint=f"list them with 'parley memo list {negotiation}'")
    view = listing.memo_view(memo, negotiation_view.party_names(), views.issues)
    emit(options(ctx).as_json, view, lambda: listing.print_memo(view))


@memo_app.command("attachment")
def memo_attachment(ctx: typer.Context, negotiation: str = typer.Argument(...),
                    attachment_id: str = typer.Argument(...), out: Path = typer.Option(..., "--out")) -> None:
    """Save an attachment (of a memorandum, draft, official response, meeting proposal or channel message; checked
    against the size and SHA-256 its sender declared)."""
    path = _negotiation(ctx, negotiation, read=True).save_attachment(attachment_id, out)
    emit(options(ctx).as_json, {"file": str(path)}, lambda: console.print(f"Wrote {path}"))


@memo_app.command("redline")
def memo_redline(ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...),
                 old: str = typer.Argument(..., help="A delivered version (2) or your party's draft (d1)."),
                 new: str = typer.Argument(..., help="A delivered version (2) or your party's draft (d1).")) -> None:
    """The changes between two versions of a memorandum: delivered versions and your party's drafts."""
    diff = _negotiation(ctx, negotiation, read=True).redline(memo_id, old, new)
    emit(options(ctx).as_json, {"redline": diff}, lambda: print(diff or "(no changes)"))


@memo_app.command("respond")
def memo_respond(
    ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...),
    stance: list[str] = typer.Option(..., "--stance", help=STANCE_HELP),
    text: str | None = typer.Option(None, "--text", help="Covering text."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask before replacing your earlier response."),
    attach: list[Path] = ATTACH,
) -> None:
    """Give your party's official response (head of delegation only).

    A second response is a new version: the earlier one stays in the history, and you are asked first.
    """
    negotiation_view = _negotiation(ctx, negotiation)
    stances = {}
    for issue, value in _pairs(stance, "--stance").items():
        kind, _, counter = value.partition(":")
        stances[negotiation_view.issue_id(issue)] = {"stance": kind.strip(), **({"text": counter.strip()} if counter else {})}
    memo = negotiation_view.views().memoranda.get(memo_id)
    earlier = None if memo is None else memo.responses.get(negotiation_view.own_party)
    if earlier is not None:
        confirm(f"This replaces your official response of {show_time(earlier.at)} "
                f"(it stays in the history as response {earlier.number}). Deliver the new one?", yes)
    posted = negotiation_view.respond(memo_id, stances, text, attachments=attach or [])
    message = "Official response delivered." if earlier is None else (
        f"Official response {earlier.number + 1} delivered; it replaces your response of {show_time(earlier.at)}.")
    emit(options(ctx).as_json, {"seq": posted.seq, "replaces": None if earlier is None else earlier.at},
         lambda: console.print(message, markup=False))


@memo_app.command("comment")
def memo_comment(ctx: typer.Context, negotiation: str = typer.Argument(...), memo_id: str = typer.Argument(...),
                 text: str = typer.Argument(...)) -> None:
    """Comment on a memorandum (any member of its audience)."""
    posted = _negotiation(ctx, negotiation).comment(memo_id, text)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Comment posted."))


@meeting_app.command("propose")
def meeting_propose(
    ctx: typer.Context, negotiation: str = typer.Argument(...), venue: str = typer.Option(..., "--venue"),
    start: str = typer.Option(..., "--start", help="Venue's local time (2027-06-02T10:00) or with Z/offset."),
    end: str = typer.Option(..., "--end", help="Venue's local time, or with Z/offset."),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the venue, e.g. Europe/Istanbul."),
    level: str = typer.Option("delegation", "--level", help="delegation, ministerial or leaders."),
    to: list[str] = typer.Option(..., "--to", help="Invited party (repeatable)."),
    agenda: list[str] = typer.Option(None, "--agenda", help="Key issue id or exact title (repeatable)."),
    answer_by: str | None = typer.Option(None, "--answer-by",
                                         help="Deadline for the answers: a date (end of that day) or a time."),
    attach: list[Path] = ATTACH,
) -> None:
    """Propose a meeting to other parties; prints its id alone."""
    venue_zone = zone_name(timezone)
    ends = read_time(end, timezone=venue_zone, what="meeting end")
    deadline = None if answer_by is None else read_time(answer_by, timezone=venue_zone, date_means_end_of_day=True,
                                                         what="answer deadline")
    negotiation_view = _negotiation(ctx, negotiation)
    starts = read_time(start, timezone=venue_zone, what="meeting start", not_past=True,
                       now=negotiation_view.client.clock())
    views = negotiation_view.views()
    meeting_id = negotiation_view.propose_meeting(
        venue=venue, start=starts, end=ends, timezone=venue_zone, level=level,
        parties=[resolve_party(negotiation_view.client, p) for p in to],
        agenda=[negotiation_view.issue_id(a, views) for a in agenda or []], answer_by=deadline,
        attachments=attach or [])
    emit(options(ctx).as_json, {"meeting_id": meeting_id}, lambda: print(meeting_id))


@meeting_app.command("answer")
def meeting_answer(
    ctx: typer.Context, negotiation: str = typer.Argument(...), meeting_id: str = typer.Argument(...),
    answer: str = typer.Argument(..., help="accept, decline or counter."),
    note: str | None = typer.Option(None, "--note"),
    venue: str | None = typer.Option(None, "--venue", help="Counter-proposal: the venue you propose instead."),
    start: str | None = typer.Option(None, "--start", help="Counter-proposal: start, the venue's local time."),
    end: str | None = typer.Option(None, "--end", help="Counter-proposal: end."),
    timezone: str = typer.Option("UTC", "--timezone", help="Counter-proposal: IANA time zone of the venue."),
) -> None:
    """Accept, decline or counter a proposed meeting (a counter gives --venue, --start, --end as a proposal does)."""
    counter = None
    if answer == "counter":
        if venue is None or start is None or end is None:
            raise InputError("a counter-proposal gives --venue, --start and --end (and --timezone of the venue)")
        venue_zone = zone_name(timezone)
        counter = meeting_terms(venue=venue, start=read_time(start, timezone=venue_zone, what="meeting start"),
                                end=read_time(end, timezone=venue_zone, what="meeting end"), timezone=venue_zone,
                                what="counter-proposal")
    elif venue is not None or start is not None or end is not None:
        raise InputError(f"--venue, --start and --end go with the answer 'counter', not '{answer}'")
    posted = _negotiation(ctx, negotiation).answer_meeting(meeting_id, answer, note=note, counter=counter)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print(f"Answer sent: {answer}.", markup=False))


@meeting_app.command("ics")
def meeting_ics(ctx: typer.Context, negotiation: str = typer.Argument(...), meeting_id: str = typer.Argument(...),
                out: Path = typer.Option(..., "--out", help="Where to write the .ics file.")) -> None:
    """Export an accepted meeting to an iCalendar file."""
    out.write_bytes(_negotiation(ctx, negotiation, read=True).ics(meeting_id))
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
                 text: str = typer.Argument(...), attach: list[Path] = ATTACH) -> None:
    """Send a message on a channel."""
    posted = _negotiation(ctx, negotiation).channel_message(channel_id, text, attachments=attach or [])
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Sent."))


@channel_app.command("list")
def channel_list(ctx: typer.Context, negotiation: str = typer.Argument(...)) -> None:
    """Channels you can read, with their messages."""
    channels = list(_negotiation(ctx, negotiation, read=True).views().channels.values())

    def human() -> None:
        for channel in channels:
            console.print(f"[bold]{channel.name}[/bold] ({channel.channel_id})")
            for message in channel.messages:
                console.print(f"  {message.at} {message.by}: {message.text}", markup=False)
                for attachment in message.attachments:
                    console.print(f"    attachment {attachment.attachment_id}: {attachment.name} "
                                  f"({attachment.size} bytes)", markup=False)

    emit(options(ctx).as_json, plain(channels), human)


@channel_app.command("watch")
def channel_watch(ctx: typer.Context, negotiation: str = typer.Argument(...), channel_id: str = typer.Argument(...),
                  seconds: float = typer.Option(0, "--for", help="Stop after this many seconds (0: until Ctrl-C).")) -> None:
    """Follow a channel live (server-sent events from the relay); prints each new message."""
    negotiation_view = _negotiation(ctx, negotiation, read=True, whole_command=False)  # follows for minutes: no lock held
    channel = negotiation_view.views().channels.get(channel_id)
    if channel is None:
        raise InputError(f"no channel '{channel_id}' that you can read")
    shown = len(channel.messages)
    for message in channel.messages:
        console.print(f"{message.at} {message.by}: {message.text}", markup=False)
    deadline = time.monotonic() + seconds if seconds else None
    for _ in negotiation_view.client.watch(negotiation, deadline=deadline):
        negotiation_view.sync()
        messages = negotiation_view.views().channels[channel_id].messages
        for message in messages[shown:]:
            console.print(f"{message.at} {message.by}: {message.text}", markup=False)
        shown = len(messages)


__all__ = ["format_time"]


# Writing one's copy out sits with the other copy-reading commands (parley.cli.audit), under 'memo'.
memo_app.command("export")(export_memo)
memo_app.command("pdf")(memo_pdf)
