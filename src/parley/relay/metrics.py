"""The relay's Prometheus metrics (prometheus_client).

Counted in each process: authenticated requests, refusals by error code. Asked of the writer when
answering: events accepted, commit batches. Of the answering process: the garbage collector's figures.

With ``--workers``, the supervisor gives every worker one ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode): each worker's counters go to files there, and ``/metrics`` through any worker sums
them over every worker, restarted ones included.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# No "_created" sample per counter: start times say nothing a scraper needs (process start is known).
prometheus_client.disable_created_metrics()


class _WriterCollector(Collector):
    """The writer's counters; with several workers, one round trip to the writer process."""

    def __init__(self, read: Callable[[], tuple[int, int]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        accepted, batches = self.read()
        yield CounterMetricFamily("parley_events_accepted", "Events appended to a log", value=accepted)
        yield CounterMetricFamily("parley_commit_batches", "Group commits of the writer", value=batches)


class _GarbageCollectorCollector(Collector):
    """Of the process that answers: see ``parley.relay.server.tune_garbage_collector``."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("parley_gc_frozen_objects", "Objects frozen out of the collector at start",
                                value=gc.get_freeze_count())
        collections = CounterMetricFamily("parley_gc_collections", "Collections by generation",
                                          labels=["generation"])
        for generation, stats in enumerate(gc.get_stats()):
            collections.add_metric([str(generation)], stats["collections"])
        yield collections


class RelayMetrics:
    """One relay process's metrics and the text ``/metrics`` answers."""

    def __init__(self, writer_counts: Callable[[], tuple[int, int]]) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
        # In multiprocess mode the counters live in files, read back by MultiProcessCollector; otherwise in
        # this relay's own registry (not the global one: tests run many relays in one process).
        own = CollectorRegistry(auto_describe=False)
        counters_registry = None if self.multiprocess_dir else own
        self.requests_authenticated = Counter("parley_requests_authenticated", "Requests with a valid signature",
                                              registry=counters_registry)
        self.errors = Counter("parley_errors", "Refusals by error code", ["code"], registry=counters_registry)
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(own, path=self.multiprocess_dir)
        own.register(_WriterCollector(writer_counts))
        own.register(_GarbageCollectorCollector())
        self.registry = own

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition (blocking: the writer's counters may be a round trip away)."""
        return generate_latest(self.registry)
