"""The benchmark script still runs (tiny sizes), so docs/tlog.md figures stay reproducible."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_tlog.py"


def test_bench_runs_and_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_tlog", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--leaves", "3000", "--backends", "memory,sqlite", "--proofs", "20", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [row["backend"] for row in results["appends"]] == ["memory", "memory", "sqlite"]
    assert all("1000" in row["us_per_append"] for row in results["appends"])
    assert {row["backend"] for row in results["proofs"]} == {"memory", "sqlite"}
