"""The relay process's own set-up (``parley.relay.server``): its garbage-collector settings.

Each case runs in a fresh interpreter, so the test process's collector is left as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from parley.relay.server import GC_YOUNG_THRESHOLD

_PROBE = """
import gc, json, weakref
from parley.relay.server import tune_garbage_collector
tune_garbage_collector()
threshold, frozen = gc.get_threshold(), gc.get_freeze_count()

class Node:
    pass

# A reference cycle made after start-up, then dropped: only the cyclic collector can free it.
a, b = Node(), Node()
a.other, b.other = b, a
freed = []
weakref.finalize(a, freed.append, True)
del a, b
churn = [[] for _ in range(3 * threshold[0])]  # container allocations: enough to run a young collection
print(json.dumps({"threshold": threshold, "frozen": frozen, "cycle_freed_without_collect": bool(freed)}))
"""


def _probe(**env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, check=True)
    return json.loads(done.stdout)


def test_relay_process_freezes_its_start_up_objects_and_collects_less_often() -> None:
    found = _probe()
    assert found["threshold"][0] == GC_YOUNG_THRESHOLD
    assert found["frozen"] > 1000  # the modules and objects that exist after start
    # Cycles made while serving are still collected, without anyone calling gc.collect().
    assert found["cycle_freed_without_collect"] is True


def test_relay_gc_default_keeps_the_interpreter_settings() -> None:
    found = _probe(PARLEY_RELAY_GC="default")
    assert found["threshold"][0] == 700 and found["frozen"] == 0
    assert found["cycle_freed_without_collect"] is True
