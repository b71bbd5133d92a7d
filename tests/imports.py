"""An import setup for tests over a database of their own: the API in-process, and the importer's runner called
directly (no broker), so a test decides when a job runs and what happens around it."""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_importer.adapters.jobs import Claim, ClaimRules, JobClaims
from catalog_importer.adapters.ledger import Ledger
from catalog_importer.service_layer.runner import JobRunner
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.object_store import LocalDirectoryStore
from catalog_kit.outbox import OutboxWriter
from tests.conftest import ADMIN_KEY, API_KEYS, WRITE_KEY

AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@dataclass
class ImportSetup:
    api: TestClient
    sessions: sessionmaker[Session]
    store: LocalDirectoryStore
    chunk_rows: int = 50

    def upload(self, content: bytes, fmt: str = "csv", name: str = "feed", **form: str) -> dict[str, Any]:
        response = self.api.post(
            "/imports",
            files={"file": (f"{name}.{fmt}", content, MEDIA_TYPES[fmt])},
            data={"format": fmt, **form},
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def claims(self, worker: str = "test-worker", stale_after_s: float = 30, max_attempts: int = 3) -> JobClaims:
        return JobClaims(self.sessions, ClaimRules(worker, timedelta(seconds=stale_after_s), max_attempts))

    def runner(self, claims: JobClaims, max_row_attempts: int = 3, chunk_slots: int = 2) -> JobRunner:
        return JobRunner(
            self.sessions,
            self.store,
            OutboxWriter("/test/importer"),
            claims,
            ledger=Ledger,
            chunk_rows=self.chunk_rows,
            max_row_attempts=max_row_attempts,
            retry_backoff=timedelta(0),
            chunk_slots=chunk_slots,
        )

    def run(self, job_id: str, stop: threading.Event | None = None, max_row_attempts: int = 3) -> dict[str, Any]:
        """Claim the job and run it here, to its end (or until `stop`); returns the job as the API shows it."""
        claims = self.claims()
        claim = claims.claim(uuid.UUID(job_id))
        assert claim is not None, "the job is not claimable"
        self.runner(claims, max_row_attempts).run(claim, stop or threading.Event())
        return self.job(job_id)

    def run_claimed(self, claims: JobClaims, claim: Claim, stop: threading.Event | None = None) -> dict[str, Any]:
        self.runner(claims).run(claim, stop or threading.Event())
        return self.job(str(claim.job.id))

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.api.get(f"/imports/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def rows(self, job_id: str, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Every ledger entry (following the cursor), optionally of one status."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
            if cursor:
                params["cursor"] = cursor
            page = self.api.get(f"/imports/{job_id}/rows", params=params).json()
            found += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    def products(self, brand: str) -> dict[str, dict[str, Any]]:
        """Every product of a brand, by SKU."""
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"brand": brand, "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self.api.get("/products", params=params).json()
            found |= {p["sku"]: p for p in page["items"]}
            cursor = page["next_cursor"]
            if cursor is None:
                return found


@contextmanager
def import_setup(database_url: str, store_dir: Path, **settings: Any) -> Iterator[ImportSetup]:
    engine = make_engine(database_url, pool_size=5)
    sessions = make_session_factory(engine)
    api_settings = ApiSettings(database_url=database_url, api_keys=API_KEYS, object_store_dir=store_dir, **settings)
    try:
        with TestClient(create_app(api_settings, sessions), headers=AUTH) as client:
            yield ImportSetup(client, sessions, LocalDirectoryStore(store_dir))
    finally:
        engine.dispose()
