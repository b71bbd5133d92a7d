"""Scheduled feed pulls over in-memory sources and a scripted fetcher: what makes a job and what is skipped (the
real fetch, store and job are tested in tests/integration/test_feed_pulls.py)."""

import asyncio
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

from catalog_core.domain.imports import FeedFormat, ImportJob
from catalog_core.service_layer.scheduler import Outcome, RunResult
from catalog_importer.adapters.feed_fetch import Fetched
from catalog_importer.adapters.feed_sources import FeedSource
from catalog_importer.service_layer.feed_pulls import FeedJobs, FeedPulls
from catalog_kit.object_store import StoredObject


@dataclass
class Sources:
    feed: FeedSource | None
    submitted: list[str] = field(default_factory=list)
    unchanged_calls: int = 0

    def get(self, schedule: str) -> FeedSource | None:
        return self.feed

    def unchanged(self, schedule: str, etag: str | None) -> None:
        self.unchanged_calls += 1

    def submit(self, feed: FeedSource, job_id: uuid.UUID, stored: StoredObject, etag: str | None) -> ImportJob:
        self.submitted.append(stored.sha256)
        return cast(ImportJob, SimpleNamespace(id=job_id))  # the pull reads only the id


@dataclass
class Fetcher:
    answer: Fetched

    def fetch(self, source: str, etag: str | None, key: str, is_url: bool) -> Fetched:
        return self.answer


@dataclass
class Objects:
    deleted: list[str] = field(default_factory=list)

    def delete(self, key: str) -> None:
        self.deleted.append(key)


def feed(last_sha256: str | None) -> FeedSource:
    return FeedSource("feed:stock", "https://s.example/f.csv", FeedFormat.CSV, "ops", '"e1"', last_sha256)


def run(sources: Sources, fetched: Fetched, objects: Objects) -> tuple[RunResult, str]:
    async def pull() -> Outcome:
        return await FeedJobs(FeedPulls(sources, Fetcher(fetched), objects))["feed:stock"]()

    outcome = asyncio.run(pull())
    return outcome.result, outcome.detail


def test_not_modified_and_same_content_are_skipped_without_a_job() -> None:
    stored = StoredObject("imports/x/feed", 10, "abc")
    sources, objects = Sources(feed("abc")), Objects()
    assert run(sources, Fetched(None, '"e1"'), objects) == (RunResult.SKIPPED, "not modified (ETag)")
    assert run(sources, Fetched(stored, None), objects) == (RunResult.SKIPPED, "unchanged (same SHA-256)")
    assert sources.submitted == []
    assert sources.unchanged_calls == 2
    assert objects.deleted == ["imports/x/feed"]


def test_new_content_becomes_an_import_job() -> None:
    sources, objects = Sources(feed("abc")), Objects()
    result, detail = run(sources, Fetched(StoredObject("imports/y/feed", 12, "def"), '"e2"'), objects)
    assert result is RunResult.OK
    assert "import job" in detail
    assert sources.submitted == ["def"]
    assert objects.deleted == []


def test_a_schedule_without_its_feed_is_skipped_and_other_names_are_not_feeds() -> None:
    assert run(Sources(None), Fetched(None, None), Objects()) == (RunResult.SKIPPED, "no such feed")
    jobs = FeedJobs(FeedPulls(Sources(None), Fetcher(Fetched(None, None)), Objects()))
    assert jobs.get("enrichment.reconcile") is None
