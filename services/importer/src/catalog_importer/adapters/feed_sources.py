"""Supplier feeds pulled on a schedule (`feed_sources` with their `schedules` row, both core tables written here by
the importer): where each feed comes from, and what its last pull saw (ETag, SHA-256, the job it made)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.domain.imports import FeedFormat, ImportJob
from catalog_core.domain.schedules import next_run
from catalog_core.service_layer.imports import submit_import
from catalog_kit.object_store import StoredObject
from catalog_kit.outbox import OutboxWriter

OWNER = "importer"
PREFIX = "feed:"  # the schedule of feed `x` is named `feed:x`


@dataclass(frozen=True)
class FeedSource:
    name: str
    source: str  # an http(s) URL (fetched under the outbound policy) or an object-store key
    format: FeedFormat
    submitted_by: str
    last_etag: str | None
    last_sha256: str | None

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


class FeedSources:
    def __init__(self, sessions: sessionmaker[Session], outbox: OutboxWriter) -> None:
        self.sessions = sessions
        self.outbox = outbox

    def add(self, name: str, source: str, format: FeedFormat, cron: str, submitted_by: str) -> None:
        """A feed and its schedule (InvalidSchedule for a cron that cannot be read); replaces one of the same name."""
        first = next_run(cron, datetime.now(UTC))
        with self.sessions() as session, session.begin():
            session.execute(
                text("""
                INSERT INTO schedules (name, owner, cron, next_run_at) VALUES (:name, :owner, :cron, :next)
                ON CONFLICT (name) DO UPDATE SET cron = EXCLUDED.cron, next_run_at = EXCLUDED.next_run_at,
                                                 enabled = true
                """),
                {"name": PREFIX + name, "owner": OWNER, "cron": cron, "next": first},
            )
            session.execute(
                text("""
                INSERT INTO feed_sources (schedule_name, source, format, submitted_by)
                VALUES (:name, :source, :format, :submitted_by)
                ON CONFLICT (schedule_name) DO UPDATE SET source = EXCLUDED.source, format = EXCLUDED.format,
                    submitted_by = EXCLUDED.submitted_by, last_etag = NULL, last_sha256 = NULL
                """),
                {"name": PREFIX + name, "source": source, "format": str(format), "submitted_by": submitted_by},
            )

    def get(self, schedule: str) -> FeedSource | None:
        with self.sessions() as session:
            row = session.execute(
                text("""
                SELECT schedule_name, source, format, submitted_by, last_etag, last_sha256
                FROM feed_sources WHERE schedule_name = :name
                """),
                {"name": schedule},
            ).one_or_none()
        if row is None:
            return None
        return FeedSource(
            row.schedule_name, row.source, FeedFormat(row.format), row.submitted_by, row.last_etag, row.last_sha256
        )

    def unchanged(self, schedule: str, etag: str | None) -> None:
        """A pull that found the feed as it was: only when it was looked at."""
        with self.sessions() as session, session.begin():
            session.execute(
                text("""
                UPDATE feed_sources SET last_pulled_at = now(), last_etag = coalesce(:etag, last_etag)
                WHERE schedule_name = :name
                """),
                {"name": schedule, "etag": etag},
            )

    def submit(self, feed: FeedSource, job_id: uuid.UUID, stored: StoredObject, etag: str | None) -> ImportJob:
        """A normal import job for the pulled file, and what the pull saw, in one transaction."""
        with self.sessions() as session, session.begin():
            job = submit_import(
                session, self.outbox, job_id, stored, feed.format, feed.name.removeprefix(PREFIX), feed.submitted_by
            )
            session.execute(
                text("""
                UPDATE feed_sources SET last_etag = :etag, last_sha256 = :sha256, last_job_id = :job_id,
                                        last_pulled_at = now()
                WHERE schedule_name = :name
                """),
                {"name": feed.name, "etag": etag, "sha256": stored.sha256, "job_id": job_id},
            )
        return job
