"""Secrets kept in files (a command line is visible to every user of the machine): the first line."""

from __future__ import annotations

import os
from pathlib import Path


def read_secret_file(path: str | os.PathLike[str], what: str) -> str:
    """The first line of `path`, stripped. Raises ValueError naming `what` ("the TURN secret
    file") when it cannot be read or is empty."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror}") from None
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise ValueError(f"{what} {path} is empty")
    return secret
