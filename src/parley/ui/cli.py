"""``parley ui``: serve this member's web UI on 127.0.0.1 (registered in ``parley.cli.main``)."""

from __future__ import annotations

from pathlib import Path

import typer


def ui_command(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, "--home", help="Profile folder (default: the global --home)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (default: a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser; just print the URL."),
) -> None:
    """Serve the local web UI on 127.0.0.1. The first line printed is its URL, with a per-launch token."""
    from parley.cli.common import unlock_profile
    from parley.cli.options import home_from, options
    from parley.client.sdk import Client
    from parley.ui.server import serve

    folder = home_from(home) if home is not None else options(ctx).home
    client = Client(unlock_profile(folder))
    try:
        serve(client, port=port, open_browser=not no_browser, announce=lambda line: print(line, flush=True))
    finally:
        client.close()
