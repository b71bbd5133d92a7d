"""Webhooks against the real database: subscriptions through the API (admin only, URLs under the outbound
policy), deliveries made once per subscription and event, claimed by one dispatcher at a time, recorded under
their claim; import outcomes written in the transaction that finishes the job."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.imports import ImportJobRepository
from catalog_core.adapters.webhooks import WebhookRepository, webhook_deliveries
from catalog_core.domain.imports import FeedFormat
from catalog_core.domain.model import new_id
from catalog_importer.adapters.jobs import ClaimRules, JobClaims, OutcomeAnnouncer
from catalog_importer.domain.feed import Position
from catalog_importer.domain.tally import Tally
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.outbox import OutboxWriter, outbox
from catalog_schemas import validate_event
from catalog_webhooks.adapters.deliveries import AttemptResult, DeliveryStore
from catalog_webhooks.domain.backoff import RetrySchedule
from catalog_webhooks.domain.events import WebhookEvent
from catalog_webhooks.service_layer.dispatch import DeliveryLoop
from tests.conftest import ADMIN_KEY, WRITE_KEY

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PUBLIC_URL = "https://hooks.example.com/catalog"


def subscribe(api: TestClient, **body: Any) -> dict[str, Any]:
    answer = api.post(
        "/admin/webhooks", json={"url": PUBLIC_URL, "event_types": ["import.completed"], **body}, headers=ADMIN
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def every_subscription(api: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}  # small pages: the cursor is followed too
    while True:
        page = api.get("/admin/webhooks", params=params, headers=ADMIN).json()
        found += page["items"]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def test_admins_manage_subscriptions_and_the_secret_is_shown_once(api: TestClient) -> None:
    created = subscribe(api, event_types=["import.failed", "import.completed"], description="ops")
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["import.completed", "import.failed"]
    path = f"/admin/webhooks/{created['id']}"

    shown = api.get(path, headers=ADMIN).json()
    assert "secret" not in shown
    listed = every_subscription(api)
    assert created["id"] in {s["id"] for s in listed}
    assert created["secret"] not in json.dumps(listed)

    patched = api.patch(path, json={"active": False, "event_types": ["product.enrichment_degraded"]}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["active"], patched.json()["event_types"]) == (False, ["product.enrichment_degraded"])
    assert patched.json()["description"] == "ops"  # untouched fields stay

    rotated = api.post(f"{path}/rotate-secret", headers=ADMIN).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]

    assert api.delete(path, headers=ADMIN).status_code == 204
    assert api.get(path, headers=ADMIN).status_code == 404
    assert api.delete(path, headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:9000/hook", "event_types": ["import.completed"]}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data", "event_types": ["import.completed"]}, "url"),
        ({"url": "http://10.1.2.3/hook", "event_types": ["import.completed"]}, "url"),
        ({"url": "https://hooks.example.com:8443/x", "event_types": ["import.completed"]}, "url"),
        ({"url": "ftp://hooks.example.com/x", "event_types": ["import.completed"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/x", "event_types": ["import.completed"]}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 2000, "event_types": ["import.completed"]}, "url"),
        ({"url": PUBLIC_URL, "event_types": ["product.created"]}, "event_types[0]"),
        ({"url": PUBLIC_URL, "event_types": []}, "event_types"),
        ({"url": PUBLIC_URL}, "event_types"),
        ({"url": PUBLIC_URL, "event_types": ["import.failed"], "secret": "mine"}, "secret"),
    ],
)
def test_a_refused_subscription_is_a_422_naming_the_field(api: TestClient, body: dict[str, Any], field: str) -> None:
    answer = api.post("/admin/webhooks", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_a_patch_to_an_internal_url_is_refused_and_changes_nothing(api: TestClient) -> None:
    created = subscribe(api)
    answer = api.patch(f"/admin/webhooks/{created['id']}", json={"url": "http://[::1]:8000/"}, headers=ADMIN)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["url"]
    assert api.get(f"/admin/webhooks/{created['id']}", headers=ADMIN).json()["url"] == PUBLIC_URL


def test_only_admin_keys_reach_webhooks(api: TestClient) -> None:
    for method, path in [("GET", "/admin/webhooks"), ("POST", "/admin/webhooks")]:
        answer = api.request(method, path, headers={"Authorization": f"Bearer {WRITE_KEY}"})
        assert answer.status_code == 403


def test_deliveries_page_newest_first_with_their_attempts(api: TestClient) -> None:
    created = subscribe(api)
    sent = [api.post(f"/admin/webhooks/{created['id']}/test", headers=ADMIN).json()["id"] for _ in range(3)]
    path = f"/admin/webhooks/{created['id']}/deliveries"
    first = api.get(path, params={"limit": 2}, headers=ADMIN).json()
    rest = api.get(path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=ADMIN).json()
    assert [d["id"] for d in first["items"] + rest["items"]] == sent[::-1]
    assert rest["next_cursor"] is None
    assert first["items"][0]["event_type"] == "webhook.test"
    assert first["items"][0]["state"] == "pending"
    assert first["items"][0]["attempts"] == []
    assert api.get(f"/admin/webhooks/{uuid.uuid4()}/deliveries", headers=ADMIN).status_code == 404
    assert api.post(f"/admin/webhooks/deliveries/{uuid.uuid4()}/redeliver", headers=ADMIN).status_code == 404


@dataclass
class Hooks:
    sessions: sessionmaker[Session]
    store: DeliveryStore

    def subscription(self, *types: str, active: bool = True) -> uuid.UUID:
        with self.sessions() as s, s.begin():
            made = WebhookRepository(s).add_subscription(
                url=PUBLIC_URL, event_types=types, secret="whsec_AAAA", description=None, created_by=None
            )
            if not active:
                WebhookRepository(s).update_subscription(made.id, active=False)
        return made.id

    def deliveries(self, subscription_id: uuid.UUID) -> list[Any]:
        with self.sessions() as s:
            return list(
                s.execute(select(webhook_deliveries).where(webhook_deliveries.c.subscription_id == subscription_id))
            )


@pytest.fixture
def hooks(fresh_database: str) -> Iterator[Hooks]:
    """A database of its own: claims see every due delivery, so none from other tests may be there."""
    engine = make_engine(fresh_database, pool_size=4)
    sessions = make_session_factory(engine)
    yield Hooks(sessions, DeliveryStore(sessions))
    engine.dispose()


def event(kind: str = "import.completed", at: datetime | None = None) -> WebhookEvent:
    return WebhookEvent(str(uuid.uuid4()), kind, at or datetime.now(UTC), json.dumps({"type": kind}))


def test_an_event_makes_one_delivery_per_matching_subscription_however_often_it_is_seen(hooks: Hooks) -> None:
    wanted = hooks.subscription("import.completed", "import.failed")
    other_type = hooks.subscription("import.failed")
    paused = hooks.subscription("import.completed", active=False)
    completed = event()
    assert hooks.store.fan_out([completed]) == 1
    assert hooks.store.fan_out([completed]) == 0  # consumed again after a crash: nothing more
    assert [d.event_id for d in hooks.deliveries(wanted)] == [completed.event_id]
    assert hooks.deliveries(other_type) == hooks.deliveries(paused) == []

    happened = datetime.now(UTC)
    later = hooks.subscription("import.completed")
    assert hooks.store.fan_out([event(at=happened)]) == 1  # only `wanted`
    assert hooks.deliveries(later) == []  # a new subscription is not sent what happened before it


def test_a_delivery_is_claimed_by_one_dispatcher_at_a_time(hooks: Hooks) -> None:
    hooks.subscription("import.completed")
    hooks.store.fan_out([event()])
    other = DeliveryStore(hooks.sessions)
    with hooks.sessions() as holder, holder.begin():
        # Another dispatcher is in the middle of claiming it (holds its row lock): skipped, not waited for.
        holder.execute(text("SELECT id FROM webhook_deliveries FOR UPDATE"))
        assert other.claim_due(10, timedelta(seconds=60)) == []
    [claimed] = hooks.store.claim_due(10, timedelta(seconds=60))
    assert other.claim_due(10, timedelta(seconds=60)) == []  # leased: not due until the lease ends
    assert hooks.store.record(claimed, AttemptResult(datetime.now(UTC), 503, "http_503", 12), retry_in_s=0.0)
    [again] = other.claim_due(10, timedelta(seconds=60))  # due at once again (retry_in 0)
    assert again.id == claimed.id
    assert again.round_attempts == 1


def test_a_result_is_recorded_only_under_its_claim(hooks: Hooks) -> None:
    subscription = hooks.subscription("import.completed")
    hooks.store.fan_out([event()])
    [claimed] = hooks.store.claim_due(10, timedelta(seconds=60))
    with hooks.sessions() as s, s.begin():
        WebhookRepository(s).redeliver(claimed.id)  # an operator redelivers meanwhile
    assert not hooks.store.record(claimed, AttemptResult(datetime.now(UTC), None, "timeout", 10_000), None)
    [row] = hooks.deliveries(subscription)
    assert (row.state, row.attempts, row.round_attempts) == ("pending", 1, 0)  # attempt kept, new round intact

    [claimed] = hooks.store.claim_due(10, timedelta(seconds=60))
    assert hooks.store.record(claimed, AttemptResult(datetime.now(UTC), None, "unreachable", 5), retry_in_s=None)
    with hooks.sessions() as s:
        [delivery] = WebhookRepository(s).deliveries(subscription, before=None, limit=10)
    assert delivery.state == "failed"
    assert [(a.number, a.error) for a in delivery.attempt_log] == [(1, "timeout"), (2, "unreachable")]
    assert hooks.store.claim_due(10, timedelta(seconds=60)) == []  # failed: only a redelivery sends it again


@pytest.fixture
def job_claims(sessions: sessionmaker[Session]) -> JobClaims:
    announce = OutcomeAnnouncer(OutboxWriter("/test/importer"), "https://catalog.example.com")
    return JobClaims(sessions, ClaimRules("test-worker", timedelta(seconds=30), 1), announce=announce)


def new_job(sessions: sessionmaker[Session]) -> uuid.UUID:
    job_id = new_id()
    with sessions() as s, s.begin():
        ImportJobRepository(s).add(
            job_id,
            format=FeedFormat.CSV,
            file_name="feed.csv",
            object_key=f"imports/{job_id}/feed",
            file_bytes=10,
            file_sha256="0" * 64,
            submitted_by="key:test",
        )
    return job_id


def announced(sessions: sessionmaker[Session], job_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    with sessions() as s:
        rows = s.execute(
            select(outbox.c.event_type, outbox.c.payload, outbox.c.topic).where(outbox.c.aggregate_id == str(job_id))
        ).all()
    assert all(row.topic == "catalog.import.outcome.v1" for row in rows)
    return [(row.event_type, row.payload) for row in rows if row.event_type.startswith("import.")]


def test_a_finished_job_is_announced_with_its_final_state(
    sessions: sessionmaker[Session], job_claims: JobClaims
) -> None:
    completed, failed, exhausted = new_job(sessions), new_job(sessions), new_job(sessions)
    claim = job_claims.claim(completed)
    assert claim is not None
    tally = Tally(processed=2, created=1, failed=1, errors={"VALIDATION": 1})
    with sessions() as s, s.begin():
        job_claims.record_progress(s, claim, Position(10, 3, 3), tally, run_rows=2)
    job_claims.finish(claim, tally)
    claim = job_claims.claim(failed)
    assert claim is not None
    job_claims.fail(claim, "the file is gzip-compressed")
    with sessions() as s, s.begin():  # attempts used up (max 1): the watchdog fails it
        ImportJobRepository(s).update(exhausted, attempts=1)
    assert exhausted in job_claims.give_up_exhausted()

    [(kind, data)] = announced(sessions, completed)
    validate_event(kind, data)
    assert (kind, data["state"], data["rows"]["failed"]) == ("import.completed", "COMPLETED_WITH_ERRORS", 1)
    assert data["failed_rows_by_category"] == {"VALIDATION": 1}
    [(kind, data)] = announced(sessions, failed)
    validate_event(kind, data)
    assert (kind, data["error"]) == ("import.failed", "the file is gzip-compressed")
    [(kind, data)] = announced(sessions, exhausted)
    assert (kind, data["state"]) == ("import.failed", "FAILED")


def test_finished_deliveries_are_pruned_after_the_retention_and_pending_ones_stay(hooks: Hooks) -> None:
    subscription = hooks.subscription("import.completed")
    hooks.store.fan_out([event(), event()])
    [done] = hooks.store.claim_due(1, timedelta(seconds=60))
    hooks.store.record(done, AttemptResult(datetime.now(UTC), 200, None, 3), None)
    assert hooks.store.prune(timedelta(days=1)) == 0  # too young
    assert hooks.store.prune(timedelta(0)) == 1
    [left] = hooks.deliveries(subscription)
    assert left.state == "pending"


def test_a_database_that_is_down_sends_nothing_and_counts_no_attempt() -> None:
    """A real connection refused (nothing listens on port 1): the loop waits; no attempt is made or spent."""
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/catalog", pool_size=1)
    sent: list[str] = []

    class Sender:
        def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
            sent.append(url)
            return AttemptResult(datetime.now(UTC), 200, None, 1)

    try:
        loop = DeliveryLoop(DeliveryStore(make_session_factory(engine)), Sender(), RetrySchedule())
        assert asyncio.run(loop.run_due()) == 0
        assert asyncio.run(loop.run_due()) == 0  # still down: still waiting, not failing
    finally:
        engine.dispose()
    assert sent == []
