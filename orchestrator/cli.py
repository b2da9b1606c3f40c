"""`orchestrator` command line: validate | serve | archive | minutes | links | rehearse | venue | bench."""

from __future__ import annotations

import signal
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from .config import Conference, ConfigError, VenueRole, display_path, load_conference
from .i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Language, duration, ntranslate, translate
from .wording import Clock, count


def _load_or_exit(path: str, status: int = 1, lang: Language | None = None) -> Conference:
    try:
        return load_conference(path)
    except ConfigError as exc:
        _print_config_error(exc, lang)
        sys.exit(status)


def _print_config_error(exc: ConfigError, lang: Language | None) -> None:
    """Every error of a conference file on stderr, as FILE:LINE:COL lines, in `lang`
    (default: the language the file asks for, when that much of it could be read)."""
    for line in exc.lines(lang=lang or exc.language or SOURCE_LANGUAGE):
        click.echo(line, err=True)


# The kinds of branch venue, as the summary names them.
KIND_WORDS = {
    "county": N_("county"), "county_city": N_("county_city"), "district": N_("district"),
    "development_zone": N_("development_zone"), "port_area": N_("port_area"), "department": N_("department"),
    "other": N_("other"), "unspecified": N_("unspecified"),
}


def summary(path: str, conf: Conference, lang: Language | None = None) -> str:
    """What `validate` says of a good file, in `lang` (default: the conference's language)."""
    info = conf.conference
    lang = lang or info.language
    kinds = Counter(v.kind.value if v.kind else "unspecified" for v in conf.venues if v.role is VenueRole.BRANCH)
    branches = translate(lang, N_(", ")).join(
        translate(lang, N_("{n} {kind}"), n=n, kind=translate(lang, KIND_WORDS[kind])) for kind, n in kinds.items())
    recipients = sum(len(a.recipients) for a in conf.awards)
    n_branches = ntranslate(lang, "{n} branch", "{n} branches", len(conf.branch_ids))
    lines = [
        translate(lang, N_("{path}: valid"), path=display_path(path)),
        translate(lang, N_("  conference   {id}: {title}"), id=info.id, title=info.title),
        translate(lang, N_("  starts       {date} {time} ({zone})"), date=info.date.isoformat(),
                  time=f"{info.start:%H:%M}", zone=info.timezone),
        translate(lang, N_("  venues       {n}: main '{main}' ({name}); {branches}"), n=len(conf.venues),
                  main=conf.main_venue.id, name=conf.main_venue.name, branches=n_branches)
        + (translate(lang, N_(": {kinds}"), kinds=branches) if branches else ""),
        translate(lang, N_("  awards       {lists}, {recipients}"),
                  lists=ntranslate(lang, "{n} list", "{n} lists", len(conf.awards)),
                  recipients=ntranslate(lang, "{n} recipient", "{n} recipients", recipients)),
        translate(lang, N_("  agenda       {segments}, {planned} planned"),
                  segments=ntranslate(lang, "{n} segment", "{n} segments", len(conf.agenda)),
                  planned=duration(lang, conf.planned_total)),
        translate(lang, N_("  planned end  {end} ({zone})"), end=f"{conf.planned_end:%Y-%m-%d %H:%M}", zone=info.timezone),
    ]
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestrator")
def main() -> None:
    """Run a video-conference session: agenda, on-air venue, roll call, awards."""


LANG_OPTION = click.option(
    "--lang", type=click.Choice(LANGUAGES), default=None,
    help="The language of what this command says.  [default: the conference's language]")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(readable=False))  # each file is checked by the loader
@LANG_OPTION
def validate(files: tuple[str, ...], lang: Language | None) -> None:
    """Check conference files; print a summary, or every error as FILE:LINE:COL.

    Both are in --lang, else in the language each file asks for (its `conference:
    language:`, as far as a broken file can be read), else in English.

    Each file is checked on its own (a directory or a device is reported as such, and
    the others are still checked); the exit status is 1 if any of them failed.
    """
    failed = False
    for path in files:
        try:
            conf = load_conference(path)
        except ConfigError as exc:
            failed = True
            _print_config_error(exc, lang)
            continue
        click.echo(summary(path, conf, lang))
    sys.exit(1 if failed else 0)


F = TypeVar("F", bound=Callable[..., object])


def janus_options(url_help: str) -> Callable[[F], F]:
    """The options naming Janus nodes and their secrets (`url_help` says what --janus is for here)."""
    options = [
        click.option("--janus", "janus_urls", multiple=True, metavar="URL", help=url_help),
        click.option("--janus-secret-file", default=None, type=click.Path(dir_okay=False),
                     help="File whose first line is the Janus nodes' api_secret (or ORCHESTRATOR_JANUS_SECRET)."),
        click.option("--janus-admin", "janus_admin_urls", multiple=True, metavar="URL",
                     help="With --media janus: a Janus node's Admin API WebSocket, e.g. ws://127.0.0.1:7188 "
                          "(repeatable, one per --janus, in the same order). The venues' link figures are read "
                          "there; without it the links show unmeasured."),
        click.option("--janus-admin-secret-file", default=None, type=click.Path(dir_okay=False),
                     help="File whose first line is the Janus nodes' admin_secret (or "
                          "ORCHESTRATOR_JANUS_ADMIN_SECRET)."),
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


JANUS_NODES_OPTION = click.option(
    "--janus-nodes", default=1, show_default=True, type=click.IntRange(1, 8), metavar="K",
    help="With --media janus: how many Janus nodes to start (each on its own ports; venues spread over them, "
         "feeds cascaded between them).")


def _ice_options(fn):
    fn = click.option("--ice-address", "ice_addresses", multiple=True, metavar="ADDR",
                      help="Offer ICE candidates only on this local address (repeatable; default: every interface).")(fn)
    return fn


def _default(setting: str, per: float = 1) -> str:
    """The default of a server setting (divided by `per`), as `--help` shows it."""
    from .settings import ServerSettings

    default = ServerSettings.model_fields[setting].default
    return f"{default / per:g}" if isinstance(default, (int, float)) else str(default)


def _settings(**given: object):
    """ServerSettings from the options given (the others from ORCHESTRATOR_* variables, then
    the defaults); a usage error says which setting is wrong."""
    from pydantic import ValidationError

    from .settings import ServerSettings, describe_settings_error

    try:
        return ServerSettings.model_validate({k: v for k, v in given.items() if v not in (None, (), [])})
    except ValidationError as exc:
        raise click.UsageError(describe_settings_error(exc)) from None


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--host", default=None, help=f"Address to listen on.  [default: {_default('host')}]")
@click.option("--port", default=None, type=int, help=f"Port to listen on.  [default: {_default('port')}]")
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help=f"Folder for the event log and the signing key.  [default: {_default('data_dir')}]")
@click.option("--public-url", default=None, help="The address venues use (links and Origin checks), e.g. https://meet.example.org")
@click.option("--ice-server", "ice_servers", multiple=True, metavar="URL",
              help="STUN/TURN server given to venues (repeatable). None by default: closed networks.")
@click.option("--turn-url", "turn_urls", multiple=True, metavar="URL",
              help="TURN server given to venues, each with a short-lived credential of its own (repeatable; "
                   "e.g. turn:turn.example.org:3478?transport=udp). Needs the secret shared with coturn: "
                   "ORCHESTRATOR_TURN_SECRET, or --turn-secret-file.")
@click.option("--turn-secret-file", default=None, type=click.Path(dir_okay=False),
              help="File whose first line is the TURN shared secret (coturn's static-auth-secret).")
@click.option("--turn-ttl", "turn_ttl_s", default=None, type=int,
              help=f"Seconds each venue's TURN credential stays valid (at least 60).  [default: {_default('turn_ttl_s')}]")
@click.option("--heartbeat-timeout", "heartbeat_timeout_s", default=None, type=float,
              help=f"Seconds of silence after which a venue is shown disconnected.  "
                   f"[default: {_default('heartbeat_timeout_s')}]")
@click.option("--restart-grace", "restart_grace_s", default=None, type=float,
              help=f"After a restart, seconds venues have to rejoin before they are recorded as gone (0 to 600).  "
                   f"[default: {_default('restart_grace_s')}]")
@click.option("--metrics-token", default=None, metavar="TOKEN",
              help="A bearer token for GET /metrics besides the operator's (for Prometheus). Prefer "
                   "ORCHESTRATOR_METRICS_TOKEN: a command line is visible to every user of the machine.")
@click.option("--media", type=click.Choice(["embedded", "janus", "transcode"]), default=None,
              help="embedded: the SFU in this process (default). janus: Janus nodes move the media (--janus); "
                   "this server keeps the session and drives them. transcode: aiortc's decode-and-re-encode "
                   "path, the benchmark's baseline only.")
@janus_options("With --media janus: a Janus node's WebSocket API, e.g. ws://10.0.0.5:8188 (repeatable, one per "
               "node). Venues reach the nodes' media ports only, never this API.")
@click.option("--simulate", default=None, metavar="all|VENUE,...",
              help="Run a simulated venue (synthetic venue agent) for these venues in this process, "
                   "so the session can be tried from the console alone. Implies --ice-address 127.0.0.1 "
                   "when no --ice-address is given.")
@click.option("--record", "record_dir", default=None, type=click.Path(file_okay=False),
              help="Record the program (video and sound as the venues receive them, never transcoded) into this "
                   "folder from the session's start: WebM files with chapters and a JSON of takes and captions. "
                   "Without it, the console's switch records into DATA/recordings.")
@_ice_options
@click.option("--loop", "event_loop", type=click.Choice(["uvloop", "asyncio"]), default=None,
              help=f"The event loop: uvloop (libuv; asyncio's own when uvloop cannot be imported) or asyncio "
                   f"(the standard library's).  [default: {_default('event_loop')}]")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None,
              help="The language of the conference file's errors.  [default: the conference's language]")
def serve(config, host, port, data_dir, public_url, ice_servers, turn_urls, turn_secret_file, turn_ttl_s,
          heartbeat_timeout_s, restart_grace_s, metrics_token, media, janus_urls, janus_secret_file, janus_admin_urls,
          janus_admin_secret_file, simulate, record_dir, ice_addresses, event_loop, lang) -> None:
    """Host a conference: venues join by link, the operator drives it by API or console.

    Every option (and the operator token, the signing key and the TURN secret) can also
    be set with an ORCHESTRATOR_* environment variable; an option given here wins.
    """
    import secrets

    from aiohttp import web
    from pydantic import SecretStr

    from .event_log import LogError
    from .event_loop import new_event_loop
    from .logs import configure
    from .media import restrict_host_addresses
    from .web.app import create_app

    conf = _load_or_exit(config, lang=lang)
    settings = _settings(
        host=host, port=port, data_dir=data_dir, public_url=public_url, ice_servers=list(ice_servers),
        turn_urls=list(turn_urls), turn_secret_file=turn_secret_file, turn_ttl_s=turn_ttl_s,
        heartbeat_timeout_s=heartbeat_timeout_s, restart_grace_s=restart_grace_s, metrics_token=metrics_token,
        media=media, janus_urls=list(janus_urls), janus_secret_file=janus_secret_file,
        janus_admin_urls=list(janus_admin_urls), janus_admin_secret_file=janus_admin_secret_file,
        ice_addresses=list(ice_addresses), record_dir=record_dir, event_loop=event_loop,
    )
    simulated = _simulated_venues(conf, simulate) if simulate is not None else []
    if simulated and not settings.ice_addresses:
        settings = settings.model_copy(update={"ice_addresses": ["127.0.0.1"]})
    sockets = _listen(settings.host, settings.port)  # start errors are one line each, before anything else is printed
    ended_at = _open_data_folder(conf, settings.data_dir)
    configure(background=True)  # a stalled log reader must not stall the session
    restrict_host_addresses(settings.ice_addresses or None)
    if settings.media == "janus":
        _check_janus_nodes(settings.janus_urls, settings.janus_api_secret)
    if settings.operator_token is None:
        token = secrets.token_urlsafe(24)
        click.echo(f"Operator token (shown once; set ORCHESTRATOR_OPERATOR_TOKEN to choose it): {token}")
        settings = settings.model_copy(update={"operator_token": SecretStr(token)})
    host, port, data_dir = settings.host, sockets[0].getsockname()[1], settings.data_dir
    base = settings.public_url or f"http://{host}:{port}"
    click.echo(f"Conference {conf.conference.id}: {count(len(conf.venues), 'venue')}, "
               f"{count(len(conf.agenda), 'segment')}")
    click.echo(f"Operator API:   {base}/api/state  (Authorization: Bearer <operator token>)")
    click.echo(f"Metrics:        {base}/metrics  (Prometheus; Authorization: Bearer <operator or metrics token>)")
    click.echo(f"Join links:     {base}/api/links, or: orchestrator links {config} --base-url {base} --data {data_dir}")
    if settings.media == "janus":
        click.echo(f"Media:          Janus at {', '.join(settings.janus_urls)}"
                   + ("" if settings.janus_admin_urls else " (no Admin API: links unmeasured)"))
    if settings.record_dir is not None:
        click.echo(f"Recording:      the program into {settings.record_dir}, from the session's start")
    try:
        app = create_app(conf, settings)
    except ValueError as exc:  # e.g. the signing key file
        raise click.UsageError(str(exc)) from None
    if simulated:
        from .rehearsal.simulate import simulate_in_app

        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
        simulate_in_app(app, simulated, f"http://{local}:{port}", Path(data_dir) / "simulated")
        click.echo(f"Simulated venues ({len(simulated)}): {', '.join(simulated)}; their logs in "
                   f"{Path(data_dir) / 'simulated'}; media on {', '.join(settings.ice_addresses)}")
    if ended_at is not None:
        click.echo(f"The event log holds a session that ended at {Clock(conf.conference.timezone).stamp(ended_at)} "
                   f"({conf.conference.timezone}); to start a new session, stop the server and run: "
                   f"orchestrator archive {config} --data {data_dir}")
    loop, _running = new_event_loop(settings.event_loop)
    try:
        web.run_app(app, sock=sockets, shutdown_timeout=5, print=None, handle_signals=True, loop=loop)
    except LogError as exc:
        click.echo(f"orchestrator serve: {exc}", err=True)
        sys.exit(1)


def _check_janus_nodes(urls: list[str], secret: str | None) -> None:
    """Exit 1, one line per node, unless every Janus node answers with the API secret and has its VideoRoom."""
    import asyncio

    from .media.janus import check_nodes

    problems = asyncio.run(check_nodes(urls, secret))
    if problems:
        _fail("the Janus media plane cannot start:\n  " + "\n  ".join(problems)
              + "\n  (check each --janus URL, that Janus runs there, and --janus-secret-file)")


def _fail(message: str) -> NoReturn:
    click.echo(f"orchestrator {click.get_current_context().info_name}: {message}", err=True)
    sys.exit(1)


def _oserror_reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _listen(host: str, port: int) -> list[socket.socket]:
    """Bind the server's sockets (every address `host` names), or exit 1 saying why not."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does: restart past TIME_WAIT
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        _fail(f"cannot listen on {where}: {_oserror_reason(exc)}")
    return sockets


def _open_data_folder(conf: Conference, data_dir: str | Path) -> float | None:
    """Make the data folder and open the event log once (a folder that cannot be written, a log of another
    conference or held by another server: one line, exit 1). Returns when the logged session ended, if it has."""
    from .event_log import EventLog, LogError, log_path

    folder = Path(data_dir)
    try:
        if folder.exists() and not folder.is_dir():
            _fail(f"cannot use the data folder {folder}: it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        with EventLog(log_path(folder, conf.conference.id), conf.conference.id) as log:
            return log.ended_at()
    except OSError as exc:
        _fail(f"cannot use the data folder {folder}: {_oserror_reason(exc)}")
    except LogError as exc:
        _fail(str(exc))


def _simulated_venues(conf: Conference, spec: str) -> list[str]:
    """'all' or 'v1,v2' -> venue ids in the conference's order; a usage error names an unknown one."""
    from .hints import did_you_mean

    if spec.strip() == "all":
        return [v.id for v in conf.venues]
    wanted = [v.strip() for v in spec.split(",") if v.strip()]
    if not wanted:
        raise click.UsageError("--simulate needs 'all' or a comma-separated list of venue ids")
    for venue in wanted:
        if venue not in conf.venue_by_id:
            hint = did_you_mean(venue, conf.venue_by_id, cutoff=0.6)
            raise click.UsageError(f"--simulate: there is no venue '{venue}' in this conference{hint}")
    return [v.id for v in conf.venues if v.id in wanted]


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--base-url", required=True, help="The address venues open, e.g. https://meet.example.org")
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help=f"The server's data folder (its signing key).  [default: {_default('data_dir')}]")
@click.option("--valid-days", default=None, type=float,
              help=f"How long the links stay valid.  [default: {_default('token_ttl_s', per=86400)}]")
@LANG_OPTION
def links(config, base_url, data_dir, valid_days, lang) -> None:
    """Print one join link per venue: venue-id<TAB>join-url."""
    from .web.auth import JoinTokens, load_secret_key

    conf = _load_or_exit(config, lang=lang)
    settings = _settings(data_dir=data_dir, token_ttl_s=valid_days * 86400 if valid_days is not None else None)
    try:
        key = load_secret_key(settings.data_dir, settings.secret_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    tokens = JoinTokens(key, conf.conference.id, set(conf.venue_by_id), settings.token_ttl_s)
    for venue in conf.venues:
        click.echo(f"{venue.id}\t{tokens.link(base_url, venue.id)}")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help=f"The server's data folder; archived sessions are kept in its archive/ folder.  "
                   f"[default: {_default('data_dir')}]")
@click.option("--list", "list_archived", is_flag=True, help="List the archived sessions instead.")
@click.option("--show", "show_name", default=None, metavar="NAME",
              help="Print the summary of one archived session (its file name, or its date stamp).")
@LANG_OPTION
def archive(config, data_dir, list_archived, show_name, lang) -> None:
    """Move the session's event log aside, so the next `serve` starts a new session from "scheduled".

    The log is moved, never deleted, to DATA/archive/<conference-id>.<date-time>.events.sqlite3 (its first
    event, in the conference's time zone). Refused while a server runs on the data folder.
    """
    from . import archive as archives

    conf = _load_or_exit(config, lang=lang)
    if list_archived and show_name:
        raise click.UsageError("use --list or --show NAME, not both")
    data_dir = _settings(data_dir=data_dir).data_dir
    try:
        if list_archived:
            click.echo(archives.listing(data_dir, conf))
        elif show_name:
            path = archives.find_archive(data_dir, conf, show_name)
            click.echo(archives.describe(archives.summarise(path), conf))
        else:
            path, summary = archives.archive_log(data_dir, conf)
            lang = lang or conf.conference.language
            click.echo(translate(lang, N_("Archived the session of '{id}' ({events}) as {path}."), id=conf.conference.id,
                                 events=ntranslate(lang, "{n} event", "{n} events", summary.events), path=path))
            click.echo(translate(lang, N_("The next `{command}` starts a new session."),
                                 command=f"orchestrator serve {config} --data {data_dir}"))
    except archives.ArchiveError as exc:
        _fail(str(exc))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help=f"The server's data folder (its event log).  [default: {_default('data_dir')}]")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default=None,
              help="html: a printable A4 page; md: Markdown; json: the records.  "
                   "[default: from the --out file's suffix, else md]")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Write the minutes to this file (default: standard output).")
@LANG_OPTION
def minutes(config, data_dir, fmt, out, lang) -> None:
    """Write the minutes of the session from its event log: segments planned against actual, who was
    on air when and why, the roll call, the awards, the floor, microphones, captions and faults.

    A running session's minutes go up to now; the log is only read (a running server is not disturbed).
    """
    import time

    from .event_log import LogError, log_path
    from .minutes import read_minutes, render

    conf = _load_or_exit(config, lang=lang)
    data_dir = _settings(data_dir=data_dir).data_dir
    fmt = fmt or {".html": "html", ".htm": "html", ".json": "json"}.get(Path(out).suffix.lower() if out else "", "md")
    path = log_path(data_dir, conf.conference.id)
    if not path.exists():
        _fail(f"there is no event log of conference '{conf.conference.id}' in {data_dir}: no session was held there")
    try:
        text = render(read_minutes(conf, path, time.time(), lang), fmt)
    except LogError as exc:
        _fail(str(exc))
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {out}: {_oserror_reason(exc)}")
    click.echo(translate(lang or conf.conference.language, N_("Minutes of '{id}' written to {out} ({format})."),
                         id=conf.conference.id, out=out, format=fmt))


@main.command()
@click.argument("join_url")
@click.option("--synthetic", is_flag=True, help="Send generated video and audio that carry the venue's mark.")
@click.option("--camera", default=None, help="Camera device (e.g. /dev/video0).")
@click.option("--microphone", default=None, help="Microphone device (e.g. default, or hw:0).")
@click.option("--log", "log_path", default=None, type=click.Path(dir_okay=False), help="Write JSON lines of what happened here.")
@click.option("--loss", default=0.0, type=click.FloatRange(0, 100), help="Drop this percentage of outgoing video packets (drill).")
@click.option("--ca-file", default=None, type=click.Path(dir_okay=False, exists=True),
              help="Trust this CA (or self-signed) certificate for an https:// join link.")
@click.option("--relay-only", is_flag=True, help="Send and receive media through the TURN server only.")
@_ice_options
def venue(join_url, synthetic, camera, microphone, log_path, loss, ca_file, relay_only, ice_addresses) -> None:
    """Join a session as a venue (room PC or simulated venue).

    It stays joined, and rejoins with backoff when the server or the media goes away
    (saying why when the media cannot connect), until it is stopped (SIGINT, SIGTERM).
    A link to this machine (127.0.0.1, localhost) also offers media on loopback.

    \b
    Exit status:
      0  stopped
      2  bad options
      3  the link was refused (expired, revoked, not issued by this server)
      4  the venue was opened elsewhere (another agent or the venue page on the same
         link took it over): this agent stops rather than take it back
    """
    import asyncio
    import signal
    import ssl

    import aioice

    from venues.agent import VenueAgent, device_media, local_server_address, open_log, synthetic_media

    from .logs import configure
    from .media import restrict_host_addresses

    if (camera or microphone) if synthetic else not (camera and microphone):
        raise click.UsageError("use --synthetic, or both --camera and --microphone")
    configure(background=True)  # as the server: a stalled log reader must not stall the media
    restrict_host_addresses(list(ice_addresses) or None)
    loopback = local_server_address(join_url)
    if not ice_addresses and loopback:
        # aioice never gathers on loopback, and a server on this machine may offer only that
        # (`serve --simulate`, `--ice-address 127.0.0.1`): offer it beside every interface
        restrict_host_addresses([*aioice.ice.get_host_addresses(True, True), loopback])
    factory = synthetic_media if synthetic else (lambda index: device_media(camera, microphone))
    try:
        trust = ssl.create_default_context(cafile=ca_file) if ca_file else None
        agent = VenueAgent(join_url, factory, open_log(log_path), loss_pct=loss, ssl=trust, relay_only=relay_only)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop)
        return await agent.run()

    sys.exit(asyncio.run(run()))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--speed", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="How much faster than planned: at 60 a 5-minute segment takes 5 s.")
@click.option("--report", "report_dir", default="./rehearsal-report", show_default=True, type=click.Path(file_okay=False),
              help="Folder for report.json, report.html, the venues' logs and the server's log.")
@click.option("--absent", multiple=True, metavar="VENUE", help="Drill: the venue never joins (repeatable).")
@click.option("--no-answer", "no_answer", multiple=True, metavar="VENUE",
              help="Drill: the venue joins but never answers the roll call (repeatable).")
@click.option("--drop", multiple=True, metavar="VENUE@SEGMENT[:SECONDS]",
              help="Drill: the venue loses its connection during SEGMENT and comes back SECONDS later (default 3).")
@click.option("--loss", multiple=True, metavar="VENUE:PERCENT", help="Drill: lose PERCENT of the venue's uplink packets.")
@click.option("--threshold", default=1.0, show_default=True, type=click.FloatRange(min=0.1, max=10),
              help="Seconds within which every venue must show a take.")
@click.option("--media", type=click.Choice(["embedded", "janus"]), default="embedded", show_default=True,
              help="embedded: the SFU in the rehearsal's server. janus: Janus nodes move the media: --janus-nodes "
                   "of its own (as root), or the nodes given with --janus.")
@JANUS_NODES_OPTION
@janus_options("With --media janus: use this Janus node's WebSocket API instead of starting nodes (repeatable). "
               "Needs --ice-address.")
@click.option("--ice-address", "ice_address", default=None, metavar="ADDR",
              help="With --janus: the address of this machine the simulated venues offer their media on (not "
                   "loopback: Janus never gathers ICE candidates there).")
@LANG_OPTION
def rehearse(config, speed, report_dir, absent, no_answer, drop, loss, threshold, media, janus_nodes, janus_urls,
             janus_secret_file, janus_admin_urls, janus_admin_secret_file, ice_address, lang) -> None:
    """Rehearse the agenda with one simulated venue per venue, over real WebRTC on this machine.

    With --media janus and no --janus, run as root: the rehearsal then makes a network
    namespace of its own (Janus never gathers ICE candidates on loopback; a veth pair with
    192.0.2.101/24 and .102 stands in for a network), starts --janus-nodes Janus nodes in it
    (each on its own ports), runs the server and the simulated venues inside, and stops the
    nodes and deletes the namespace afterwards, also when interrupted. report.json then shows
    which node carried each venue.

    Exit status 0 when every check passed, 1 when there were findings, 2 for a bad
    conference file or bad options.
    """
    import asyncio
    import contextlib
    import logging

    from rich.console import Console

    from .logs import configure
    from .rehearsal import DrillError, RehearsalOptions, parse_drills
    from .rehearsal import rehearse as run_rehearsal
    from .rehearsal.progress import progress_for

    conf = _load_or_exit(config, status=2, lang=lang)
    try:
        drills = parse_drills(conf, absent, drop, loss, no_answer)
    except DrillError as exc:
        raise click.UsageError(str(exc)) from None
    janus = _rehearsal_janus(media, janus_nodes, janus_urls, janus_secret_file, janus_admin_urls,
                             janus_admin_secret_file, ice_address)
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "rehearsal.log", "w", encoding="utf-8") as server_log, contextlib.ExitStack() as stack:
        configure(json=True, file=server_log)  # the terminal is for the progress view
        logging.basicConfig(stream=server_log, level=logging.WARNING, force=True)
        try:
            if media == "janus" and janus is None:
                try:
                    janus = _own_rehearsal_nodes(stack, janus_nodes, folder)
                except RuntimeError as exc:  # a namespace or a node that could not be made
                    _fail(str(exc))
            options = RehearsalOptions(speed=speed, threshold_s=threshold, drills=drills, report_dir=folder,
                                       config_path=config, language=lang, janus=janus)
            report = asyncio.run(run_rehearsal(conf, options, progress_for(Console())))
        except KeyboardInterrupt:
            click.echo("orchestrator rehearse: interrupted; no report written", err=True)
            sys.exit(130)
    click.echo(_rehearsal_summary(report, folder, lang))
    sys.exit(report.exit_code)


def _rehearsal_janus(media, janus_nodes, janus_urls, janus_secret_file, janus_admin_urls, janus_admin_secret_file,
                     ice_address):
    """The Janus nodes given to `rehearse` (None: the embedded SFU, or nodes of its own: then checks it can)."""
    import ipaddress

    from .rehearsal.server import JanusMedia

    given = janus_urls or janus_secret_file or janus_admin_urls or janus_admin_secret_file or ice_address
    if media != "janus":
        if given or janus_nodes != 1:
            raise click.UsageError("Janus nodes are only used with --media janus")
        return None
    if not janus_urls:
        if given:
            raise click.UsageError("--janus-secret-file, --janus-admin and --ice-address go with --janus URL")
        _check_own_janus(None, "--media janus needs Janus nodes: --janus URL (with --ice-address ADDR), or root to "
                               "start --janus-nodes of its own in a network namespace")
        return None
    if janus_nodes != 1:
        raise click.UsageError("--janus-nodes starts nodes of the rehearsal's own: not with --janus (give one --janus "
                               "per node)")
    try:
        loopback = ice_address is None or ipaddress.ip_address(ice_address).is_loopback
    except ValueError:
        raise click.BadParameter(f"not an IP address: {ice_address!r}", param_hint="'--ice-address'") from None
    if loopback:
        raise click.BadParameter("with --janus, give an address of this machine that is not loopback (Janus never "
                                 "gathers ICE candidates there): the simulated venues offer their media on it",
                                 param_hint="'--ice-address'")
    settings = _settings(media="janus", janus_urls=list(janus_urls), janus_secret_file=janus_secret_file,
                         janus_admin_urls=list(janus_admin_urls), janus_admin_secret_file=janus_admin_secret_file)
    return JanusMedia(settings.janus_urls, settings.janus_api_secret, ice_address, settings.janus_admin_urls,
                      settings.janus_admin_api_secret)


def _own_rehearsal_nodes(stack, count: int, folder: Path):
    """`count` Janus nodes of the rehearsal's own, in a network namespace the calling thread enters
    (undone when `stack` closes); their logs are copied into `folder` at the end."""
    import shutil

    from .janus_node import own_nodes
    from .rehearsal.server import JanusMedia

    configs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearsal-janus-")))  # they hold the secrets
    stack.callback(lambda: [shutil.copyfile(log, folder / f"janus-{log.parent.name}.log")
                            for log in sorted(configs.glob("node-*/janus.log"))])
    nodes = stack.enter_context(own_nodes(count, configs, None))
    return JanusMedia(nodes.urls, nodes.secret, nodes.venue_address, nodes.admin_urls, nodes.admin_secret)


def _rehearsal_summary(report, folder: Path, lang: Language | None = None) -> str:
    """What `rehearse` says at the end, in `lang` (default: the conference's language)."""
    from .rehearsal.report import ReportText

    s, text = report.summary, ReportText(report, lang)
    _ = text._
    lines = [
        _(N_("Rehearsal of {id}, {when}: {segments} in {seconds} s (speed {speed}x; {total} s in all)."),
          id=report.conference["id"], when=text.when(), segments=text.n("{n} segment", "{n} segments", s.segments),
          seconds=f"{report.session_s:.1f}", speed=f"{report.speed:g}", total=f"{report.duration_s:.1f}"),
        _(N_("  program   {said}"), said=text.switches()),
        *([_(N_("  roll call {said}"), said=text.calls())] if s.roll_call_calls else []),
        *([_(N_("  return    {said}"), said=text.returns())] if s.return_switches or s.wall_tiles else []),
        _(N_("  captions  {said}"), said=text.captions()),
        _(N_("  awards    {said}"), said=text.awards()),
        _(N_("  pictures  {said}"), said=text.pictures()),
    ]
    if report.media_nodes:
        lines.append(_(N_("  media     {nodes}"), nodes=_(N_("; ")).join(
            _(N_("node {node} ({host}): {venues}"), node=n["id"], host=n["host"],
              venues=_(N_(", ")).join(n["venues"]) or _(N_("none"))) for n in report.media_nodes)))
    for drill in report.drill_outcomes:
        lines.append(_(N_("  drill {spec}: {said}"), spec=drill.spec,
                       said=_(N_("; ")).join(text.said(o) for o in drill.outcomes) or _(N_("no outcome"))))
    if report.findings:
        lines.append(_(N_("{findings}:"), findings=text.n("{n} finding", "{n} findings", len(report.findings))))
        lines += [_(N_("  {at} {kind} [segment {segment}] [venue {venue}] {message}"), at=text.at(f.at_s), kind=f.kind,
                    segment=f.segment or "-", venue=f.venue or "-", message=text.said(f))
                  for f in report.findings]
    else:
        lines.append(_(N_("No findings: every check passed.")))
    lines.append(_(N_("Report: {html} and {json}"), html=folder / "report.html", json=folder / "report.json"))
    return "\n".join(lines)


def _resolution(value: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not WIDTHxHEIGHT (e.g. 640x360)") from None
    if not (16 <= width <= 1920 and 16 <= height <= 1080) or width % 2 or height % 2:
        raise click.BadParameter(f"'{value}': use even sizes from 16x16 to 1920x1080")
    return width, height


def _bitrate(value: str) -> int:
    text = value.lower().strip()
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        bits = int(float(text.rstrip("km")) * scale)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a bitrate (e.g. 500k)") from None
    if not 50_000 <= bits <= 8_000_000:
        raise click.BadParameter(f"'{value}': use 50k to 8m")
    return bits


@main.command()
@click.option("--venues", default=10, show_default=True, type=click.IntRange(2, 200), help="Venues, the main one included.")
@click.option("--duration", default=20.0, show_default=True, type=click.FloatRange(3, 3600), help="Seconds of steady state.")
@click.option("--switches", default=10, show_default=True, type=click.IntRange(0, 1000), help="Takes, one venue after another.")
@click.option("--resolution", default="640x360", show_default=True, help="Video of every venue, WIDTHxHEIGHT.")
@click.option("--bitrate", default="500k", show_default=True, help="Video bitrate of every venue.")
@click.option("--fps", default=30, show_default=True, type=click.IntRange(5, 60))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32), help="Processes for the simulated venues.")
@click.option("--media", "medias", default="embedded", show_default=True, callback=lambda ctx, param, value: _medias(value),
              help="The media planes to measure side by side, comma-separated: embedded, janus (Janus nodes the "
                   "run starts: see --janus-nodes).")
@JANUS_NODES_OPTION
@click.option("--janus-address", default=None, metavar="ADDRESS",
              help="For the janus run: start the Janus nodes on this address of this machine (not loopback: Janus "
                   "never gathers ICE candidates there); the simulated venues use it too. Without it, run as root: "
                   "the janus run then makes a network namespace of its own (192.0.2.101/24 and .102 on a veth "
                   "pair), runs the nodes, the server and the simulated venues inside, and deletes it afterwards.")
@click.option("--baseline", type=click.Choice(["transcode"]), default=None,
              help="Also run aiortc's decode-once-encode-per-receiver relay, and compare.")
@click.option("--soak", "soak_minutes", default=0.0, type=click.FloatRange(0, 24 * 60),
              help="Instead of the steady state: run this many minutes with a take every 10 s, "
                   "sampling the server's memory and open files (they should stay flat).")
@click.option("--main-wall", "main_wall", default=0, type=click.Choice(["0", "4", "9", "16"]),
              callback=lambda ctx, param, value: int(value),
              help="Also hold the steady state with a wall of this many branch venues at the main venue "
                   "(9: 3x3), and report the wall's server CPU against the same run without it.")
@click.option("--loop", "event_loop", type=click.Choice(["uvloop", "asyncio"]), default="uvloop", show_default=True,
              help="The server's event loop (serve --loop).")
@click.option("--full-venues", "full_venues", default=None, type=click.IntRange(0, 200), metavar="K",
              help="Run only K venues (the main venue and the last K-1 branch venues) as full venue agents, which "
                   "decode the venue on air and measure switch latency; the others run as light venues (pre-packetized media, the "
                   "program counted from its packets), so that the simulated venues do not limit a capacity run. "
                   "Default: every venue full.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Write the figures here.")
def bench(venues, duration, switches, resolution, bitrate, fps, workers, medias, janus_nodes, janus_address, baseline,
          soak_minutes, main_wall, event_loop, full_venues, json_path) -> None:
    """Measure capacity and switching: server CPU and memory, program frame rate, switch latency, join time."""
    import json

    from .bench.runner import BenchOptions, run_once
    from .logs import configure

    configure(level="warning")
    # stopped with SIGTERM: unwind, so the server and the venue processes are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    width, height = _resolution(resolution)
    if main_wall >= venues:
        raise click.BadParameter(f"a wall of {main_wall} needs at least {main_wall} branch venues "
                                 f"(--venues {main_wall + 1} or more)", param_hint="'--main-wall'")
    if full_venues is not None and full_venues > venues:
        raise click.BadParameter(f"{full_venues} full venues is more than the {venues} venues of the run",
                                 param_hint="'--full-venues'")
    if main_wall and full_venues == 0:
        raise click.BadParameter("a wall needs the main venue to be a full venue, which reads the tiles "
                                 "(--full-venues 1 or more)", param_hint="'--full-venues'")
    if "janus" in medias:
        _check_own_janus(janus_address, "the janus run needs --janus-address ADDRESS (an address of this machine that "
                                        "is not loopback), or root to run its Janus nodes in a network namespace")
    options = BenchOptions(venues, duration, switches, width, height, _bitrate(bitrate), fps, workers, soak_minutes,
                           main_wall, event_loop, full_venues)
    progress = lambda line: click.echo(line, err=True)  # noqa: E731
    runs = [run_once(options, media, progress=progress, janus_address=janus_address, janus_nodes=janus_nodes)
            for media in medias]
    result: dict = {"runs": runs}
    by_media = {r["media"]: r for r in runs}
    if "embedded" in by_media and "janus" in by_media:
        ours, janus = (by_media[m]["server_cpu_millicores_per_venue"] for m in ("embedded", "janus"))
        result["ratio_per_venue"] = round(ours / janus, 2) if janus else None
    if baseline:
        runs.append(run_once(options, "transcode", progress=progress))
        ours, theirs = runs[0]["server_cpu_cores"], runs[-1]["server_cpu_cores"]
        result["baseline_cpu_ratio"] = round(theirs / ours, 1) if ours else None
    click.echo(bench_table(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"Figures written to {json_path}")


def _medias(value: str) -> list[str]:
    """'embedded,janus' -> ['embedded', 'janus'] (each once, in order)."""
    medias = [m for m in dict.fromkeys(w.strip() for w in value.split(",")) if m]
    unknown = [m for m in medias if m not in BENCH_MEDIA]
    if not medias or unknown:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'}: the media planes are {', '.join(BENCH_MEDIA)}")
    return medias


def _check_own_janus(address: str | None, needs: str) -> None:
    """Usage errors for Janus nodes this command would start itself: on `address` (not loopback), or,
    without one, in a network namespace of its own (root only; else `needs` says what to give)."""
    from . import netns
    from .janus_node import own_nodes_unavailable, unavailable

    reason = unavailable()
    if reason is not None:
        raise click.UsageError(f"cannot start Janus nodes here: {reason}")
    if address is None and netns.unavailable() is not None:
        raise click.UsageError(f"{needs} (here: {netns.unavailable()})")
    reason = own_nodes_unavailable(address)
    if reason is not None:
        raise click.BadParameter(reason, param_hint="'--janus-address'")


BENCH_MEDIA = ("embedded", "janus")  # --media; the baseline is --baseline
OTHERS_NOTE_CORES = 0.2  # other processes using more than this during a run get a note


def _bench_name(run: dict) -> str:
    if run["media"] == "janus":
        return f"janus ({count(run['janus_nodes'], 'node')})"
    return {"embedded": "embedded (this server)", "transcode": "transcode (baseline)"}[run["media"]]


def bench_table(result: dict) -> str:
    runs = [(_bench_name(r), r) for r in result["runs"]]
    rows = [
        ("venues (full / light)", lambda r: f"{r['venues']} ({r['full_venues']} / {r['light_venues']})"),
        ("server CPU, cores", lambda r: r["server_cpu_cores"]),
        ("server CPU per venue, millicores", lambda r: r["server_cpu_millicores_per_venue"]),
        ("server peak RSS, MB", lambda r: r["server_peak_rss_mb"]),
        ("program fps, min / median", lambda r: f"{r['program_fps_min']} / {r['program_fps_median']}"),
        ("packet loss, %", lambda r: r["packet_loss_pct"]),
        ("switch latency p50 / p95 / max, ms", lambda r: "{p50} / {p95} / {max} ({missing} missing)".format(**r["switch_latency_ms"])),
        ("all venues joined in, s", lambda r: r["join_all_s"]),
        ("simulated venues' CPU, cores", lambda r: r["agents_cpu_cores"]),
        ("simulated venues' CPU per venue, millicores", lambda r: r["agents_cpu_millicores_per_venue"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'':{width}}  " + "  ".join(f"{name:>24}" for name, _ in runs)]
    for name, value in rows:
        lines.append(f"{name:{width}}  " + "  ".join(f"{value(r)!s:>24}" for _, r in runs))
    for name, r in runs:
        if r.get("others_cpu_cores", 0) > OTHERS_NOTE_CORES:
            lines.append(f"note: in the {name} run other processes on this machine used {r['others_cpu_cores']} cores "
                         f"of its {r['machine_cores']}: not a clean measurement")
        if r["agents_limited"]:
            lagging = f" (venues sending late: {', '.join(r['agents_lagging'])})" if r["agents_lagging"] else ""
            lines.append(f"note: in the {name} run the simulated venues, not the server, limited the run{lagging}")
    result = {**result["runs"][0], **result}  # the first run's soak and wall, the comparisons
    if "soak" in result:
        soak = result["soak"]
        lines.append(f"soak {soak['minutes']} min, {soak['takes']} takes: server memory {soak['rss_growth_pct']:+.1f} %, "
                     f"open files {soak['open_fds_growth_pct']:+.1f} % from the end of the warm-up to the end")
    if "main_wall" in result:
        wall = result["main_wall"]
        verdict = "within" if wall["within_budget"] else "OVER"
        lines.append(f"a {wall['layout']} wall at the main venue: server CPU {wall['server_cpu_cores_without']} -> "
                     f"{wall['server_cpu_cores_with']} cores, {wall['added_cores']:+} ({verdict} the "
                     f"{wall['budget_cores']} cores of {wall['tiles']} more venues receiving the program); "
                     f"{wall['tiles_shown']} of {wall['tiles']} tiles shown, {wall['tile_fps']} frames per second each")
    if result.get("ratio_per_venue"):
        lines.append(f"server CPU per venue, embedded / janus: {result['ratio_per_venue']}")
    if result.get("baseline_cpu_ratio"):
        lines.append(f"the baseline used {result['baseline_cpu_ratio']}x the server CPU of this server")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    main()
