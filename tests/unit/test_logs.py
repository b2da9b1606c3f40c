"""The server's log writer: a reader that stalls never blocks the writer, and every line is
either written in order or counted in a `log_lines_dropped` line."""

from __future__ import annotations

import json
import os
import threading
import time

import structlog

from orchestrator.logs import BackgroundWriter, configure, get_logger

LINES = 3000
LIMIT = 50


def test_a_stalled_reader_costs_lines_that_are_counted_never_a_blocked_writer():
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    writer = BackgroundWriter(stream, limit=LIMIT)
    configure(json=True, file=writer)
    try:
        log = get_logger(component="test")
        logging_thread = threading.Thread(target=lambda: [log.info("line_written", n=n) for n in range(LINES)])
        logging_thread.start()  # nobody reads the pipe yet: it fills after a few hundred lines
        logging_thread.join(30)
        assert not logging_thread.is_alive(), "logging blocked on a pipe nobody reads"

        received: list[dict] = []

        def read() -> None:
            with os.fdopen(read_end) as pipe:
                received.extend(json.loads(line) for line in pipe)

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 30
        while not any(e["event"] == "log_lines_dropped" for e in list(received)) and time.monotonic() < deadline:
            time.sleep(0.05)
        writer.close()
        stream.close()
        reader.join(30)
    finally:
        structlog.reset_defaults()

    written = [e["n"] for e in received if e["event"] == "line_written"]
    dropped = sum(e["count"] for e in received if e["event"] == "log_lines_dropped")
    assert dropped > 0 and writer.dropped_total == dropped  # the metrics count what the log said
    assert len(written) + dropped == LINES, (len(written), dropped)
    assert written == sorted(set(written)), "lines out of order or twice"
