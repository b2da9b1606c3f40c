"""Fixtures of the Janus media plane's tests: a network namespace with Janus nodes in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import janus_node

REASON = janus_node.unavailable()


@pytest.fixture
def janus_namespace() -> Iterator[str]:
    """A fresh network namespace that the test's thread runs in (skips where there is none)."""
    if REASON is not None:
        pytest.skip(REASON)
    with janus_node.network_namespace() as name, janus_node.inside(name):
        yield name


@pytest.fixture
def janus(janus_namespace: str, tmp_path: Path) -> Iterator[janus_node.JanusNode]:
    """One Janus node in the test's namespace."""
    node = janus_node.start_node(janus_namespace, tmp_path / "janus")
    try:
        yield node
    finally:
        janus_node.stop_node(node)
