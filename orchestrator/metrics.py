"""The server's metrics for monitoring, in the Prometheus text format (`GET /metrics`).

One registry per server, never prometheus-client's global one, so that several servers
in one process (the tests) each count their own. Two kinds of figures:

- counted as they happen: takes by reason and fallbacks (from the session's events, a
  listener of the live session), switch times, keyframe requests and forwarded frames
  and bytes (from the program router, as its `MediaObserver`), event-log appends and
  their time (the log's `on_append`);
- read when Prometheus scrapes: venues connected and on air, microphones, each venue's
  link as last sampled (loss, round trip, bitrate, poor or not), WebSocket clients, log
  lines dropped, and the process's CPU and memory (prometheus-client's process collector).

Venues are labelled by id (`venue="pinghu"`); `orchestrator_venue_info` gives each one's
name and role, to join on in dashboards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .conference import Conference
from .core.events import Event, ProgramFellBack, TakeReason, VenueTookAir
from .core.state import LinkQuality, SessionPhase, SessionState
from .logs import dropped_log_lines
from .media.plane import LinkStats

CONTENT_TYPE = CONTENT_TYPE_LATEST
SWITCH_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
TAKE_REASONS = (*(r.value for r in TakeReason), "fallback")


class ServerMetrics:
    """The metrics of one server: feed it (`on_events`, `media`, `log_appended`), attach the
    running session (`attach`), and scrape it (`exposition`)."""

    def __init__(self, conference: Conference):
        self.conference = conference
        self.registry = CollectorRegistry()
        r = self.registry
        self.takes = Counter("orchestrator_takes", "Changes of the on-air venue, by reason (fallback: the program "
                             "fell back to the main venue)", ["reason"], registry=r)
        for reason in TAKE_REASONS:
            self.takes.labels(reason)  # every series from the start, at 0
        self.switch_seconds = Histogram("orchestrator_switch_seconds", "From a take to the new venue's keyframe "
                                        "forwarded to the venues", buckets=SWITCH_BUCKETS, registry=r)
        self.keyframe_requests = Counter("orchestrator_keyframe_requests", "Keyframe requests (RTCP PLI) sent to "
                                         "venues", ["venue"], registry=r)
        self.log_appends = Counter("orchestrator_event_log_appends", "Commands whose events were appended to the "
                                   "event log", registry=r)
        self.log_events = Counter("orchestrator_event_log_events", "Events appended to the event log", registry=r)
        self.log_append_seconds = Histogram("orchestrator_event_log_append_seconds", "Time to append one command's "
                                            "events (one SQLite transaction)", buckets=APPEND_BUCKETS, registry=r)
        ProcessCollector(registry=r)
        self._state: Callable[[], SessionState | None] = lambda: None
        self._links: Callable[[], dict[str, LinkStats]] = dict
        self._sockets: Callable[[], dict[str, int]] = dict
        r.register(_Snapshot(self))
        self.media = _MediaCounts(self)
        """The program router's `MediaObserver`."""
        r.register(self.media)

    # ------------------------------------------------------------ fed as things happen

    def on_events(self, events: list[Event], state: SessionState) -> None:
        """A live-session listener: count the takes and fallbacks."""
        for event in events:
            if isinstance(event, VenueTookAir):
                self.takes.labels(event.reason.value).inc()
            elif isinstance(event, ProgramFellBack):
                self.takes.labels("fallback").inc()

    def log_appended(self, events: int, seconds: float) -> None:
        """The event log's `on_append`."""
        self.log_appends.inc()
        self.log_events.inc(events)
        self.log_append_seconds.observe(seconds)

    # ------------------------------------------------------------ read at scrape time

    def attach(self, state: Callable[[], SessionState], links: Callable[[], dict[str, LinkStats]],
               sockets: Callable[[], dict[str, int]]) -> None:
        """Where the scrape reads the session's state, the venues' last link samples and the number of
        WebSocket clients by kind (venue, operator)."""
        self._state, self._links, self._sockets = state, links, sockets

    def exposition(self) -> bytes:
        """Every metric, in the Prometheus text format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


class _MediaCounts(Collector):
    """The program router's `MediaObserver`: switch times, keyframe requests, forwarded frames.

    Forwarded frames and bytes are told for every packet forwarded: they are plain sums here,
    read when Prometheus scrapes (a prometheus-client `Counter` takes a lock on every `inc`)."""

    def __init__(self, metrics: ServerMetrics):
        self._switch = metrics.switch_seconds
        self._keyframes = metrics.keyframe_requests
        self.frames = {"video": 0, "audio": 0}
        self.bytes = {"video": 0, "audio": 0}
        self._created = time.time()

    def switched(self, venue: str, seconds: float) -> None:
        self._switch.observe(seconds)

    def keyframe_requested(self, venue: str) -> None:
        self._keyframes.labels(venue).inc()

    def forwarded(self, kind: str, frames: int, size: int) -> None:
        self.frames[kind] += frames
        self.bytes[kind] += size

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        return iter(self._families())

    def _families(self) -> list[Metric]:
        frames = CounterMetricFamily("orchestrator_forwarded_frames", "Encoded frames forwarded to receivers",
                                     labels=["kind"])
        sent = CounterMetricFamily("orchestrator_forwarded_bytes", "Bytes of encoded frames forwarded to receivers",
                                   labels=["kind"])
        for kind in ("video", "audio"):
            frames.add_metric([kind], self.frames[kind], created=self._created)
            sent.add_metric([kind], self.bytes[kind], created=self._created)
        return [frames, sent]


class _Snapshot(Collector):
    """The figures that are a state: read from the running session when scraped."""

    def __init__(self, metrics: ServerMetrics):
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return iter(_Families().all())

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        state = self.metrics._state()
        if state is not None:
            self._fill(families, state)
        return iter(families.all())

    def _fill(self, f: _Families, state: SessionState) -> None:
        for venue in self.metrics.conference.venues:
            f.info.add_metric([venue.id, venue.name, venue.role.value], 1)
        for phase in SessionPhase:
            f.phase.add_metric([phase.value], 1 if state.phase is phase else 0)
        f.connected_total.add_metric([], sum(1 for vs in state.venues.values() if vs.connected))
        for venue_id, vs in state.venues.items():
            f.connected.add_metric([venue_id], 1 if vs.connected else 0)
            f.on_air.add_metric([venue_id], 1 if state.on_air == venue_id else 0)
            f.muted.add_metric([venue_id], 1 if vs.muted else 0)
            f.poor.add_metric([venue_id], 1 if vs.link is LinkQuality.POOR else 0)
        for venue_id, link in sorted(self.metrics._links().items()):
            sampled = state.venues.get(venue_id)
            if sampled is None or not sampled.connected:
                continue
            f.loss.add_metric([venue_id], link.loss_pct / 100)
            if link.rtt_ms is not None:
                f.rtt.add_metric([venue_id], link.rtt_ms / 1000)
            f.bitrate.add_metric([venue_id, "up"], link.bitrate_in_kbps * 1000)
            f.bitrate.add_metric([venue_id, "down"], link.bitrate_out_kbps * 1000)
        for kind, n in sorted(self.metrics._sockets().items()):
            f.sockets.add_metric([kind], n)


class _Families:
    """One scrape's state figures, empty until filled."""

    def __init__(self) -> None:
        self.info = GaugeMetricFamily("orchestrator_venue_info", "Each venue's name and role (always 1)",
                                      labels=["venue", "name", "role"])
        self.phase = GaugeMetricFamily("orchestrator_session_phase", "1 for the session's phase", labels=["phase"])
        self.connected_total = GaugeMetricFamily("orchestrator_venues_connected", "Venues connected now")
        self.connected = GaugeMetricFamily("orchestrator_venue_connected", "1 when the venue is connected",
                                           labels=["venue"])
        self.on_air = GaugeMetricFamily("orchestrator_on_air", "1 for the venue on air", labels=["venue"])
        self.muted = GaugeMetricFamily("orchestrator_venue_muted", "1 when the venue's microphone is closed",
                                       labels=["venue"])
        self.poor = GaugeMetricFamily("orchestrator_venue_link_poor", "1 when the session rates the venue's link "
                                      "poor", labels=["venue"])
        self.loss = GaugeMetricFamily("orchestrator_venue_link_loss_ratio", "Packet loss on the venue's uplink, "
                                      "last sample (0 to 1)", labels=["venue"])
        self.rtt = GaugeMetricFamily("orchestrator_venue_link_rtt_seconds", "Round trip to the venue, last sample",
                                     labels=["venue"])
        self.bitrate = GaugeMetricFamily("orchestrator_venue_link_bits_per_second", "The venue's media bitrate, last "
                                         "sample (direction up: from the venue; down: to it)",
                                         labels=["venue", "direction"])
        self.sockets = GaugeMetricFamily("orchestrator_websocket_clients", "WebSocket clients connected now, by kind",
                                         labels=["kind"])
        self.dropped = CounterMetricFamily("orchestrator_log_lines_dropped", "Log lines dropped because their reader "
                                           "stalled", value=dropped_log_lines())

    def all(self) -> list[Metric]:
        return [self.info, self.phase, self.connected_total, self.connected, self.on_air, self.muted, self.poor,
                self.loss, self.rtt, self.bitrate, self.sockets, self.dropped]
