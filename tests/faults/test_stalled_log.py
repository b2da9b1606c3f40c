"""A log reader that stalls (a pipe nobody drains, a busy journal) must not stall the session.

The server writes its log from a thread with a bounded queue: commands are answered while
the pipe is full, and the lines are written once the reader catches up.
"""

from __future__ import annotations

import signal

import aiohttp
import pytest

from orchestrator.operator_client import wait_healthy
from tests.conftest import SAMPLE
from tests.support.live import OPERATOR_TOKEN, free_port, server_process

pytestmark = pytest.mark.asyncio

COMMANDS = 1500  # each logs a caption_changed line of about 250 bytes: far more than a 64 KiB pipe


async def test_a_server_whose_log_pipe_is_full_still_answers(tmp_path):
    port = free_port()
    proc = server_process(SAMPLE, tmp_path / "data", port)  # its stderr is a pipe this test leaves unread
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            await wait_healthy(base, 15)
            for n in range(COMMANDS):
                try:
                    async with http.post(base + "/api/commands", headers=auth,
                                         json={"type": "set_caption", "text": f"caption {n}"}) as r:
                        assert r.status == 200, await r.text()
                except TimeoutError:
                    pytest.fail(f"command {n} was not answered within 20 s: the server is stuck writing its log")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)  # reading drains the pipe: the queued lines follow
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    captions = [line for line in stderr.splitlines() if '"caption_changed"' in line]
    assert len(captions) == COMMANDS, f"{len(captions)} of {COMMANDS} caption lines in the log"
    assert f'caption {COMMANDS - 1}"' in captions[-1]
    assert "log_lines_dropped" not in stderr
