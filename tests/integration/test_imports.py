"""Import jobs on the real PostgreSQL: upload, run chunk by chunk, ledger, retry, cancel, claims and resume.

Each test has a database of its own; the importer's runner is called in-process (no broker), so the test decides
when a job runs. The real processes are exercised in tests/e2e.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from catalog_core.adapters.imports import import_jobs, import_rows
from catalog_core.adapters.tables import products
from catalog_importer.adapters.jobs import LostClaim
from catalog_importer.domain.feed import MAX_LINE_BYTES, Position
from catalog_importer.domain.tally import Tally
from catalog_kit.outbox import outbox
from catalog_schemas import validate_event
from tests.feeds import owner_of, product_body, supplier_feed
from tests.imports import ImportSetup, import_setup

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@pytest.fixture
def imports(fresh_database: str, tmp_path: Path) -> Iterator[ImportSetup]:
    with import_setup(
        fresh_database, tmp_path / "objects", max_import_bytes=200_000, max_body_bytes=64 * 1024
    ) as setup:
        yield setup


def events(session: Session, event_type: str) -> list[dict[str, Any]]:
    rows = session.execute(select(outbox).where(outbox.c.event_type == event_type).order_by(outbox.c.id)).all()
    for row in rows:
        validate_event(row.event_type, row.payload)
    return [{"key": r.aggregate_id, "topic": r.topic, "data": r.payload} for r in rows]


def count(session: Session, table: Any, *where: Any) -> int:
    return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_an_upload_is_stored_and_requested_in_one_go(imports: ImportSetup) -> None:
    feed = b"sku,name,price,currency\nA-1,Tee,1.00,EUR\n"
    job = imports.upload(feed, name="acme-2026")
    assert job["state"] == "PENDING"
    assert job["format"] == "csv"
    assert job["file"]["bytes"] == len(feed)
    assert job["status_url"] == f"/imports/{job['id']}"
    with imports.sessions() as s:
        key = s.execute(select(import_jobs.c.object_key).where(import_jobs.c.id == uuid.UUID(job["id"]))).scalar()
        [requested] = events(s, "import.requested")
    with imports.store.open(str(key)) as stored:
        assert stored.read() == feed
    assert requested["topic"] == "catalog.import.v1"
    assert requested["key"] == job["id"]
    assert requested["data"]["job_id"] == job["id"]
    assert requested["data"]["mode"] == "import"


def test_uploads_are_refused_with_precise_problems(imports: ImportSetup) -> None:
    api = imports.api
    feed = {"file": ("f.csv", b"sku\n", "text/csv")}
    assert api.post("/imports", files=feed, data={"format": "csv"}, headers={"Authorization": ""}).status_code == 401
    not_a_form = api.post("/imports", content=b"sku\n", headers={"content-type": "text/csv"})
    assert not_a_form.status_code == 415
    assert not_a_form.headers["content-type"] == PROBLEM
    no_file = api.post("/imports", data={"format": "csv"}, files={"other": ("x", b"1", "text/plain")})
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["field"] == "file"
    unknown = api.post("/imports", files={"file": ("f.xlsx", b"PK", "application/octet-stream")}, data={"a": "b"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "format"
    with imports.sessions() as s:
        assert count(s, import_jobs) == 0
    assert [p for p in imports.store.root.rglob("*") if p.is_file()] == []


def test_a_feed_larger_than_the_limit_gets_413_and_leaves_nothing(imports: ImportSetup) -> None:
    big = b"sku,name,price,currency\n" + b"A-1,Tee,1.00,EUR\n" * 15_000  # ~250 kB, limit 200 kB
    declared = imports.api.post("/imports", files={"file": ("f.csv", big, "text/csv")}, data={"format": "csv"})
    assert declared.status_code == 413
    assert declared.headers["content-type"] == PROBLEM

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n\r\n'
        for _ in range(300):
            yield b"x" * 1000
        yield b"\r\n--b--\r\n"

    streamed = imports.api.post(
        "/imports", content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert streamed.status_code == 413
    assert [p for p in imports.store.root.rglob("*") if p.is_file()] == []
    # Above MAX_BODY_BYTES (64 kB in tests) but below MAX_IMPORT_BYTES: accepted, not buffered by the middleware.
    assert len(big[:100_000]) > 64 * 1024
    imports.upload(big[:100_000].rsplit(b"\n", 1)[0] + b"\n")


def test_a_feed_with_bad_rows_imports_the_good_ones_and_lists_the_bad(imports: ImportSetup, unique: str) -> None:
    feed = supplier_feed(f"I{unique}", f"Brand {unique}", rows=100)
    for sku in feed.taken_skus:
        assert imports.api.post("/products", json=owner_of(sku)).status_code == 201
    job = imports.run(imports.upload(feed.csv())["id"])

    assert job["state"] == "COMPLETED_WITH_ERRORS"
    assert job["rows"] == {
        "total": 100,
        "processed": 100,
        "succeeded": 93,
        "created": 93,
        "updated": 0,
        "unchanged": 0,
        "failed": 5,
        "skipped": 2,
    }
    assert job["error_summary"] == {"DUPLICATE": 1, "PARSE": 1, "REFERENCE": 1, "VALIDATION": 2}
    assert job["progress_percent"] == 100.0
    assert job["started_at"] <= job["finished_at"]
    failed = imports.rows(job["id"], "failed")
    assert {r["row"]: r["category"] for r in failed} == feed.bad
    by_category = {r["category"]: r for r in failed}
    assert by_category["PARSE"]["message"].startswith("invalid UTF-8 on line 35")
    assert by_category["DUPLICATE"]["field"] == "sku"
    assert by_category["REFERENCE"]["field"] == "product_key"
    assert {r["field"] for r in failed if r["category"] == "VALIDATION"} == {"price", "stock"}
    assert {r["row"] for r in imports.rows(job["id"], "skipped")} == feed.skipped
    assert len(imports.rows(job["id"])) == 100

    catalog = imports.products(feed.brand)
    expected = feed.product_skus - {f"I{unique}-S0-0", f"I{unique}-S1-1", f"I{unique}-P4-0", *feed.taken_skus}
    expected -= set(feed.missing_products)
    assert set(catalog) == expected
    tee = catalog[f"I{unique}-P0-0"]
    assert [(v["sku"], v["options"], v["stock"]) for v in tee["variants"]] == [
        (f"I{unique}-P0-0-{s}", {"size": s}, 2) for s in ("S", "M", "L")
    ]
    assert tee["attributes"] == {"material": "linen"}
    with imports.sessions() as s:
        created = events(s, "product.created")
    assert {e["key"] for e in created} >= {p["id"] for p in catalog.values()}  # through the same outbox


def test_retry_failed_after_fixing_the_catalog_and_the_feed_completes_the_job(
    imports: ImportSetup, unique: str
) -> None:
    feed = supplier_feed(f"R{unique}", f"Brand {unique}", rows=100)
    taken = {sku: imports.api.post("/products", json=owner_of(sku)).json() for sku in feed.taken_skus}
    job_id = imports.upload(feed.csv())["id"]
    assert imports.run(job_id)["state"] == "COMPLETED_WITH_ERRORS"

    # Without a fix, a retry fails the same rows again and counts an attempt.
    assert imports.api.post(f"/imports/{job_id}/retry-failed").status_code == 202
    again = imports.run(job_id)
    assert again["state"] == "COMPLETED_WITH_ERRORS"
    assert again["rows"]["failed"] == 5
    assert {r["attempts"] for r in imports.rows(job_id, "attention")} == {2}

    for product in taken.values():
        assert imports.api.delete(f"/products/{product['id']}").status_code == 204
    for sku in feed.missing_products:
        assert imports.api.post("/products", json=product_body(sku, feed.brand)).status_code == 201
    retry = imports.api.post(
        f"/imports/{job_id}/retry-failed", files={"file": ("fixed.csv", feed.csv(fixed=True), "text/csv")}
    )
    assert retry.status_code == 202
    assert retry.json()["state"] == "PENDING"
    assert retry.json()["mode"] == "retry"
    done = imports.run(job_id)
    assert done["state"] == "COMPLETED"
    assert done["rows"]["failed"] == done["rows"]["skipped"] == 0
    assert done["rows"]["succeeded"] == done["rows"]["total"] == 100
    assert done["error_summary"] == {}
    assert imports.rows(job_id, "attention") == []
    assert set(imports.products(feed.brand)) == feed.product_skus
    extended = imports.products(feed.brand)[feed.missing_products[0]]
    assert [v["options"]["size"] for v in extended["variants"]] == ["S", "XL"]  # amended, not replaced

    conflict = imports.api.post(f"/imports/{job_id}/retry-failed")
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM


def test_rows_are_retried_a_bounded_number_of_times(imports: ImportSetup) -> None:
    job_id = imports.upload(b"sku,name,price,currency\nA-1,Tee,nope,EUR\nA-2,Tee,1.00,EUR\n")["id"]
    imports.run(job_id, max_row_attempts=2)
    imports.api.post(f"/imports/{job_id}/retry-failed")
    imports.run(job_id, max_row_attempts=2)
    imports.api.post(f"/imports/{job_id}/retry-failed")
    third = imports.run(job_id, max_row_attempts=2)
    assert third["state"] == "COMPLETED_WITH_ERRORS"
    [row] = imports.rows(job_id, "failed")
    assert (row["row"], row["attempts"], row["field"]) == (1, 2, "price")
    [good] = imports.rows(job_id, "succeeded")
    assert good["attempts"] == 1


def test_reimporting_the_same_feed_changes_nothing(imports: ImportSetup, unique: str) -> None:
    feed = supplier_feed(f"U{unique}", f"Brand {unique}", rows=40)
    for sku in feed.taken_skus:
        imports.api.post("/products", json=owner_of(sku))
    imports.run(imports.upload(feed.csv())["id"])
    with imports.sessions() as s:
        before_events = count(s, outbox)
        versions = {r.sku: r.version for r in s.execute(select(products.c.sku, products.c.version))}
    second = imports.run(imports.upload(feed.csv())["id"])
    assert second["rows"]["created"] == second["rows"]["updated"] == 0
    assert second["rows"]["unchanged"] == second["rows"]["succeeded"]
    with imports.sessions() as s:
        assert count(s, outbox) == before_events + 1  # only the second job's import.requested
        assert {r.sku: r.version for r in s.execute(select(products.c.sku, products.c.version))} == versions

    changed = feed.csv().replace(b"Tee 0-1,", b"Tee 0-1 v2,")
    third = imports.run(imports.upload(changed)["id"])
    assert third["rows"]["updated"] == 3  # the product's three rows
    assert imports.products(feed.brand)[f"U{unique}-P0-1"]["version"] == 2


def test_json_lines_with_nested_and_flat_variants(imports: ImportSetup, unique: str) -> None:
    feed = supplier_feed(f"J{unique}", f"Brand {unique}", rows=20)
    nested = (
        f'{{"sku": "J{unique}-SHOE", "name": "Shoe", "brand": "Brand {unique}", "price": 89, "currency": "EUR", '
        f'"attributes": {{"waterproof": true, "weight_g": 310}}, '
        f'"variants": [{{"sku": "J{unique}-SHOE-41", "options": {{"size": "41"}}, "stock": 3}}]}}\n'
        f'{{"sku": "J{unique}-BAD", "name": "Bad", "price": "1", "currency": "EUR", "colour": "red"}}\n'
    ).encode()
    job = imports.run(imports.upload(feed.jsonl() + nested, fmt="jsonl")["id"])
    assert job["format"] == "jsonl"
    failed = {r["row"]: (r["category"], r["field"]) for r in imports.rows(job["id"], "failed")}
    assert failed == {13: ("VALIDATION", "price"), 22: ("VALIDATION", "colour")}
    catalog = imports.products(feed.brand)
    shoe = catalog[f"J{unique}-SHOE"]
    assert shoe["attributes"] == {"waterproof": True, "weight_g": 310}
    assert shoe["stock"] == 3
    assert len(catalog[f"J{unique}-P0-0"]["variants"]) == 3


@pytest.mark.parametrize(
    ("content", "fmt", "reason"),
    [
        (b"sku,name,price\nA,B,1\n", "csv", "missing required column(s): currency"),
        (b"sku,name,price,currency,colour\n", "csv", "unknown column(s): colour"),
        (b"\x1f\x8b\x08\x00\x00", "csv", "gzip"),
        (b"sku,name,price,currency\nA,B,1,EUR\n", "jsonl", "line 1 is not JSON"),
    ],
)
def test_a_feed_that_cannot_be_read_fails_before_any_row(
    imports: ImportSetup, content: bytes, fmt: str, reason: str
) -> None:
    job = imports.run(imports.upload(content, fmt=fmt)["id"])
    assert job["state"] == "FAILED"
    assert reason in job["error"]
    assert job["rows"]["processed"] == 0
    with imports.sessions() as s:
        assert count(s, import_rows) == 0
        assert count(s, products) == 0


def test_cancel_stops_a_running_job_at_the_next_chunk_and_a_pending_one_at_once(imports: ImportSetup) -> None:
    rows = b"".join(b"C-%d,Tee,1.00,EUR\n" % i for i in range(500))
    pending = imports.upload(b"sku,name,price,currency\n" + rows)["id"]
    cancelled = imports.api.post(f"/imports/{pending}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["state"] == "CANCELLED"
    assert imports.api.post(f"/imports/{pending}/cancel").status_code == 409
    assert imports.claims().claim(uuid.UUID(pending)) is None

    running = imports.upload(b"sku,name,price,currency\n" + rows)["id"]
    claims = imports.claims()
    claim = claims.claim(uuid.UUID(running))
    assert claim is not None
    requested = imports.api.post(f"/imports/{running}/cancel").json()
    assert (requested["state"], requested["cancel_requested"]) == ("PROCESSING", True)
    job = imports.run_claimed(claims, claim)
    assert job["state"] == "CANCELLED"
    assert job["rows"]["processed"] == imports.chunk_rows  # the chunk in flight was committed, nothing after
    assert len(imports.rows(running)) == imports.chunk_rows


def test_only_one_of_many_concurrent_claims_wins(imports: ImportSetup) -> None:
    job_id = uuid.UUID(imports.upload(b"sku,name,price,currency\nA,B,1,EUR\n")["id"])
    barrier = threading.Barrier(8)
    won: list[str] = []

    def claim(worker: str) -> None:
        barrier.wait()
        if imports.claims(worker).claim(job_id) is not None:
            won.append(worker)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert imports.job(str(job_id))["attempts"] == 1


def test_a_job_whose_worker_stopped_heartbeating_is_taken_over_and_the_old_claim_is_fenced(
    imports: ImportSetup,
) -> None:
    job_id = uuid.UUID(imports.upload(b"sku,name,price,currency\nA,B,1,EUR\n")["id"])
    first = imports.claims("dead", stale_after_s=30).claim(job_id)
    assert first is not None
    assert imports.claims("other", stale_after_s=30).claim(job_id) is None  # its heartbeat is fresh
    with imports.sessions() as s, s.begin():
        s.execute(update(import_jobs).values(heartbeat_at=func.now() - timedelta(minutes=1)))
    second = imports.claims("other", stale_after_s=30).claim(job_id)
    assert second is not None
    assert second.job.attempts == 2
    assert not imports.claims("dead").heartbeat(first)
    with imports.sessions() as s, s.begin(), pytest.raises(LostClaim):
        imports.claims("dead").record_progress(s, first, Position(10, 2, 3), Tally(), 1)


def test_exhausted_jobs_fail_and_the_sweep_claims_the_oldest_claimable(imports: ImportSetup) -> None:
    feed = b"sku,name,price,currency\nA,B,1,EUR\n"
    old, new = (uuid.UUID(imports.upload(feed)["id"]) for _ in range(2))
    claims = imports.claims(stale_after_s=0, max_attempts=2)
    for _ in range(2):
        claim = claims.claim_next()
        assert claim is not None
        assert claim.job.id == old  # the oldest first; stale at once (stale_after 0) so claimable again
    assert claims.give_up_exhausted() == [old]
    failed = imports.job(str(old))
    assert failed["state"] == "FAILED"
    assert "gave up after 2 attempts" in failed["error"]
    next_claim = claims.claim_next()
    assert next_claim is not None
    assert next_claim.job.id == new


class StopBeforeChunk(threading.Event):
    """A stop request that arrives once the runner is about to start chunk `n` (it asks once per chunk)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.asked = 0

    def is_set(self) -> bool:
        self.asked += 1
        return self.asked >= self.n


def test_a_job_handed_back_mid_feed_resumes_after_its_last_chunk(imports: ImportSetup, unique: str) -> None:
    feed = supplier_feed(f"H{unique}", f"Brand {unique}", rows=200)
    for sku in feed.taken_skus:
        imports.api.post("/products", json=owner_of(sku))
    job_id = imports.upload(feed.csv())["id"]
    imports.run(job_id, stop=StopBeforeChunk(3))
    paused = imports.job(job_id)
    assert paused["state"] == "PENDING"  # handed back, not failed
    assert paused["attempts"] == 0
    assert 0 < paused["rows"]["processed"] < 200
    done = imports.run(job_id)
    assert done["state"] == "COMPLETED_WITH_ERRORS"
    assert done["rows"]["processed"] == done["rows"]["total"] == 200
    assert {r["row"] for r in imports.rows(job_id, "failed")} == set(feed.bad)
    with imports.sessions() as s:
        assert count(s, import_rows) == 200
        created = [e["key"] for e in events(s, "product.created")]
    assert len(created) == len(set(created))  # no product was created twice
    assert set(created) >= {p["id"] for p in imports.products(feed.brand).values()}


def test_jobs_and_rows_are_listed_page_by_page(imports: ImportSetup) -> None:
    ids = [imports.upload(b"sku,name,price,currency\nA-%d,B,1,EUR\n" % i)["id"] for i in range(3)]
    imports.run(ids[0])
    page = imports.api.get("/imports", params={"limit": 2}).json()
    assert [j["id"] for j in page["items"]] == [ids[2], ids[1]]  # newest first
    rest = imports.api.get("/imports", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [j["id"] for j in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    pending = imports.api.get("/imports", params={"state": "PENDING"}).json()
    assert {j["id"] for j in pending["items"]} == set(ids[1:])
    assert imports.api.get("/imports", params={"cursor": "nope"}).status_code == 400
    assert imports.api.get(f"/imports/{uuid.uuid4()}").status_code == 404
    assert imports.api.get(f"/imports/{uuid.uuid4()}/rows").status_code == 404
    assert imports.api.post(f"/imports/{uuid.uuid4()}/cancel").status_code == 404


def test_unreadable_bytes_are_named_and_a_refused_write_fails_only_its_product(imports: ImportSetup) -> None:
    good = b"".join(b"A-%d,Tee,1.00,EUR\n" % i for i in range(2, 502))  # > 8 kB: a NUL up front means binary
    csv_feed = b"sku,name,price,currency\nA-\xff1,Tee,1.00,EUR\n" + good + b"A-502,T\x00e,1.00,EUR\n"
    job = imports.run(imports.upload(csv_feed)["id"])
    failed = imports.rows(job["id"], "failed")
    assert [(r["row"], r["category"]) for r in failed] == [(1, "PARSE"), (502, "PARSE")]
    assert failed[0]["sku"] == "A-\ufffd1"  # stored readable, with the bad byte replaced
    assert failed[0]["message"] == "invalid UTF-8 on line 2 at byte 3 of the line (0xff)"
    assert "NUL" in failed[1]["message"]
    # PostgreSQL cannot store a NUL character: the catalog refuses that product alone, the chunk goes on.
    lines = [
        '{"sku": "N-1", "name": "Tee", "price": "1.00", "currency": "EUR"}',
        '{"sku": "N-2", "name": "T\\u0000e", "price": "1.00", "currency": "EUR"}',
        '{"sku": "N-3", "name": "Tee", "price": "1.00", "currency": "EUR"}',
    ]
    job = imports.run(imports.upload("\n".join(lines).encode(), fmt="jsonl")["id"])
    assert [(r["row"], r["category"]) for r in imports.rows(job["id"], "failed")] == [(2, "INTERNAL")]
    assert job["rows"]["created"] == 2


def test_an_upload_cut_short_stores_nothing(imports: ImportSetup) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n\r\nsku,name,price,currency\r\n'
    response = imports.api.post("/imports", content=body, headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 422
    assert "incomplete" in response.json()["detail"]
    assert [p for p in imports.store.root.rglob("*") if p.is_file()] == []


def test_concurrent_imports_of_overlapping_feeds_report_no_false_duplicates(imports: ImportSetup, unique: str) -> None:
    """Two suppliers' feeds name the same new products: whichever job creates one, the other updates it."""
    rows = [f"OV{unique}-{n},Overlap tee {n},Brand {unique},9.90,EUR,{n}" for n in range(400)]
    # The second supplier lists them the other way round: the two jobs' chunks meet, and overlap, in the middle.
    feeds = [rows, rows[::-1]]
    jobs = [
        imports.upload(("sku,name,brand,price,currency,stock\n" + "\n".join(f) + "\n").encode(), name=f"s{n}")["id"]
        for n, f in enumerate(feeds)
    ]
    start = threading.Barrier(2)
    finished: dict[str, dict[str, Any]] = {}

    def run(job_id: str) -> None:
        start.wait()
        finished[job_id] = imports.run(job_id)

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert {job["state"] for job in finished.values()} == {"COMPLETED"}, [imports.rows(j, "failed")[:3] for j in jobs]
    assert sum(job["rows"]["created"] for job in finished.values()) == 400  # each product created exactly once
    assert len(imports.products(f"Brand {unique}")) == 400


def test_a_json_lines_row_nested_too_deep_or_too_long_is_a_parse_row_and_the_job_completes(
    fresh_database: str, tmp_path: Path, unique: str
) -> None:
    def product(n: int) -> str:
        return json.dumps({"sku": f"D-{unique}-{n}", "name": "Tee", "price": "1.00", "currency": "EUR"})

    feed = "\n".join(
        [
            product(1),
            "[" * 10_000 + "]" * 10_000,  # json.loads would raise RecursionError on it
            product(3),
            '{"sku": "x", "description": "' + "x" * MAX_LINE_BYTES + '"}',
            product(5),
        ]
    ).encode()
    with import_setup(fresh_database, tmp_path / "objects") as imports:
        job = imports.run(imports.upload(feed, fmt="jsonl")["id"])
        failed = imports.rows(job["id"], "failed")
    assert job["state"] == "COMPLETED_WITH_ERRORS"
    assert job["rows"] | {"total": 5, "created": 3, "failed": 2} == job["rows"]
    assert [(r["row"], r["line"], r["category"]) for r in failed] == [(2, 2, "PARSE"), (4, 4, "PARSE")]
    assert failed[0]["message"] == "line 2: invalid JSON: arrays and objects nested more than 32 deep"
    assert failed[1]["message"] == f"line 4 is longer than {MAX_LINE_BYTES} bytes"
