"""`orchestrator` command line: validate | serve | links | rehearse | venue | bench."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from .config import ConfigError, Conference, VenueRole, format_duration, load_conference


def _load_or_exit(path: str) -> Conference:
    try:
        return load_conference(path)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        sys.exit(1)


def summary(path: str, conf: Conference) -> str:
    info = conf.conference
    kinds = Counter(v.kind.value if v.kind else "unspecified" for v in conf.venues if v.role is VenueRole.BRANCH)
    branches = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    recipients = sum(len(a.recipients) for a in conf.awards)
    end = conf.starts_at.timestamp() + conf.planned_total
    end_local = conf.starts_at.fromtimestamp(end, conf.starts_at.tzinfo)
    lines = [
        f"{path}: valid",
        f"  conference   {info.id}: {info.title}",
        f"  starts       {info.date.isoformat()} {info.start:%H:%M} ({info.timezone})",
        f"  venues       {len(conf.venues)}: main '{conf.main_venue.id}' ({conf.main_venue.name}); "
        f"{len(conf.branch_ids)} branches: {branches}",
        f"  awards       {len(conf.awards)} lists, {recipients} recipients",
        f"  agenda       {len(conf.agenda)} segments, {format_duration(conf.planned_total)} planned",
        f"  planned end  {end_local:%Y-%m-%d %H:%M} ({info.timezone})",
    ]
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestrator")
def main() -> None:
    """Run a video-conference session: agenda, on-air venue, roll call, awards."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check conference files; print a summary, or every error as FILE:LINE:COL."""
    failed = False
    for path in files:
        try:
            conf = load_conference(path)
        except ConfigError as exc:
            failed = True
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            continue
        click.echo(summary(path, conf))
    sys.exit(1 if failed else 0)


def _ice_options(fn):
    fn = click.option("--ice-address", "ice_addresses", multiple=True, metavar="ADDR",
                      help="Offer ICE candidates only on this local address (repeatable; default: every interface).")(fn)
    return fn


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--data", "data_dir", default="./var", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the event log and the signing key.")
@click.option("--public-url", default=None, help="The address venues use (links and Origin checks), e.g. https://meet.example.org")
@click.option("--ice-server", "ice_servers", multiple=True, metavar="URL",
              help="STUN/TURN server given to venues (repeatable). None by default: closed networks.")
@click.option("--heartbeat-timeout", default=3.0, show_default=True, type=float,
              help="Seconds of silence after which a venue is shown disconnected.")
@_ice_options
def serve(config, host, port, data_dir, public_url, ice_servers, heartbeat_timeout, ice_addresses) -> None:
    """Host a conference: venues join by link, the operator drives it by API or console."""
    import os
    import secrets

    from aiohttp import web

    from .logs import configure
    from .media.aiortc_tap import restrict_host_addresses
    from .store import LogError
    from .web.app import ServerSettings, create_app
    from .web.auth import load_secret_key

    conf = _load_or_exit(config)
    configure()
    restrict_host_addresses(list(ice_addresses) or None)
    token = os.environ.get("ORCHESTRATOR_OPERATOR_TOKEN")
    if not token:
        token = secrets.token_urlsafe(24)
        click.echo(f"Operator token (shown once; set ORCHESTRATOR_OPERATOR_TOKEN to choose it): {token}")
    settings = ServerSettings(
        conference=conf,
        data_dir=Path(data_dir),
        operator_token=token,
        secret_key=load_secret_key(data_dir),
        public_url=public_url,
        ice_servers=[{"urls": [url]} for url in ice_servers],
        heartbeat_timeout_s=heartbeat_timeout,
    )
    base = public_url or f"http://{host}:{port}"
    click.echo(f"Conference {conf.conference.id}: {len(conf.venues)} venues, {len(conf.agenda)} segments")
    click.echo(f"Operator API:   {base}/api/state  (Authorization: Bearer <operator token>)")
    click.echo(f"Join links:     {base}/api/links, or: orchestrator links {config} --base-url {base} --data {data_dir}")
    try:
        web.run_app(create_app(settings), host=host, port=port, shutdown_timeout=5, print=None,
                    handle_signals=True)
    except LogError as exc:
        click.echo(f"orchestrator serve: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--base-url", required=True, help="The address venues open, e.g. https://meet.example.org")
@click.option("--data", "data_dir", default="./var", show_default=True, type=click.Path(file_okay=False))
@click.option("--valid-days", default=14.0, show_default=True, type=float)
def links(config, base_url, data_dir, valid_days) -> None:
    """Print one join link per venue: venue-id<TAB>join-url."""
    from .web.auth import JoinTokens, load_secret_key

    conf = _load_or_exit(config)
    tokens = JoinTokens(load_secret_key(data_dir), conf.conference.id, set(conf.venue_by_id), valid_days * 86400)
    for venue in conf.venues:
        click.echo(f"{venue.id}\t{tokens.link(base_url, venue.id)}")


@main.command()
@click.argument("join_url")
@click.option("--synthetic", is_flag=True, help="Send generated video and audio that carry the venue's mark.")
@click.option("--camera", default=None, help="Camera device (e.g. /dev/video0).")
@click.option("--microphone", default=None, help="Microphone device (e.g. default, or hw:0).")
@click.option("--log", "log_path", default=None, type=click.Path(dir_okay=False), help="Write JSON lines of what happened here.")
@click.option("--loss", default=0.0, type=click.FloatRange(0, 100), help="Drop this percentage of outgoing video packets (drill).")
@_ice_options
def venue(join_url, synthetic, camera, microphone, log_path, loss, ice_addresses) -> None:
    """Join a session as a venue (room PC or simulated venue)."""
    import asyncio
    import signal

    from venues.agent import VenueAgent, device_media, open_log, synthetic_media

    from .logs import configure
    from .media.aiortc_tap import restrict_host_addresses

    if synthetic == bool(camera or microphone) or (not synthetic and not (camera and microphone)):
        raise click.UsageError("use --synthetic, or both --camera and --microphone")
    configure()
    restrict_host_addresses(list(ice_addresses) or None)
    factory = synthetic_media if synthetic else (lambda index: device_media(camera, microphone))
    try:
        agent = VenueAgent(join_url, factory, open_log(log_path), loss_pct=loss)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop)
        return await agent.run()

    sys.exit(asyncio.run(run()))


def _not_yet(name: str):
    @main.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def stub() -> None:
        click.echo(f"orchestrator {name}: not yet available", err=True)
        sys.exit(2)

    stub.__doc__ = f"(not yet available) {name}"
    return stub


for _name in ("rehearse", "bench"):
    _not_yet(_name)


if __name__ == "__main__":  # pragma: no cover
    main()
