"""Scheduled supplier feed pulls on the real database, against a feed server on 127.0.0.1: a pull makes a normal
import job; a pull of an unchanged feed (304 to its ETag, or the same SHA-256) is skipped and makes none."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.imports import FeedFormat
from catalog_core.service_layer.scheduler import Outcome, RunResult
from catalog_importer.adapters.feed_fetch import FeedFetcher
from catalog_importer.adapters.feed_sources import FeedSources
from catalog_importer.service_layer.feed_pulls import FeedJobs, FeedPulls
from catalog_kit.object_store.local import LocalDirectoryStore
from catalog_kit.outbound import OutboundClient
from catalog_kit.outbound_policy import OutboundPolicy
from catalog_kit.outbox import OutboxWriter
from tests.loopback import LoopbackServer, QuietHandler

FEED = b"sku,name,price,currency,stock\nINV-1,Linen tee,19.90,EUR,7\n"


class FeedServer(LoopbackServer):
    """GET /feed.csv: `body`, with `etag` when set (and 304 to a matching If-None-Match)."""

    def __init__(self) -> None:
        self.body = FEED
        self.etag: str | None = '"v1"'
        self.gets = 0
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                server.gets += 1
                if server.etag and self.headers.get("If-None-Match") == server.etag:
                    self.answer(304)
                else:
                    self.answer(200, server.body, {"ETag": server.etag} if server.etag else {})

        super().__init__(Handler)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def db(fresh_database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(fresh_database)
    yield sessionmaker(engine)
    engine.dispose()


def jobs(db: sessionmaker[Session]) -> list[tuple[str, str, int]]:
    with db() as session:
        rows = session.execute(text("SELECT state, file_sha256, file_bytes FROM import_jobs ORDER BY created_at")).all()
        requested = session.execute(
            text("SELECT count(*) FROM outbox WHERE event_type = 'import.requested'")
        ).scalar_one()
    assert requested == len(rows)
    return [(row.state, row.file_sha256, row.file_bytes) for row in rows]


def test_a_scheduled_pull_imports_the_feed_and_skips_it_while_unchanged(
    db: sessionmaker[Session], feed_server: FeedServer, tmp_path: Path
) -> None:
    objects = LocalDirectoryStore(tmp_path)
    client = OutboundClient(OutboundPolicy.parse(feed_server.address), timeout_s=5)
    sources = FeedSources(db, OutboxWriter("/catalog/importer"))
    pulls = FeedJobs(FeedPulls(sources, FeedFetcher(client, objects, 10_000, 10.0), objects))
    sources.add("inventory", f"http://{feed_server.address}/feed.csv", FeedFormat.CSV, "0 3 * * *", "supplier-a")

    async def run() -> Outcome:
        return await pulls["feed:inventory"]()

    def pull() -> tuple[RunResult, str]:
        outcome = asyncio.run(run())
        return outcome.result, outcome.detail

    assert pull()[0] is RunResult.OK
    (first,) = jobs(db)
    assert first[0] == "PENDING"
    assert first[2] == len(FEED)

    assert pull() == (RunResult.SKIPPED, "not modified (ETag)")
    feed_server.etag = None  # a server without ETags: the content decides
    assert pull() == (RunResult.SKIPPED, "unchanged (same SHA-256)")
    assert len(jobs(db)) == 1
    assert len(list(tmp_path.rglob("feed"))) == 1  # the unchanged copy was not kept

    feed_server.body = FEED + b"INV-2,Wool jumper,59.00,EUR,3\n"
    assert pull()[0] is RunResult.OK
    assert [j[2] for j in jobs(db)] == [len(FEED), len(feed_server.body)]
    assert feed_server.gets == 4
