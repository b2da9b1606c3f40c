"""Child processes for tests."""

from __future__ import annotations

import signal


def takes_ctrl_c() -> None:
    """`preexec_fn` for a child that must take SIGINT as Ctrl-C: a shell that starts the suite in
    the background ignores SIGINT, its children inherit that, and Python then never raises
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
