class CommandRejected(Exception):
    """A command the session refuses in its current state. `str(exc)` is the sentence to show."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class ReplayError(Exception):
    """An event that cannot be applied to the state (a log that does not fit the conference)."""
