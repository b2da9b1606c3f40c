"""The server's event loop: uvloop by default, asyncio's own when asked or when uvloop is missing."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from orchestrator.event_loop import new_event_loop
from orchestrator.settings import ServerSettings


@pytest.mark.parametrize("choice,kind", [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)])
def test_the_loop_chosen_runs(choice, kind):
    loop, running = new_event_loop(choice)
    try:
        assert running == choice and isinstance(loop, kind)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_without_uvloop_asyncios_own_loop_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop fails
    loop, running = new_event_loop("uvloop")
    try:
        assert running == "asyncio" and not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_setting_defaults_to_uvloop_and_refuses_others(monkeypatch):
    assert ServerSettings().event_loop == "uvloop"
    monkeypatch.setenv("ORCHESTRATOR_EVENT_LOOP", "asyncio")
    assert ServerSettings().event_loop == "asyncio"
    with pytest.raises(ValueError, match="event_loop"):
        ServerSettings(event_loop="trio")
