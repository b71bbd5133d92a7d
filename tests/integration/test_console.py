"""The operator console over the real database and broker (the app in-process): who gets in, what a session may
do, the pages, and the dead-letter desk (console forms and `/admin/dead-letters`)."""

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_api.adapters.api_keys import ApiKeys
from catalog_api.domain.keys import Scope, digest
from catalog_api.entrypoints.console_session import COOKIE
from catalog_api.entrypoints.http import create_app
from catalog_api.settings import ApiSettings
from catalog_core.adapters.dead_letter_resolutions import dead_letter_resolutions
from catalog_core.domain.imports import FINISHED
from catalog_schemas.topics import PRODUCT, dead_letter_topic
from catalog_stack.infra import Endpoints
from tests.conftest import ADMIN_KEY, READ_KEY, WRITE_KEY
from tests.support import consume, wait_until

pytestmark = pytest.mark.integration
SECRET = "console-test-secret"
ORIGIN = "http://testserver"


@pytest.fixture
def console(api_settings: ApiSettings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The API as a browser sees it: no Authorization header, cookies kept between requests."""
    settings = api_settings.model_copy(update={"console_secret": SecretStr(SECRET)})
    with TestClient(create_app(settings, sessions), follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, key: str, **form: str) -> Any:
    return client.post("/console/login", data={"key": key, **form}, headers={"Origin": ORIGIN})


def test_pages_send_a_browser_without_a_session_to_the_login(console: TestClient) -> None:
    for path in ("/console", "/console/imports", "/console/dead-letters", "/console/enrichment", "/console/webhooks"):
        answer = console.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login?next=")
    form = console.get("/console/login")
    assert form.status_code == 200
    assert 'name="key"' in form.text


def test_only_an_admin_key_logs_in_and_gets_a_session_cookie(console: TestClient) -> None:
    wrong = log_in(console, "not-a-key")
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    writer = log_in(console, WRITE_KEY)
    assert writer.status_code == 403
    assert "admin scope" in writer.text
    assert log_in(console, READ_KEY).status_code == 403
    assert COOKIE not in console.cookies

    admin = log_in(console, ADMIN_KEY, next="/console/imports")
    assert admin.status_code == 303
    assert admin.headers["location"] == "/console/imports"
    cookie = admin.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert ADMIN_KEY not in cookie
    assert console.get("/console/imports").status_code == 200

    # The session is ended by logging out.
    assert console.post("/console/logout", headers={"Origin": ORIGIN}).status_code == 303
    console.cookies.clear()
    assert console.get("/console").status_code == 303


def test_revoking_a_stored_key_ends_its_sessions(console: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        stored, key = ApiKeys(session).create("operator", {Scope.ADMIN})
    assert log_in(console, key).status_code == 303
    assert key not in console.cookies[COOKIE]
    assert console.get("/console/imports").status_code == 200
    with sessions() as session, session.begin():
        ApiKeys(session).revoke(stored.id)
    assert console.get("/console/imports").status_code == 303  # the cookie no longer stands for a live key


def test_a_login_goes_only_to_console_pages(console: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/console", "/products"):
        answer = log_in(console, ADMIN_KEY, next=target)
        assert answer.headers["location"] == "/console"


def test_forged_expired_or_garbled_cookies_are_no_session(console: TestClient) -> None:
    claims = {"d": digest(ADMIN_KEY.encode()).hex(), "k": None}
    forged = URLSafeTimedSerializer("another-secret", salt="catalog-console-session").dumps(claims)

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 9 * 3600  # sessions last 8 hours

    expired = URLSafeTimedSerializer(SECRET, salt="catalog-console-session", signer=LongAgo).dumps(claims)
    fresh = URLSafeTimedSerializer(SECRET, salt="catalog-console-session").dumps(claims)
    for value in (forged, expired, "garbage", fresh[:-3] + "abc"):
        console.cookies.set(COOKIE, value)
        assert console.get("/console").status_code == 303, value
        assert console.get("/admin/dead-letters/indexer").status_code == 401  # no session outside the console
    console.cookies.set(COOKIE, fresh)
    assert console.get("/console").status_code == 200
    # A session counts on the console's own routes and the calls its pages make, not on the JSON API.
    assert console.get("/imports").status_code == 401
    assert console.get("/admin/dead-letters/indexer").status_code == 401


def test_console_forms_must_come_from_the_console(console: TestClient) -> None:
    assert log_in(console, ADMIN_KEY).status_code == 303
    job = str(uuid.uuid4())
    for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/console"}):
        answer = console.post(f"/console/imports/{job}/cancel", headers=headers)
        assert answer.status_code == 403, headers
    assert log_in(console, ADMIN_KEY).status_code == 303
    assert (
        console.post("/console/login", data={"key": ADMIN_KEY}, headers={"Origin": "https://evil.example"}).status_code
        == 403
    )


def test_an_admin_bearer_key_opens_the_pages_and_others_are_refused(console: TestClient) -> None:
    assert console.get("/console/imports", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    refused = console.get("/console/imports", headers={"Authorization": f"Bearer {WRITE_KEY}"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


def test_the_import_pages_list_search_and_show_a_job(console: TestClient, unique: str) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    feed = f"sku,name,price,currency\nCON-{unique},Tee,1.00,EUR\nBAD-{unique},Tee,1.001,EUR\n".encode()
    job = console.post(
        "/imports",
        files={"file": (f"console-{unique}.csv", feed, "text/csv")},
        data={"format": "csv"},
        headers={"Authorization": f"Bearer {WRITE_KEY}"},
    ).json()
    assert log_in(console, ADMIN_KEY).status_code == 303
    row = f'data-job="{job["id"]}"'
    listed = console.get("/console/imports", params={"q": f"console-{unique}"})
    assert row in listed.text
    assert row in console.get("/console/imports", params={"q": job["id"]}).text
    assert row not in console.get("/console/imports", params={"q": str(uuid.uuid4())}).text
    assert job["id"] not in console.get("/console/imports", params={"q": f"nothing-{unique}"}).text
    assert row in console.get("/console/imports", params={"mode": "import", "q": job["id"]}).text
    assert row not in console.get("/console/imports", params={"mode": "retry", "q": job["id"]}).text
    assert row in console.get("/console/imports", params={"mode": "", "q": job["id"]}).text  # "every kind"
    bogus = console.get("/console/imports", params={"mode": "bogus"})
    assert bogus.status_code == 422
    assert bogus.json()["errors"][0]["field"] == "mode"
    page = console.get(f"/console/imports/{job['id']}")
    assert page.status_code == 200
    assert f"/imports/{job['id']}/events" in page.text
    assert console.get(f"/console/imports/{uuid.uuid4()}").status_code == 404
    # Importers running in this session may take the job at once: cancel it, or find it done, and await its end.
    cancel = console.post(f"/console/imports/{job['id']}/cancel", headers={"Origin": ORIGIN})
    assert cancel.status_code == 303
    notice = console.get(cancel.headers["location"]).text
    # (A session's running importer reads feeds from its own object store, not this in-process API's: it may fail
    # the job before the cancel arrives.)
    assert "Cancel requested" in notice or re.search(r"Not done: the job is (COMPLETED|FAILED)", notice)

    def finished() -> str | None:
        state: str = console.get(f"/imports/{job['id']}", headers=admin).json()["state"]
        return state if state in FINISHED else None

    final = wait_until(finished, timeout=60, interval=0.2)
    other = "FAILED" if final != "FAILED" else "CANCELLED"
    assert row in console.get("/console/imports", params={"state": final, "q": job["id"]}).text
    assert row not in console.get("/console/imports", params={"state": other, "q": job["id"]}).text
    both = [("state", other), ("state", final), ("q", job["id"])]
    assert row in console.get("/console/imports", params=both).text
    # The live stream takes the session as well (the page's EventSource sends no key); a finished job's ends.
    stream = console.get(f"/imports/{job['id']}/events")
    assert stream.status_code == 200
    assert "event: end" in stream.text
    assert console.get(f"/imports/{job['id']}/rows.csv").status_code == 200
    assert console.get("/console/imports", headers=admin).status_code == 200


def dead_letter(endpoints: Endpoints, processor: str, key: str, sku: str, error: str) -> None:
    """A record as `processor` would have dead-lettered it: a valid product.deleted, so a replay sends it."""
    value = f'{{"id": "{key}", "sku": "{sku}", "version": 2, "deleted_at": "2026-11-24T10:00:00+00:00"}}'
    headers: list[tuple[str, str | bytes | None]] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", b"product.deleted"),
        ("ce_source", b"/test"),
        ("ce_time", b"2026-11-24T10:00:00+00:00"),
        ("ce_subject", key.encode()),
        ("dlq_processor", processor.encode()),
        ("dlq_error", error.encode()),
        ("dlq_attempts", b"4"),
        ("dlq_topic", PRODUCT.name.encode()),
        ("dlq_partition", b"0"),
        ("dlq_offset", b"7"),
        ("dlq_time", str(time.time()).encode()),
    ]
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    producer.produce(dead_letter_topic(processor).name, key=key.encode(), value=value.encode(), headers=headers)
    assert producer.flush(10) == 0


def test_dead_letters_are_searched_replayed_and_discarded(
    console: TestClient, endpoints: Endpoints, sessions: sessionmaker[Session], unique: str
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    replayed, discarded = str(uuid.uuid4()), str(uuid.uuid4())
    dead_letter(endpoints, "media", replayed, f"DLQ-{unique}-A", f"RuntimeError: boom {unique}")
    dead_letter(endpoints, "media", discarded, f"DLQ-{unique}-B", f"RuntimeError: boom {unique}")

    by_error = console.get("/admin/dead-letters/media", params={"q": f"boom {unique}"}, headers=admin).json()["items"]
    assert {i["key"] for i in by_error} == {replayed, discarded}
    [one] = console.get("/admin/dead-letters/media", params={"q": f"DLQ-{unique}-A"}, headers=admin).json()["items"]
    assert one["key"] == replayed
    assert one["headers"]["ce_type"] == "product.deleted"
    assert one["payload"]["sku"] == f"DLQ-{unique}-A"
    assert one["resolution"] is None
    [by_id] = console.get("/admin/dead-letters/media", params={"q": replayed}, headers=admin).json()["items"]
    assert by_id["offset"] == one["offset"]

    # The console: the list, one record, replay it from the page.
    assert log_in(console, ADMIN_KEY).status_code == 303
    page = console.get("/console/dead-letters", params={"processor": "media", "q": unique})
    assert replayed in page.text
    assert discarded in page.text
    record = f"{one['partition']}:{one['offset']}"
    inspect = console.get(f"/console/dead-letters/media/{one['partition']}/{one['offset']}")
    assert inspect.status_code == 200
    assert "dlq_error" in inspect.text
    assert f"DLQ-{unique}-A" in inspect.text
    answer = console.post("/console/dead-letters/media/replay", data={"record": record}, headers={"Origin": ORIGIN})
    assert answer.status_code == 303
    assert "Replayed 1 record" in console.get(answer.headers["location"]).text
    [sent] = consume(endpoints.kafka_bootstrap_servers, PRODUCT.name, [replayed], expected=1)
    assert sent.event.type == "product.deleted"

    # The API: discard the other; both are then hidden from the open list, and shown with what was done.
    [other] = console.get("/admin/dead-letters/media", params={"q": discarded}, headers=admin).json()["items"]
    done = console.post(
        "/admin/dead-letters/media/discard",
        json={"records": [{"partition": other["partition"], "offset": other["offset"]}], "note": "test data"},
        headers=admin,
    )
    assert done.status_code == 200
    assert len(done.json()["discarded"]) == 1
    assert console.get("/admin/dead-letters/media", params={"q": unique}, headers=admin).json()["items"] == []
    shown = console.get(
        "/admin/dead-letters/media", params={"q": unique, "include_resolved": "true"}, headers=admin
    ).json()["items"]
    assert {(i["key"], i["resolution"]["action"]) for i in shown} == {(replayed, "replayed"), (discarded, "discarded")}
    assert len({i["resolution"]["by"] for i in shown}) == 1  # the admin key's principal id, both times
    with sessions() as session:
        rows = session.execute(
            select(dead_letter_resolutions).where(dead_letter_resolutions.c.processor == "media")
        ).all()
    assert {r.action for r in rows} >= {"replayed", "discarded"}


def test_the_dead_letter_api_refuses_precisely(console: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    unknown = console.get("/admin/dead-letters/nobody", headers=admin)
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "processor" in unknown.text
    empty = console.post("/admin/dead-letters/media/replay", json={}, headers=admin)
    assert empty.status_code == 422
    assert "records" in empty.text
    writer = console.get("/admin/dead-letters/media", headers={"Authorization": f"Bearer {WRITE_KEY}"})
    assert writer.status_code == 403


def test_the_webhooks_pages_make_list_test_redeliver_and_deactivate(console: TestClient, unique: str) -> None:
    """The console's webhook desk over the same service layer as `/admin/webhooks` (no dispatcher runs here)."""
    assert log_in(console, ADMIN_KEY).status_code == 303
    form = {"url": f"https://hooks.example.com/{unique}", "event_type": ["import.failed"], "description": unique}
    created = console.post("/console/webhooks", data=form, headers={"Origin": ORIGIN})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret" value="(whsec_[^"]+)"', created.text)
    assert secret is not None
    assert "Copy the signing secret now" in created.text
    subscription = re.search(r'action="/console/webhooks/([0-9a-f-]{36})/test"', created.text)
    assert subscription is not None
    page_url = f"/console/webhooks/{subscription.group(1)}"
    shown = console.get(page_url)
    assert shown.status_code == 200
    assert secret.group(1) not in shown.text  # shown once, never again
    assert "No deliveries yet" in shown.text
    listed = console.get("/console/webhooks")
    assert f'data-subscription="{subscription.group(1)}"' in listed.text
    assert secret.group(1) not in listed.text

    sent = console.post(f"{page_url}/test", headers={"Origin": ORIGIN})
    assert (sent.status_code, sent.headers["location"].split("?")[0]) == (303, page_url)
    with_test = console.get(page_url).text
    delivery = re.search(r'data-delivery="([0-9a-f-]{36})" data-webhook-id="([^"]+)"', with_test)
    assert delivery is not None
    assert 'data-state="pending"' in with_test
    listed = console.get("/console/webhooks").text
    row = listed[listed.index(f'data-subscription="{subscription.group(1)}"') :]
    assert re.match(r'[^<]*>(?:.|\n)*?data-count="pending">1<', row)

    redelivered = console.post(
        f"/console/webhooks/deliveries/{delivery.group(1)}/redeliver", headers={"Origin": ORIGIN}
    )
    assert (redelivered.status_code, redelivered.headers["location"].split("?")[0]) == (303, page_url)
    assert "Redelivery queued" in console.get(redelivered.headers["location"]).text
    assert (
        console.post(f"/console/webhooks/deliveries/{uuid.uuid4()}/redeliver", headers={"Origin": ORIGIN})
        .headers["location"]
        .startswith("/console/webhooks?notice=Not+done")
    )

    deactivated = console.post(f"{page_url}/deactivate", headers={"Origin": ORIGIN})
    assert deactivated.status_code == 303
    assert 'id="active">inactive' in console.get(page_url).text
    assert console.post(f"{page_url}/activate", headers={"Origin": ORIGIN}).status_code == 303
    assert 'id="active">active' in console.get(page_url).text
    assert console.post(f"{page_url}/deactivate", headers={"Origin": ORIGIN}).status_code == 303  # sends nothing on
    assert console.get(f"/console/webhooks/{uuid.uuid4()}").status_code == 404
    # Forms from elsewhere are refused like every console form.
    assert console.post(f"{page_url}/test", headers={"Origin": "https://evil.example"}).status_code == 403


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": "http://127.0.0.1:8000/hook", "event_type": ["import.failed"]}, "URL: refused by the outbound policy"),
        ({"url": "http://[::1]/hook", "event_type": ["import.failed"]}, "URL: refused by the outbound policy"),
        ({"url": "", "event_type": ["import.failed"]}, "URL: enter the address"),
        ({"url": "https://hooks.example.com/x"}, "Event types: choose at least one"),
        ({"url": "https://hooks.example.com/x", "event_type": ["import.*"]}, "Event types: import.* is not one of"),
    ],
)
def test_a_refused_subscription_form_is_a_422_page_naming_the_field(
    console: TestClient, form: dict[str, Any], message: str
) -> None:
    assert log_in(console, ADMIN_KEY).status_code == 303
    answer = console.post("/console/webhooks", data=form, headers={"Origin": ORIGIN})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert message in answer.text
    assert "whsec_" not in answer.text


def test_the_enrichment_page_shows_the_schedules(
    console: TestClient, sessions: sessionmaker[Session], unique: str
) -> None:
    from datetime import UTC, datetime

    from catalog_core.adapters.schedules import ScheduleStore

    store = ScheduleStore(sessions)
    name = f"test.schedule-{unique}"
    store.ensure(name, "enricher", "0 3 * * *", datetime(2030, 1, 1, 3, 0, tzinfo=UTC))
    try:
        page = console.get("/console/enrichment", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert page.status_code == 200
        assert name in page.text
        assert "0 3 * * *" in page.text
        assert "Work queue" in page.text
    finally:
        with sessions() as session, session.begin():
            session.execute(text("DELETE FROM schedules WHERE name = :name"), {"name": name})
