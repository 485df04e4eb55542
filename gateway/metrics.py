"""Prometheus metrics. Each gateway instance has its own registry (tests run several at once)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.outbox import OutboxStatus

if TYPE_CHECKING:
    from gateway.dedup import IndexStatus


class _OutboxCollector(Collector):
    """Depth and age of the unpublished backlog, read from the outbox at scrape time, and whether
    its commit process still commits the reports."""

    def __init__(self, status: Callable[[], OutboxStatus], commit_process_up: Callable[[], bool]) -> None:
        self._status = status
        self._commit_process_up = commit_process_up

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self._status()
        depth = GaugeMetricFamily(
            "lapor_outbox_depth", "Committed reports not yet confirmed by the broker.", labels=["channel"]
        )
        for channel, count in sorted(status.per_channel.items()):
            depth.add_metric([channel], count)
        yield depth
        yield GaugeMetricFamily(
            "lapor_outbox_held", "Reports held back (waiting for media) before publishing.", value=status.held
        )
        age = GaugeMetricFamily(
            "lapor_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest report not yet confirmed by the broker (0 when none waits).",
            labels=["channel"],
        )
        now = time.time()
        for channel, oldest in sorted(status.oldest_per_channel.items()):
            age.add_metric([channel], max(now - oldest, 0.0))
        yield age
        yield GaugeMetricFamily(
            "lapor_outbox_commit_process_up",
            "1 while reports commit in the outbox's commit process; 0 once it has ended (the writer thread commits"
            " them, more slowly, until a new one is started).",
            value=1 if self._commit_process_up() else 0,
        )


class _AcksCollector(Collector):
    """Acknowledgements waiting to be sent, read from the outbox at scrape time."""

    def __init__(self, pending: Callable[[], dict[str, int]]) -> None:
        self._pending = pending

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("lapor_acks_pending", "Acknowledgements not yet sent.", labels=["channel"])
        for channel, count in sorted(self._pending().items()):
            family.add_metric([channel], count)
        yield family


class _DedupIndexCollector(Collector):
    """How full dedup's cluster index is, and whether it has had to forget reports inside its window."""

    def __init__(self, status: Callable[[], IndexStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self._status()
        yield GaugeMetricFamily("lapor_dedup_index_entries", "Reports in dedup's in-memory cluster index.",
                                value=status.entries)
        yield GaugeMetricFamily("lapor_dedup_index_capacity", "The cluster index's slots (dedup.cluster_capacity).",
                                value=status.capacity)
        yield CounterMetricFamily(
            "lapor_dedup_index_forgotten_inside_window",
            "Reports the full cluster index forgot while still inside dedup.cluster_window: later reports of"
            " their event are not clustered with them. Raise dedup.cluster_capacity if this grows.",
            value=status.forgotten_inside_window,
        )


class PerChannel(dict[str, Counter]):
    """A counter's child per channel, made on first use: labels() costs twice the inc() itself,
    and these are counted for every report."""

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def __missing__(self, channel: str) -> Counter:
        child = self[channel] = self.counter.labels(channel)
        return child


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "lapor_reports_accepted", "Reports committed to the outbox.", ["channel"], registry=self.registry
        )
        self.duplicates = Counter(
            "lapor_reports_duplicates",
            "Reports recognised as duplicates (exact: not stored again; near: linked).",
            ["channel", "match"],
            registry=self.registry,
        )
        self.published = Counter(
            "lapor_reports_published", "Reports confirmed by the broker.", ["channel"], registry=self.registry
        )
        self.accepted_in = PerChannel(self.accepted)
        self.published_in = PerChannel(self.published)
        self.publish_retries = Counter(
            "lapor_publish_retries", "Publishes that failed and were scheduled again.", ["channel"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "lapor_requests_rejected", "Inbound messages refused (bad input, bad signature).",
            ["channel", "reason"], registry=self.registry,
        )
        self.quarantined = Counter(
            "lapor_messages_quarantined",
            "Inbound messages kept for audit instead of becoming reports (auto-reply, bounce, loop, unparseable).",
            ["channel", "reason"], registry=self.registry,
        )
        self.broker_connected = Gauge(
            "lapor_broker_connected", "1 while the publisher holds a broker connection.", registry=self.registry
        )
        self.acks_sent = Counter(
            "lapor_acks_sent", "Acknowledgements (tracking codes) delivered to the provider.", ["channel"],
            registry=self.registry,
        )
        self.acks_failed = Counter(
            "lapor_acks_failed", "Acknowledgements given up on: rejected by the provider or out of attempts.",
            ["channel", "reason"], registry=self.registry,
        )
        self.acks_skipped = Counter(
            "lapor_acks_skipped", "Reports not acknowledged on purpose (automatic mail, rate limit, no sender).",
            ["channel", "reason"], registry=self.registry,
        )
        self.ack_retries = Counter(
            "lapor_ack_retries", "Acknowledgement sends that failed and were scheduled again.", ["channel"],
            registry=self.registry,
        )

    def watch_outbox(self, status: Callable[[], OutboxStatus], commit_process_up: Callable[[], bool]) -> None:
        self.registry.register(_OutboxCollector(status, commit_process_up))

    def watch_dedup(self, status: Callable[[], IndexStatus]) -> None:
        self.registry.register(_DedupIndexCollector(status))

    def watch_acks(self, pending: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_AcksCollector(pending))

    def render(self) -> bytes:
        return generate_latest(self.registry)
