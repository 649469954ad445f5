"""The ``parley`` program: a read command goes to the profile's key agent when one runs, anything else runs here.

With ``parley unlock``, the agent process holds the keys and has imported the client; a read command handed
to it runs in a fork of that process, on this process's terminal, instead of importing everything again
(``parley.client.agent``, figures in ``docs/performance.md``). Only commands that read and never prompt are
handed over; the output, the exit code and Ctrl-C are those of the command run here. Set
``PARLEY_AGENT_RUNS=0`` to run every command in this process.

This module imports nothing heavy before it knows where the command runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: commands that read and never prompt (as ``parley`` group/command words)
READ_COMMANDS = frozenset({
    ("status",), ("due",), ("search",),
    ("negotiation", "list"), ("negotiation", "show"), ("message", "list"),
    ("issue", "list"), ("memo", "list"), ("memo", "show"), ("meeting", "list"), ("round", "list"),
    ("round", "show"), ("channel", "list"), ("agreement", "list"), ("agreement", "show"),
    ("party", "show"), ("party", "list"), ("party", "fingerprint"), ("device", "list"), ("witness", "status"),
})
NO_AGENT_ENV = "PARLEY_AGENT_RUNS"


def read_command_home(argv: list[str]) -> Path | None:
    """The profile folder of ``parley ARGV`` if it is a read command the key agent may run, else None.

    Global options come before the command (``--home PATH``, ``--home=PATH``, ``--json``); ``--json`` may
    also follow it."""
    home: str | None = None
    words: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if not words and arg == "--home":
            if index + 1 >= len(argv):
                return None
            home, index = argv[index + 1], index + 2
            continue
        if not words and arg.startswith("--home="):
            home = arg.split("=", 1)[1]
        elif arg == "--json":
            pass
        elif arg.startswith("-") or len(words) == 2:
            break
        else:
            words.append(arg)
            if tuple(words) in READ_COMMANDS:
                break
        index += 1
    if tuple(words) not in READ_COMMANDS:
        return None
    from parley.cli.options import home_from

    return home_from(Path(home) if home else None)


#: what the agent imports once it answers, so that a command run in its fork finds it loaded: the client,
#: its protocol, the relay connection and the output libraries. Not ``parley.cli``, whose consoles are made
#: for the caller's terminal, in the fork.
WARM_MODULES = ("typer", "rich.console", "rich.table", "rich.markup", "httpx", "parley.client.sdk",
                "parley.client.workflow", "parley.client.entries", "parley.client.offline",
                "parley.client.search", "parley.protocol.agreement", "parley.crypto.sshsig")


def warm() -> None:
    """Import ``WARM_MODULES`` (in the agent, before any command)."""
    import importlib

    if "httpx" not in sys.modules:  # as ``parley.cli.main`` does: httpx's own command line is never needed
        sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def run_command(argv: list[str]) -> int:
    """``parley ARGV`` in this process (the agent's fork): the command line's own entry."""
    from parley.cli.main import main

    return main(argv)


def run() -> None:
    """The ``parley`` program's entry point."""
    argv = sys.argv[1:]
    if os.environ.get(NO_AGENT_ENV, "1") != "0":
        home = read_command_home(argv)
        if home is not None:
            from parley.client.agent import run_in_agent

            code = run_in_agent(home, argv)
            if code is not None:
                sys.exit(code)
    from parley.cli.main import run as run_here

    run_here()


if __name__ == "__main__":  # the key agent's process, started by ``parley unlock``
    from parley.client.agent import agent_main

    raise SystemExit(agent_main(sys.argv[1:], warm=warm, run_command=run_command))
