"""``parley --help`` and ``parley --version``: wall and CPU time of a fresh process, as a user types them.

Baseline, in the same run: the same command with every command module imported first, as the CLI did
before its commands were imported on demand (``parley.cli.commands``). Runs alternate between the two so
that drift on a shared machine hits both alike. Also the number of modules each loads. Python's bytecode
is cached (in a temporary folder, ``PYTHONPYCACHEPREFIX``) as an installed package has it, whatever
``PYTHONDONTWRITEBYTECODE`` says.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import emit_json, print_table  # noqa: E402

from parley.cli.commands import LAZY_COMMANDS  # noqa: E402

EAGER = "import " + ", ".join(sorted({entry.module for entry in LAZY_COMMANDS.values()})) + "; "
#: the children's environment: bytecode written to (and read from) a folder of this run
ENV = {**{key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="parley-bench-bytecode-")}
RUN = ("import atexit, sys; atexit.register(lambda: sys.stderr.write(str(len(sys.modules)))); "
       "from parley.cli.main import run; run()")


def one_run(args: list[str], eager: bool) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, modules loaded) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", (EAGER if eager else "") + RUN, *args], capture_output=True,
                          text=True, check=True, timeout=120, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 runs of each")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    runs = 5 if opts.quick else opts.runs
    rows, results = [], {}
    for eager in (True, False):  # writes the bytecode cache
        one_run(["--version"], eager)
    for label, args in (("parley --help", ["--help"]), ("parley --version", ["--version"])):
        samples: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
        for _ in range(runs):
            for eager in (True, False):
                samples[eager].append(one_run(args, eager))
        for eager in (True, False):
            wall = statistics.median(s[0] for s in samples[eager])
            cpu = statistics.median(s[1] for s in samples[eager])
            modules = samples[eager][0][2]
            mode = "every command imported (before)" if eager else "on demand (now)"
            results[f"{label} / {mode}"] = {"wall_ms": round(wall * 1000), "cpu_ms": round(cpu * 1000),
                                            "modules": modules}
            rows.append((label, mode, f"{wall * 1000:.0f}", f"{cpu * 1000:.0f}", str(modules)))
        before = statistics.median(s[1] for s in samples[True])
        now = statistics.median(s[1] for s in samples[False])
        rows.append((label, "CPU ratio before/now", "", f"{before / now:.1f}x", ""))
    if opts.json:
        emit_json("cli_startup", results, sys.argv)
    else:
        print_table(f"CLI start-up: {runs} fresh processes of each, alternating (python {sys.version.split()[0]})",
                    ["command", "imports", "wall ms (median)", "CPU ms (median)", "modules"], rows)


if __name__ == "__main__":
    main()
