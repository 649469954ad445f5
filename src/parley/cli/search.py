"""``parley search NEGOTIATION QUERY``: the whole history on this device, offline."""

from __future__ import annotations

import typer

from parley.cli.common import open_client
from parley.cli.options import options
from parley.cli.output import emit, table
from parley.cli.when import show_time


def search_command(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
                   query: list[str] = typer.Argument(..., help="Words that must all appear (word* for a prefix)."),
                   limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many results.")
                   ) -> None:
    """Find memoranda, official responses, messages, objections and attachments' text by words, in the local
    copy of the negotiation (no relay is contacted: 'parley status' syncs it first)."""
    from parley.client.search import search

    client = open_client(ctx)
    results = search(client, negotiation, " ".join(query), limit)

    def human() -> None:
        rows = []
        for r in results:
            what = r["kind"] + (f" '{r['name']}' of {r['in_kind']} {r['in_item']}" if r.get("name") else "")
            rows.append((what, r["party"] or "-", r["author"], show_time(r["created"]), r["snippet"], r["item"]))
        table(f"{len(results)} result(s) for '{' '.join(query)}'", ["kind", "party", "author", "date", "snippet",
                                                                     "open"], rows)

    emit(options(ctx).as_json, results, human)
