"""Read commands' wall time with and without the key agent (``parley unlock``).

Each run is a fresh ``parley`` process, as a user types it: interpreter start, imports, opening the
profile (scrypt on the keystore, or one round trip to the agent), a sync with the relay (on a loopback
socket), the answer. Timed: ``parley status NEGOTIATION`` without the agent and with it, and, with the
agent, ``parley memo list NEGOTIATION`` and ``parley negotiation list``; also the interpreter start and
the imports alone, so the part that remains is visible. ``--before-src`` also times the read commands
on another source tree (an older commit: ``git archive <commit> src | tar -x -C /tmp/before``) against
the same profile and relay. Runs alternate between all of these so drift hits them alike.

With the agent, a read command is run by the agent, in a fork of its process that has imported the client
(``parley.cli.launch``); "run in its own process" times the same command with the agent's keys but
``PARLEY_AGENT_RUNS=0``, every import paid by the fresh process. The modules column counts the modules of
the process started here (for a command the agent ran: the launcher's few).

Python's bytecode is cached (in a folder of the run, ``PYTHONPYCACHEPREFIX``) as an installed package
has it, whatever ``PYTHONDONTWRITEBYTECODE`` says; ``--no-bytecode-cache`` compiles parley's own modules
at every run instead (the interpreter's and the installed packages' bytecode is still read), as a
checkout without ``__pycache__`` folders run with that variable set does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import emit_json, print_table  # noqa: E402

from parley.demo import DEMO_RELAY_NAME, LocalRelay  # noqa: E402

PASSPHRASE = "correct horse battery"
#: the command line, which also reports how many modules the process loaded (last line of stderr)
RUN = ("import atexit, sys; atexit.register(lambda: sys.stderr.write(f'\\nmodules {len(sys.modules)}\\n'))\n"
       "try:\n    from parley.cli.launch import run\n"  # the ``parley`` program (older trees: parley.cli.main)
       "except ImportError:\n    from parley.cli.main import run\n"
       "run()")


def parley(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=env, check=False,
                          timeout=120)


def timed_command(args: tuple[str, ...], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, modules loaded) of one fresh ``parley`` process that must succeed. Its CPU
    time (user + system) depends less on what else the machine runs than its wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = parley(*args, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"parley {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int(done.stderr.strip().splitlines()[-1].split()[-1])


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 runs of each instead of 15")
    parser.add_argument("--runs", type=int, help="runs of each (default 15, 5 with --quick)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--before-src", type=Path, help="also time the read commands on this source tree (a src/)")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="compile every module at every run (PYTHONDONTWRITEBYTECODE=1)")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 15)
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-agent-"))
    agent_dir = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update({"PYTHONPATH": str(ROOT / "src"), "PARLEY_AGENT_DIR": str(agent_dir)})
    if args.no_bytecode_cache:  # with no cache folder: the installed bytecode is read, none is written
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "bytecode")
    home = str(tmp / "ua")
    with LocalRelay(tmp / "relay", tmp / "relay.db") as local:
        data = ["--data", str(tmp / "relay"), "--database", str(tmp / "relay.db"), "--name", DEMO_RELAY_NAME]
        token = json.loads(parley("--json", "relay", "invite-party", "Ukraine", *data, env=env).stdout)["token"]
        with_pass = {**env, "PARLEY_PASSPHRASE": PASSPHRASE}
        parley("--home", home, "party", "create", "Ukraine", "--relay", local.url, "--token", token, env=with_pass)
        negotiation = json.loads(parley("--json", "--home", home, "negotiation", "create", env=with_pass).stdout)[
            "negotiation_id"]
        parley("--home", home, "message", "send", negotiation, "Opening position.", env=with_pass)
        reads = {"status": ("--home", home, "status", negotiation),
                 "memo list": ("--home", home, "memo", "list", negotiation),
                 "negotiation list": ("--home", home, "negotiation", "list")}
        trees = {"now": env}
        if args.before_src:
            trees["before"] = {**env, "PYTHONPATH": str(args.before_src.resolve())}
            if not args.no_bytecode_cache:
                trees["before"]["PYTHONPYCACHEPREFIX"] = str(tmp / "bytecode-before")
        times: dict[str, list[float]] = {"keystore": [], "here": [], "interpreter": [], "imports": [],
                                         "unlock_keystore": [], "unlock_agent": []}
        modules: dict[str, int] = {}
        cpu_times: dict[str, list[float]] = {}
        unlocked = parley("--home", home, "unlock", "--timeout", "3600", env=with_pass)
        if unlocked.returncode != 0:
            raise SystemExit(unlocked.stderr)
        try:
            for tree_env in trees.values():  # a first run of each writes the bytecode cache
                for command in reads.values():
                    timed_command(command, tree_env)
            without_agent = {**with_pass, "PARLEY_AGENT_DIR": str(tmp / "no-agent")}
            for _ in range(runs):
                # without the agent: the keystore is opened with the passphrase (scrypt) at every command
                times["keystore"].append(timed_command(reads["status"], without_agent)[0])
                # the agent's keys, but the command run in its own process (imports included)
                wall, cpu, count = timed_command(reads["status"], {**env, "PARLEY_AGENT_RUNS": "0"})
                times["here"].append(wall)
                cpu_times.setdefault("here", []).append(cpu)
                modules["here"] = count
                for tree, tree_env in trees.items():
                    for name, command in reads.items():
                        wall, cpu, count = timed_command(command, tree_env)
                        times.setdefault(f"{tree}: {name}", []).append(wall)
                        cpu_times.setdefault(f"{tree}: {name}", []).append(cpu)
                        modules[f"{tree}: {name}"] = count
                times["interpreter"].append(timed(lambda: subprocess.run([sys.executable, "-c", "pass"],
                                                                         check=True, env=env)))
                times["imports"].append(timed(lambda: subprocess.run(
                    [sys.executable, "-c", "import parley.cli.main, parley.client.sdk, parley.client.workflow"],
                    check=True, env=env)))
            # the unlock step alone, in this process: scrypt against one round trip on the agent's socket
            from parley.client.agent import agent_secrets
            from parley.crypto.keystore import load_keystore

            os.environ["PARLEY_AGENT_DIR"] = str(agent_dir)
            for _ in range(runs):
                times["unlock_keystore"].append(timed(lambda: load_keystore(Path(home) / "keystore.age",
                                                                            PASSPHRASE)))
                times["unlock_agent"].append(timed(lambda: agent_secrets(Path(home))))
        finally:
            parley("--home", home, "lock", env=env)
    load = os.getloadavg()
    results: dict[str, Any] = {name: {"median_s": round(statistics.median(v), 3), "min_s": round(min(v), 3),
                                      "max_s": round(max(v), 3)} for name, v in times.items()}
    for name, count in modules.items():
        results[name]["modules"] = count
        results[name]["cpu_median_s"] = round(statistics.median(cpu_times[name]), 3)
    results["runs"] = runs
    results["load_average_after"] = [round(x, 2) for x in load]
    results["bytecode_cached"] = not args.no_bytecode_cache
    if args.json:
        emit_json("agent", results, [sys.argv[0], *(argv or sys.argv[1:])])
        return 0
    labels = {"keystore": "status, keystore (scrypt)",
              "here": "status, agent's keys, run in its own process",
              **{f"{tree}: {name}": f"{name}, key agent{'' if tree == 'now' else ' (before)'}"
                 for tree in trees for name in reads},
              "interpreter": "python -c pass", "imports": "python, CLI imports only",
              "unlock_keystore": "unlock only: keystore (scrypt)", "unlock_agent": "unlock only: key agent"}
    rows = [[label, results[key]["median_s"], results[key]["min_s"], results[key]["max_s"],
             str(results[key].get("cpu_median_s", "")), str(results[key].get("modules", ""))]
            for key, label in labels.items()]
    if "before" in trees:
        rows += [[f"{name}: before / now (medians)",
                  round(results[f"before: {name}"]["median_s"] / results[f"now: {name}"]["median_s"], 2), "", "",
                  str(round(results[f"before: {name}"]["cpu_median_s"] / results[f"now: {name}"]["cpu_median_s"], 2)),
                  ""] for name in reads]
    print_table(f"read commands as fresh processes ({runs} alternating runs; bytecode "
                f"{'cached' if results['bytecode_cached'] else 'compiled at each run'}; load average after: "
                f"{' '.join(f'{x:.2f}' for x in load)})",
                ["what", "median s", "min s", "max s", "CPU s (median)", "modules"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
