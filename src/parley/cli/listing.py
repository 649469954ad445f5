"""Human renderings of a negotiation's views: ids and titles side by side (what a person types next),
party names instead of hex ids, short local times; ``--json`` prints the same data as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markup import escape

from parley.cli.output import console, table
from parley.cli.when import show_time, show_venue_time
from parley.protocol.views import IssueView, MemorandumView, plain


def clip(text: str | None, width: int = 40) -> str:
    """One line, at most ``width`` characters, with an ellipsis when cut."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def stance_text(stance: Mapping[str, Any] | None) -> str:
    if not stance:
        return ""
    return stance["stance"] + (f": {stance['text']}" if stance.get("text") else "")


def issue_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"issue_id": i["issue_id"], "title": i["title"], "status": i["status"], "added_by": i["added_by"],
             "since": i["since"]} for i in status["issues"]]


def print_issues(rows: list[dict[str, Any]]) -> None:
    table("Key issues", ["id", "title", "status", "added by", "since"],
          [(r["issue_id"], r["title"], r["status"], r["added_by"], show_time(r["since"])) for r in rows])


def memo_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"memo_id": m["memo_id"], "title": m["title"], "from": m["from"], "version": m["version"],
             "delivered_at": m["delivered_at"], "to": m["to"],
             "responses": {p: r["at"] for p, r in m["responses"].items()}} for m in status["memoranda"]]


def print_memos(rows: list[dict[str, Any]]) -> None:
    table("Memoranda", ["id", "title", "from", "v", "delivered", "official responses"],
          [(r["memo_id"], r["title"], r["from"], r["version"], show_time(r["delivered_at"]),
            ", ".join(f"{p} {show_time(at)}" for p, at in r["responses"].items()) or "none yet") for r in rows])


def print_meetings(meetings: list[dict[str, Any]]) -> None:
    table("Meetings", ["id", "venue", "starts (venue time, UTC)", "level", "proposed by", "status"],
          [(m["meeting_id"], m["venue"], show_venue_time(m["start"], m["timezone"]), m["level"], m["proposed_by"],
            m["status"]) for m in meetings])


def print_status(view: Mapping[str, Any]) -> None:
    title = view.get("title") or "(untitled)"
    console.print(f"[bold]{escape(title)}[/bold]  {view['negotiation_id']}  "
                  f"({view['log_size']} events, as of {show_time(view['as_of'])})")
    console.print("Parties: " + ", ".join(f"{p['name']} ({p['status']})" for p in view["parties"]), markup=False)
    current = view.get("current_round")
    if current:
        console.print(f"Current round: {current['number']} ({current['round_id']}), {current['venue']}, "
                      f"from {show_time(current['starts'])}; {len(current['items'])} items held", markup=False)
    table("Awaiting official response", ["memo id", "title", "from", "awaiting", "since", "read", "respond by"],
          [(r["memo_id"], r["title"], r["from"], r["awaiting"], f"{show_time(r['since'])} ({r['age_hours']} h)",
            "yes" if r["received"] else "no",
            show_time(r["respond_by"]) + (" OVERDUE" if r["overdue"] else "")) for r in view["awaiting_official_response"]])
    matrix = view["positions_matrix"]
    rows = []
    for row in matrix["issues"]:
        cells = []
        for party in matrix["parties"]:
            cell = row["cells"].get(party) or {}
            parts = [clip(cell.get("position"), 30)] if cell.get("position") else []
            if cell.get("stance"):
                parts.append("stance: " + clip(stance_text(cell["stance"]), 30))
            cells.append("\n".join(parts) or "-")
        rows.append((f"{row['title']}\n({row['issue_id']})", row["status"], *cells))
    table("Positions", ["issue", "status", *matrix["parties"]], rows)
    print_deadlines(view.get("deadlines", []))
    print_meetings(view["meetings"])
    table("Timeline (latest 15)", ["#", "time", "party", "author", "type"],
          [(t["seq"], show_time(t["created"]), t["party"], t["author"], t["type"]) for t in view["timeline"][-15:]])


def print_deadlines(rows: list[dict[str, Any]], *, with_negotiation: bool = False) -> None:
    def state(row: Mapping[str, Any]) -> str:
        hours = abs(row["hours_left"])
        return f"OVERDUE by {hours} h" if row["state"] == "overdue" else f"{row['state']} (in {hours} h)"

    table("Deadlines", [*(["negotiation"] if with_negotiation else []), "due", "state", "awaiting", "what", "asked by"],
          [(*([r["negotiation_id"]] if with_negotiation else []), show_time(r["due"]), state(r),
            r["awaiting"] + (" (you)" if r["awaiting_you"] else ""), f"{r['kind']}: {r['title']}", r["asked_by"])
           for r in rows])


def memo_view(memo: MemorandumView, names: Mapping[str, str], issues: Mapping[str, IssueView]) -> dict[str, Any]:
    """A memorandum for people and for ``--json``: party names, issue titles, every response version."""
    def name(party: str) -> str:
        return names.get(party, party)

    def issue_title(issue_id: str) -> str:
        return issues[issue_id].title if issue_id in issues else issue_id

    return {
        "memo_id": memo.memo_id, "title": memo.title, "version": memo.version, "from": name(memo.party),
        "delivered_at": memo.delivered_at, "to": [name(p) for p in memo.delivered_to],
        "respond_by": memo.respond_by, "copy": memo.copy,
        "positions": [{"issue_id": k, "issue": issue_title(k), "text": v} for k, v in memo.positions.items()],
        "restricted": [{"issue_id": k, "issue": issue_title(k), "text": v} for k, v in memo.restricted.items()],
        "attachments": plain(memo.attachments),
        "receipts": {name(p): r.at for p, r in memo.receipts.items()},
        "responses": {name(p): plain(history) for p, history in memo.response_history.items()},
        "comments": [{**plain(c), "party": name(c.party)} for c in memo.comments],
        "versions": [{"version": v.version, "at": v.at} for v in memo.versions],
    }


def print_memo(view: Mapping[str, Any]) -> None:
    out = console.print
    out(f"[bold]{escape(view['title'])}[/bold]  ({view['memo_id']}, version {view['version']})")
    out(f"from {view['from']} to {', '.join(view['to'])}, delivered {show_time(view['delivered_at'])}", markup=False)
    if view["respond_by"]:
        out(f"official response requested by {show_time(view['respond_by'])}", markup=False)
    if view["copy"]:
        out(view["copy"], markup=False)
    for section, heading in (("positions", "Positions"), ("restricted", "Heads of delegation only")):
        if view[section]:
            out(f"\n[bold]{heading}[/bold]")
            for item in view[section]:
                out(f"  {item['issue']} ({item['issue_id']}):", markup=False)
                out(f"    {item['text']}", markup=False)
    for attachment in view["attachments"]:
        out(f"attachment {attachment['attachment_id']}: {attachment['name']} ({attachment['size']} bytes)",
            markup=False)
    out("\nreceived by: " + (", ".join(f"{p} {show_time(at)}" for p, at in view["receipts"].items()) or "nobody yet"),
        markup=False)
    if not view["responses"]:
        out("official responses: none yet")
    for party, history in view["responses"].items():
        for response in history:
            latest = response is history[-1]
            label = "official response" if len(history) == 1 else (
                f"official response {response['number']} of {len(history)}" + (" (current)" if latest else
                                                                              " (replaced)"))
            out(f"\n[bold]{escape(party)}[/bold]: {label}, {show_time(response['at'])} by {escape(response['by'])}"
                f" (on version {response['version']})")
            for issue, stance in response["stances"].items():
                out(f"  {issue}: {stance_text(stance)}", markup=False)
            if response.get("covering_text"):
                out(f"  \"{response['covering_text']}\"", markup=False)
            for attachment in response.get("attachments") or []:
                out(f"  attachment {attachment['attachment_id']}: {attachment['name']} ({attachment['size']} bytes)",
                    markup=False)
    for comment in view["comments"]:
        out(f"comment {show_time(comment['at'])} {comment['by']} ({comment['party']}): {comment['text']}", markup=False)


def meeting_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(status["meetings"])


__all__ = ["clip", "issue_rows", "meeting_rows", "memo_rows", "memo_view", "print_deadlines", "print_issues",
           "print_meetings", "print_memo", "print_memos", "print_status"]
