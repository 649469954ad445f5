"""``parley watch``: a terminal line when something awaits you (an official response due, a meeting to answer,
a text to sign), computed on this machine from the verified local copy after each sync."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, err_console
from parley.errors import TransportError


def watch_command(
    ctx: typer.Context,
    negotiations: list[str] | None = typer.Argument(None, help="Negotiation ids (default: all of yours)."),
    interval: float = typer.Option(15.0, "--interval", min=1.0, help="Seconds between syncs."),
    seconds: float = typer.Option(0, "--for", help="Stop after this many seconds (0: until Ctrl-C)."),
    once: bool = typer.Option(False, "--once", help="One sync and report, then stop."),
) -> None:
    """Tell me (one terminal line each) when something awaits me: an official response due, a meeting to
    answer, a text to sign. Nothing about content leaves this machine."""
    from parley.client.notify import Notifier, awaiting_me, describe
    from parley.client.workflow import Negotiation

    client = open_client(ctx)
    as_json = options(ctx).as_json
    notifier = Notifier()
    deadline = time.monotonic() + seconds if seconds else None
    offline_told = False
    while True:
        ids = list(negotiations or [])
        if not ids:
            ids = client.cache.negotiations()
            try:
                ids = sorted(set(ids) | {n["negotiation_id"] for n in client.negotiations()})
            except TransportError:
                pass
        items, reachable = [], True
        for negotiation_id in ids:
            negotiation = Negotiation(client, negotiation_id)
            try:
                negotiation.sync()
            except TransportError:
                reachable = False
                if negotiation_id not in client.cache.negotiations():
                    continue
            items.extend(awaiting_me(negotiation))
        if not reachable and not offline_told:
            err_console.print("the relay cannot be reached: watching the local copy (as of its last verified "
                              "checkpoint) until it is back")
        offline_told = not reachable
        for item in notifier.update(items, set(ids)):
            if as_json:
                sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                console.print(f"[{datetime.now().strftime('%H:%M')}] {describe(item)}", markup=False)
        if once or (deadline is not None and time.monotonic() >= deadline):
            return
        time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
