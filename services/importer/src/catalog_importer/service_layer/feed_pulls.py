"""Scheduled supplier feed pulls: fetch the feed, skip it when it did not change (ETag, then SHA-256), otherwise
import it as a normal import job."""

import asyncio
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from catalog_core.domain.imports import ImportJob
from catalog_core.service_layer.imports import feed_key
from catalog_core.service_layer.scheduler import Outcome, RunResult, ScheduledJob
from catalog_importer.adapters.feed_fetch import Fetched
from catalog_importer.adapters.feed_sources import PREFIX, FeedSource
from catalog_kit.object_store import StoredObject

log = logging.getLogger("catalog_importer")


class Sources(Protocol):
    def get(self, schedule: str) -> FeedSource | None: ...

    def unchanged(self, schedule: str, etag: str | None) -> None: ...

    def submit(self, feed: FeedSource, job_id: uuid.UUID, stored: StoredObject, etag: str | None) -> ImportJob: ...


class Fetcher(Protocol):
    def fetch(self, source: str, etag: str | None, key: str, is_url: bool) -> Fetched: ...


class Discard(Protocol):
    def delete(self, key: str) -> None: ...


@dataclass
class FeedPulls:
    sources: Sources
    fetcher: Fetcher
    objects: Discard

    async def pull(self, schedule: str) -> Outcome:
        """One pull of the feed a schedule names."""
        feed = await asyncio.to_thread(self.sources.get, schedule)
        if feed is None:
            return Outcome(RunResult.SKIPPED, "no such feed")
        job_id = uuid.uuid4()
        key = feed_key(job_id)
        fetched = await asyncio.to_thread(self.fetcher.fetch, feed.source, feed.last_etag, key, feed.is_url)
        if fetched.stored is None:
            await asyncio.to_thread(self.sources.unchanged, schedule, fetched.etag)
            return Outcome(RunResult.SKIPPED, "not modified (ETag)")
        if fetched.stored.sha256 == feed.last_sha256:
            await asyncio.to_thread(self.objects.delete, fetched.stored.key)
            await asyncio.to_thread(self.sources.unchanged, schedule, fetched.etag)
            return Outcome(RunResult.SKIPPED, "unchanged (same SHA-256)")
        job = await asyncio.to_thread(self.sources.submit, feed, job_id, fetched.stored, fetched.etag)
        log.info("feed pulled", extra={"schedule": schedule, "job_id": str(job.id), "bytes": fetched.stored.size})
        return Outcome(RunResult.OK, f"import job {job.id} ({fetched.stored.size} bytes)")


class FeedJobs(Mapping[str, ScheduledJob]):
    """Every `feed:<name>` schedule is a pull of that feed (feeds are added while the importer runs)."""

    def __init__(self, pulls: FeedPulls) -> None:
        self.pulls = pulls

    def __getitem__(self, name: str) -> ScheduledJob:
        if not name.startswith(PREFIX):
            raise KeyError(name)

        async def pull() -> Outcome:
            return await self.pulls.pull(name)

        return pull

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
