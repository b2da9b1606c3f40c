"""The venues' views (`VenueViews`): a venue socket rebuilds a venue's view only when its
key changed, so over any command sequence equal keys must mean equal views."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from orchestrator.core import CommandRejected, Session
from orchestrator.core import commands as c
from orchestrator.web.views import VenueViews
from tests.unit.test_core_properties import CONF, resolve, steps

VENUES = [v.id for v in CONF.venues]


def follow(sequence, key=lambda views, venue: views.key(venue)) -> int:
    """Run `sequence`; after each applied command, every venue whose key did not change must
    have the view it had. Returns how many views the keys let a socket skip."""
    session = Session(CONF)
    now = 1_000.0
    shared = None
    sent: dict[str, tuple] = {}
    skipped = 0
    for command, dt in sequence:
        command, now = resolve(session, command, now + dt)
        try:
            session.handle(command, now)
        except CommandRejected:
            continue
        views = VenueViews(session, shared)
        shared = views.shared
        for venue in VENUES:
            view, made_of = views.view(venue), key(views, venue)
            if venue in sent and sent[venue][0] == made_of:
                assert sent[venue][1] == view, f"{venue}'s view changed after {command!r}, its key did not"
                skipped += 1
            sent[venue] = (made_of, view)
    return skipped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps())
def test_equal_keys_mean_equal_views(sequence):
    follow(sequence)


def test_a_key_that_leaves_something_out_is_caught():
    """The property can fail: a key without the microphone misses an unmute."""
    sequence = [(c.JoinVenue(venue="pinghu"), 0.0), (c.StartSession(), 1.0), (c.UnmuteVenue(venue="pinghu"), 1.0)]
    try:
        follow(sequence, key=lambda views, venue: views.key(venue)[:1] + views.key(venue)[2:])
    except AssertionError as exc:
        assert "pinghu's view changed" in str(exc)
        return
    raise AssertionError("a key without `muted` went unnoticed")


def test_most_events_leave_most_views_alone():
    """Venues joining and links reported change no venue's view: nothing to rebuild."""
    sequence = [(c.StartSession(), 0.0)] + [(c.JoinVenue(venue=v), 1.0) for v in VENUES] + [
        (c.ReportLink(venue=v, loss_pct=12.0, rtt_ms=30.0), 1.0) for v in VENUES]
    assert follow(sequence) == 2 * len(VENUES) ** 2  # every view, after every one of those commands
