"""deploy/container/Containerfile cannot be built here (no base images can be pulled): check
that it stays consistent with the unit instead."""

from __future__ import annotations

import re

from tests.deploy.support import CONTAINERFILE, UNIT


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_container_recipe_matches_the_unit():
    steps = instructions()
    kinds = [k for k, _ in steps]
    values = {k: v for k, v in steps}
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert values["USER"] == "orchestrator" and kinds.index("USER") > kinds.index("RUN")  # runs unprivileged
    assert values["VOLUME"] == '["/var/lib/orchestrator"]'
    assert values["STOPSIGNAL"] == "SIGTERM"
    assert "8080" in values["EXPOSE"]
    assert "/healthz" in values["HEALTHCHECK"]
    entry = values["ENTRYPOINT"]
    unit = UNIT.read_text(encoding="utf-8")
    for option in ("--data /var/lib/orchestrator", "--port 8080", "--public-url", "--ice-address", "$ORCHESTRATOR_OPTIONS"):
        assert option in entry and option in unit, option
    assert "exec orchestrator serve" in entry  # exec: the server replaces the shell as PID 1 and gets SIGTERM
