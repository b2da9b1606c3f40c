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


def _not_yet(name: str):
    @main.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def stub() -> None:
        click.echo(f"orchestrator {name}: not yet available", err=True)
        sys.exit(2)

    stub.__doc__ = f"(not yet available) {name}"
    return stub


for _name in ("serve", "links", "rehearse", "venue", "bench"):
    _not_yet(_name)


if __name__ == "__main__":  # pragma: no cover
    main()
