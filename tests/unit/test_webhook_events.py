"""Which platform events become webhooks, with which payload; how a finished import job is announced."""

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from catalog_core.domain.imports import FeedFormat, ImportJob, JobMode, JobState
from catalog_importer.domain.outcomes import outcome_event
from catalog_kit.envelope import EventEnvelope
from catalog_schemas import validate_event
from catalog_webhooks.domain.events import webhook_event

T0 = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def job(state: JobState, **changes: object) -> ImportJob:
    base = ImportJob(
        id=uuid.uuid4(),
        state=state,
        mode=JobMode.IMPORT,
        format=FeedFormat.CSV,
        file_name="feed.csv",
        object_key="imports/x/feed",
        file_bytes=120,
        file_sha256="ab" * 32,
        submitted_by="key:abc",
        rows_total=3,
        rows_processed=3,
        rows_created=2,
        rows_updated=0,
        rows_unchanged=0,
        rows_failed=1,
        rows_skipped=0,
        error_counts={"VALIDATION": 1},
        bytes_done=120,
        next_row=4,
        next_line=5,
        run_rows=3,
        retries=0,
        attempts=1,
        claimed_by="importer-1",
        cancel_requested=False,
        error=None,
        last_error="internal detail",
        created_at=T0,
        started_at=T0,
        finished_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_finished_jobs_are_announced_with_their_summary_and_links() -> None:
    done = job(JobState.COMPLETED_WITH_ERRORS)
    event = outcome_event(done, "https://catalog.example.com/")
    assert event is not None
    event_type, data = event
    assert event_type == "import.completed"
    validate_event(event_type, data)
    assert data["rows"]["failed"] == 1
    assert data["failed_rows_by_category"] == {"VALIDATION": 1}
    assert data["links"]["status"] == f"https://catalog.example.com/imports/{done.id}"
    assert "internal detail" not in json.dumps(data)  # operators' errors stay inside

    failed = outcome_event(job(JobState.FAILED, error="the feed file is missing"), "http://x")
    assert failed is not None
    assert failed[0] == "import.failed"
    validate_event(*failed)
    assert outcome_event(job(JobState.CANCELLED), "http://x") is None
    assert outcome_event(job(JobState.PROCESSING, finished_at=None), "http://x") is None


def test_import_outcomes_become_webhooks_as_they_are() -> None:
    event_type, data = outcome_event(job(JobState.COMPLETED), "http://x")  # type: ignore[misc]
    envelope = EventEnvelope(type=event_type, source="/catalog/importer", subject=data["job_id"], data=data, time=T0)
    made = webhook_event(envelope)
    assert made is not None
    assert (made.event_id, made.type, made.occurred_at) == (envelope.id, "import.completed", T0)
    assert json.loads(made.body) == {"type": "import.completed", "timestamp": T0.isoformat(), "data": data}


def enriched(**extra: object) -> EventEnvelope:
    product_id = str(uuid.uuid4())
    data = {
        "id": product_id,
        "version": 3,
        "keywords": ["tee"],
        "slug": "tee",
        "category": None,
        "price_band": "budget",
        "completeness": {"score": 0.5, "missing": []},
        **extra,
    }
    validate_event("product.enriched", data)
    return EventEnvelope(type="product.enriched", source="/catalog/enricher", subject=product_id, data=data, time=T0)


def test_only_a_degraded_enrichment_becomes_a_webhook() -> None:
    assert webhook_event(enriched()) is None
    assert webhook_event(enriched(degraded=[])) is None
    event = enriched(degraded=["keywords"])
    made = webhook_event(event)
    assert made is not None
    assert made.type == "product.enrichment_degraded"
    payload = json.loads(made.body)
    assert payload["data"] == {
        "product_id": event.data["id"],
        "version": 3,
        "degraded": ["keywords"],
        "reason": "provider_unavailable",
    }


def test_other_events_make_no_webhook() -> None:
    created = EventEnvelope(type="product.created", source="/catalog/product-api", subject="p", data={}, time=T0)
    assert webhook_event(created) is None
