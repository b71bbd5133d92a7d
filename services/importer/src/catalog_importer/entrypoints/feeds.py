"""`catalog-feeds`: add a supplier feed pulled on a schedule, or list the feeds and their schedules."""

import argparse
import sys

from catalog_core.adapters.schedules import all_schedules
from catalog_core.domain.imports import FeedFormat
from catalog_core.domain.schedules import InvalidSchedule
from catalog_importer.adapters.feed_sources import PREFIX, FeedSources
from catalog_importer.entrypoints.bootstrap import SOURCE
from catalog_importer.settings import ImporterSettings
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outbox import OutboxWriter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catalog-feeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add or replace a feed")
    add.add_argument("name")
    add.add_argument("source", help="an http(s) URL (under OUTBOUND_ALLOW's policy) or an object-store key")
    add.add_argument("--schedule", required=True, help="cron, UTC, e.g. '0 3 * * *' for 03:00 every day")
    add.add_argument("--format", choices=[f.value for f in FeedFormat], default=FeedFormat.CSV.value)
    add.add_argument("--submitted-by", default="feeds", help="the owner its import jobs are recorded under")
    commands.add_parser("list", help="every schedule, with its next run and last result")
    args = parser.parse_args(argv)
    settings = ImporterSettings()
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=1))
    if args.command == "add":
        try:
            FeedSources(sessions, OutboxWriter(SOURCE, settings.public_base_url)).add(
                args.name, args.source, FeedFormat(args.format), args.schedule, args.submitted_by
            )
        except InvalidSchedule as exc:
            print(f"--schedule: {exc}", file=sys.stderr)
            return 2
        print(f"{PREFIX}{args.name}")
        return 0
    with sessions() as session:
        for view in all_schedules(session):
            print(f"{view.name}\t{view.owner}\t{view.cron}\tnext {view.next_run_at:%Y-%m-%d %H:%M:%S}Z\t"
                  f"last {view.last_result or '-'} {view.last_detail or ''}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
