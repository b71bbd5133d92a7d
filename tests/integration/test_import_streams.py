"""A job's live progress over Server-Sent Events and its ledger as CSV / JSON Lines, through real HTTP (uvicorn on
loopback) over a database of their own; the importer's runner is called here, so the test decides when a job runs.
"""

import csv
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select, text

from catalog_core.adapters.import_history import search_jobs
from catalog_core.adapters.imports import import_rows
from tests.conftest import ADMIN_KEY, OTHER_WRITE_KEY, WRITE_KEY, free_port
from tests.feeds import supplier_feed
from tests.imports import ImportSetup, import_setup
from tests.support import wait_until

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Event:
    event: str
    id: str
    data: dict[str, Any]

    @property
    def position(self) -> tuple[int, int]:
        transition, mark = self.id.split("-")
        return int(transition), int(mark)


@dataclass
class Served:
    setup: ImportSetup
    url: str


@pytest.fixture
def served(fresh_database: str, tmp_path: Path) -> Iterator[Served]:
    """The API of `import_setup`, also served by uvicorn on a loopback port (streams need a real server)."""
    with import_setup(fresh_database, tmp_path / "objects", import_events_poll_s=0.05) as setup:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(setup.api.app, host="127.0.0.1", port=port, log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, timeout=30)
        try:
            yield Served(setup, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def parse(lines: Iterator[str]) -> Iterator[Event]:
    """Events of a `text/event-stream` (comments and pings skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield Event(fields.get("event", "message"), fields.get("id", ""), json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


class Listener:
    """Reads a job's stream in a thread of its own; `close()` disconnects."""

    def __init__(self, url: str, job_id: str, last_event_id: str | None = None) -> None:
        self.events: list[Event] = []
        self.done = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(60, connect=10))
        headers = bearer(WRITE_KEY) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        self._stream = self._client.stream("GET", f"{url}/imports/{job_id}/events", headers=headers)
        self.response = self._stream.__enter__()
        assert self.response.status_code == 200
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in parse(self.response.iter_lines()):
                self.events.append(event)
        except httpx.HTTPError:
            pass  # closed by close()
        finally:
            self.done.set()

    def close(self) -> None:
        self._stream.__exit__(None, None, None)
        self._client.close()
        self._thread.join(timeout=30)

    def states(self) -> list[str]:
        return [e.data["state"] for e in self.events if e.event == "state"]


def submit(served: Served, rows: int, prefix: str) -> str:
    feed = supplier_feed(prefix, f"Brand {prefix}", rows)
    return str(served.setup.upload(feed.csv())["id"])


def assert_growing(events: list[Event]) -> None:
    positions = [e.position for e in events if e.event != "end"]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions), "an event id was repeated"


def test_a_stream_shows_every_state_and_the_counts_in_order_until_the_end(served: Served, unique: str) -> None:
    job_id = submit(served, 400, f"SSE{unique}")
    listener = Listener(served.url, job_id)
    try:
        wait_until(lambda: any(e.event == "progress" for e in listener.events), timeout=30)
        assert listener.states() == ["PENDING"]
        served.setup.run(job_id)
        assert listener.done.wait(60), "the stream did not end with the job"
    finally:
        listener.close()
    events = listener.events
    assert listener.states() == ["PENDING", "PROCESSING", "COMPLETED_WITH_ERRORS"]
    assert events[-1].event == "end"
    assert events[-1].data == {"state": "COMPLETED_WITH_ERRORS"}
    assert_growing(events)
    progress = [e.data for e in events if e.event == "progress"]
    processed = [p["rows"]["processed"] for p in progress]
    assert processed == sorted(processed)
    final = progress[-1]
    assert final == {**served.setup.job(job_id), "rows_per_second": final["rows_per_second"]}  # GET's fields
    assert final["rows"]["processed"] == 400
    assert final["error_summary"]  # failed rows by category
    assert sum(final["error_summary"].values()) == final["rows"]["failed"]


def test_last_event_id_resumes_without_losing_or_repeating_a_state_change(served: Served, unique: str) -> None:
    job_id = submit(served, 200, f"RES{unique}")
    first = Listener(served.url, job_id)
    wait_until(lambda: any(e.event == "progress" for e in first.events), timeout=30)
    first.close()  # the client goes away while the job is pending...
    seen = first.events[-1].id
    assert first.states() == ["PENDING"]

    served.setup.run(job_id)  # ... and the job runs to its end meanwhile

    again = Listener(served.url, job_id, last_event_id=seen)
    try:
        assert again.done.wait(60)
    finally:
        again.close()
    assert again.states() == ["PROCESSING", "COMPLETED_WITH_ERRORS"]  # what was missed, once, in order
    assert again.events[-1].event == "end"
    assert_growing([*first.events, *again.events])

    # From any event of the whole history, a reconnect gets exactly the rest of the states.
    whole = [*first.events, *again.events]
    for k, event in enumerate(whole):
        if event.event == "end":
            continue
        rest = Listener(served.url, job_id, last_event_id=event.id)
        try:
            assert rest.done.wait(60)
        finally:
            rest.close()
        assert rest.states() == [e.data["state"] for e in whole[k + 1 :] if e.event == "state"], event.id
        assert rest.events[-1].event == "end"


def test_streams_and_downloads_follow_the_jobs_ownership(served: Served, unique: str) -> None:
    job_id = submit(served, 20, f"OWN{unique}")
    served.setup.run(job_id)
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for path in (f"/imports/{job_id}/events", f"/imports/{job_id}/rows.csv", f"/imports/{job_id}/rows.jsonl"):
            assert client.get(path).status_code == 401
            other = client.get(path, headers=bearer(OTHER_WRITE_KEY))
            assert other.status_code == 404, path
            assert other.headers["content-type"] == "application/problem+json"
            assert client.get(path, headers=bearer(ADMIN_KEY)).status_code == 200
            assert client.get(path, headers=bearer(WRITE_KEY)).status_code == 200
        unknown = client.get("/imports/0190a0a0-0000-7000-8000-000000000001/events", headers=bearer(WRITE_KEY))
        assert unknown.status_code == 404


def test_failed_rows_download_as_csv_with_formulas_defused_and_as_json_lines(served: Served, unique: str) -> None:
    prefix = f"DL{unique}"
    feed = supplier_feed(prefix, f"Brand {prefix}", 1000)
    body = feed.csv().decode("utf-8", errors="surrogateescape")
    # Rows whose text a spreadsheet would run: they fail validation (a SKU cannot hold these) and stay in the ledger.
    hostile = ['=HYPERLINK("http://evil")', "+SUM(1)", "-2+3", "@cmd"]
    extra = "".join(f",{sku},Mug,Brand,1.00,EUR,,,\n" for sku in hostile)
    content = body.encode("utf-8", errors="surrogateescape") + extra.encode()
    job_id = str(served.setup.upload(content)["id"])
    job = served.setup.run(job_id)
    failed = served.setup.rows(job_id, status="failed")
    assert job["rows"]["failed"] == len(failed) > len(hostile)

    with httpx.Client(base_url=served.url, headers=bearer(WRITE_KEY), timeout=60) as client:
        with client.stream("GET", f"/imports/{job_id}/rows.csv") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/csv")
            assert response.headers["content-disposition"] == f'attachment; filename="import-{job_id}-failed.csv"'
            assert "content-length" not in response.headers  # streamed, not built whole
            text = response.read().decode()
        table = list(csv.DictReader(io.StringIO(text)))
        assert [int(r["row"]) for r in table] == [r["row"] for r in failed]
        skus = {r["sku"] for r in table}
        for sku in hostile:
            assert "'" + sku in skus
            assert sku not in skus
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in table for cell in r.values())

        lines = client.get(f"/imports/{job_id}/rows.jsonl").text.splitlines()
        entries = [json.loads(line) for line in lines]
        assert entries == failed  # the same entries as /rows lists them, text as it was
        assert {e["sku"] for e in entries} >= set(hostile)

        every = client.get(f"/imports/{job_id}/rows.csv", params={"status": "all"})
        assert len(list(csv.DictReader(io.StringIO(every.text)))) == job["rows"]["processed"]
        assert client.get(f"/imports/{job_id}/rows.csv", params={"status": "nonsense"}).status_code == 422


def test_streams_are_capped(fresh_database: str, tmp_path: Path, unique: str) -> None:
    with import_setup(fresh_database, tmp_path / "objects", import_events_max_streams=1) as setup:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(setup.api.app, host="127.0.0.1", port=port, log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: server.started, timeout=30)
            served = Served(setup, f"http://127.0.0.1:{port}")
            job_id = submit(served, 20, f"CAP{unique}")
            first = Listener(served.url, job_id)
            try:
                wait_until(lambda: first.events, timeout=30)
                second = httpx.get(f"{served.url}/imports/{job_id}/events", headers=bearer(WRITE_KEY), timeout=30)
                assert second.status_code == 503
                assert second.headers["retry-after"]
            finally:
                first.close()
            # The slot is given back when the client goes away.
            wait_until(lambda: _stream_opens(served.url, job_id), timeout=30, interval=0.2)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def _stream_opens(url: str, job_id: str) -> bool:
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", f"{url}/imports/{job_id}/events", headers=bearer(WRITE_KEY)) as response,
    ):
        return response.status_code == 200


def test_jobs_are_found_by_a_sku_of_their_ledger_through_its_index(served: Served, unique: str) -> None:
    mine = submit(served, 20, f"SKU{unique}")
    other = submit(served, 20, f"OTH{unique}")
    for job_id in (mine, other):
        served.setup.run(job_id)
    sku = served.setup.rows(mine)[0]["sku"]
    with served.setup.sessions() as session:
        found = search_jobs(session, text=sku.lower(), states=None, before=None, limit=10)
        assert [str(job.id) for job in found] == [mine]
        assert search_jobs(session, text=f"{mine}", states=None, before=None, limit=10)[0].id == uuid.UUID(mine)
        # The plan reads the ledger through the SKU index, whatever the ledgers' size.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        statement = select(import_rows.c.job_id).where(func.lower(import_rows.c.sku) == sku.lower())
        compiled = statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))
        assert "import_rows_sku" in plan, plan


def test_the_console_retries_failed_rows_of_one_job_or_several(served: Served, unique: str) -> None:
    api, admin = served.setup.api, bearer(ADMIN_KEY)
    with_errors = [submit(served, 20, f"RT{n}{unique}") for n in range(2)]
    clean = str(served.setup.upload(b"sku,name,price,currency\nCLEAN-" + unique.encode() + b",Mug,1.00,EUR\n")["id"])
    for job_id in (*with_errors, clean):
        served.setup.run(job_id)
    assert served.setup.job(clean)["state"] == "COMPLETED"

    one = api.post(f"/console/imports/{with_errors[0]}/retry-failed", headers=admin, follow_redirects=False)
    assert one.status_code == 303
    assert "Retry+of+the+failed+rows+requested" in one.headers["location"]
    assert (served.setup.job(with_errors[0])["state"], served.setup.job(with_errors[0])["mode"]) == ("PENDING", "retry")

    several = api.post(
        "/console/imports/retry-failed", data={"job": [with_errors[1], clean]}, headers=admin, follow_redirects=False
    )
    assert several.status_code == 303
    page = api.get(several.headers["location"], headers=admin).text
    assert "Retry requested for 1 job(s). 1 job(s) had nothing to retry." in page
    assert served.setup.job(with_errors[1])["mode"] == "retry"
    assert served.setup.job(clean)["state"] == "COMPLETED"
    # The list marks a retry run as such.
    assert "retry run" in api.get("/console/imports", params={"q": with_errors[1]}, headers=admin).text


def test_a_job_handed_back_after_an_error_shows_as_retrying(served: Served, unique: str) -> None:
    job_id = submit(served, 20, f"RTY{unique}")
    admin = bearer(ADMIN_KEY)
    page = served.setup.api.get("/console/imports", params={"q": job_id}, headers=admin).text
    assert ">retrying<" not in page
    with served.setup.sessions() as session, session.begin():  # as an importer leaves a job whose run failed
        session.execute(
            text(
                "UPDATE import_jobs SET attempts = 1, last_error = 'OperationalError: server closed', "
                "not_before = now() + interval '1 hour' WHERE id = :id"
            ),
            {"id": job_id},
        )
    page = served.setup.api.get("/console/imports", params={"q": job_id}, headers=admin).text
    assert ">retrying<" in page
    detail = served.setup.api.get(f"/console/imports/{job_id}", headers=admin).text
    assert 'id="job-retrying" class="badge warn" >' in detail  # shown (not hidden)
    assert "OperationalError: server closed" in detail  # the last run's error, for operators
