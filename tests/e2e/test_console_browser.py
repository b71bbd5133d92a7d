"""The operator console in a real browser (Debian's Chromium driven by Playwright) against the running platform:
log in, read the overview, watch an import progress live, open a failed row, download the failed rows, replay a
dead letter and see it handled, discard another; subscribe a receiver to webhooks, send it a test event and
redeliver it. Screenshots of every page go to `.local/test/artifacts/console/`.
"""

import csv
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from playwright.sync_api import Browser, Page, expect, sync_playwright

from catalog_schemas.topics import PROCESSORS, PRODUCT, dead_letter_topic
from catalog_stack.browser import chromium
from catalog_stack.infra import Endpoints
from catalog_webhooks.domain.signing import verify
from tests.conftest import ADMIN_KEY, ROOT, WRITE_KEY, System
from tests.feeds import supplier_feed
from tests.support import consume, wait_until
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
ARTIFACTS = ROOT / ".local" / "test" / "artifacts" / "console"
HOSTILE_SKUS = ('=HYPERLINK("http://evil.example","x")', "+SUM(1,2)", "@cmd")
WAIT_MS = 90_000  # generous: two cores shared by the whole platform


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()  # installed from Debian on first need; fails (never skips) without one
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Page, system: System, key: str) -> None:
    page.goto(f"{system.api_url}/console")
    expect(page).to_have_url(f"{system.api_url}/console/login?next=%2Fconsole")
    page.fill("#key", key)
    page.click("button[type=submit]")


def test_the_console_in_a_browser(running_system: System, endpoints: Endpoints, page: Page, unique: str) -> None:
    # A key without the admin scope is refused; the admin key gets in.
    log_in(page, running_system, WRITE_KEY)
    expect(page.locator(".alert")).to_contain_text("does not have the admin scope")
    shot(page, "01-login-refused")
    log_in(page, running_system, ADMIN_KEY)
    expect(page).to_have_url(f"{running_system.api_url}/console")

    # Overview: every processor, read from its health port (the page is read again until all are ready: an
    # earlier test may have restarted one).
    expect(page.locator("#processors tbody tr")).to_have_count(len(PROCESSORS))

    def all_ready() -> bool:
        page.reload()
        badges = [page.locator(f"tr[data-processor={name}] .badge").inner_text() for name in PROCESSORS]
        return all(badge == "ready" for badge in badges)

    wait_until(all_ready, timeout=120, interval=1)
    shot(page, "02-overview")

    watch_an_import(page, running_system, unique)
    replay_and_discard_dead_letters(page, running_system, endpoints, unique)

    for section, name in (("enrichment", "10-enrichment"), ("webhooks", "11-webhooks")):
        page.click(f"nav a[data-nav={section}]")
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)

    page.click(".logout button")
    expect(page).to_have_url(f"{running_system.api_url}/console/login")
    page.goto(f"{running_system.api_url}/console/imports")
    expect(page).to_have_url(f"{running_system.api_url}/console/login?next=%2Fconsole%2Fimports")


def watch_an_import(page: Page, system: System, unique: str) -> None:
    """The job page, opened before the job runs, follows it live to its end without a reload."""
    prefix = f"UI{unique}"
    feed = supplier_feed(prefix, f"Brand {prefix}", 6000)
    lines = io.StringIO()
    csv.writer(lines, lineterminator="\n").writerows(
        ["", sku, "Mug", "Brand", "1.00", "EUR", "", "", ""] for sku in HOSTILE_SKUS
    )
    hostile = lines.getvalue().encode()
    system.process("importer").stop()  # the job waits until the page watches it
    try:
        upload = httpx.post(
            f"{system.api_url}/imports",
            files={"file": (f"{prefix}.csv", feed.csv() + hostile, "text/csv")},
            data={"format": "csv"},
            headers={"Authorization": f"Bearer {WRITE_KEY}"},
            timeout=60,
        )
        assert upload.status_code == 202, upload.text
        job_id = upload.json()["id"]

        page.click("nav a[data-nav=imports]")
        page.fill("input[name=q]", f"{prefix}.csv")
        page.click("form.filters button[type=submit]")
        expect(page.locator(f"tr[data-job='{job_id}']")).to_be_visible()
        shot(page, "03-imports")
        page.click(f"tr[data-job='{job_id}'] a")
        expect(page.locator("#job-state .badge")).to_have_text("pending")
        expect(page.locator("#live")).to_be_visible()
        # Record every count the page shows, as the stream updates it.
        page.evaluate(
            """() => {
                const shown = document.getElementById('rows-processed');
                window.shownCounts = [shown.textContent];
                new MutationObserver(() => window.shownCounts.push(shown.textContent))
                    .observe(shown, {childList: true, characterData: true, subtree: true});
            }"""
        )
        # Small chunks, so the job moves in visible steps.
        system.restart("importer", IMPORT_CHUNK_ROWS="150")
        page.wait_for_function("() => Number(document.getElementById('rows-processed').textContent) > 0")
        shot(page, "04-import-live")
        expect(page.locator("#job-state .badge")).to_have_text("completed with errors", timeout=180_000)
    finally:
        system.restart("importer")
    expect(page.locator("#live")).to_be_hidden()
    shown: list[str] = page.evaluate("() => window.shownCounts")
    counts = [int(c) for c in shown if c.strip().isdigit()]
    total = len(feed.rows) + len(HOSTILE_SKUS)
    assert counts[-1] == total
    assert len({c for c in counts if c > 0}) >= 2, f"the count did not rise live: {counts}"
    assert counts == sorted(counts)
    expect(page.locator("#rows-failed")).not_to_have_text("0")
    expect(page.locator("#history .badge")).to_have_count(3)  # pending, processing, completed with errors
    shot(page, "05-import-finished")

    # A failed row, opened from the ledger (which the page fetched when the job ended).
    page.locator("#ledger tbody tr[data-status=failed]").first.locator("a").click()
    expect(page.locator("#row-status")).to_have_text("failed")
    expect(page.locator("#row-message")).not_to_have_text("—")
    shot(page, "06-failed-row")
    page.go_back()

    # The failed rows as CSV: what a spreadsheet would run starts with an apostrophe.
    with page.expect_download() as download:
        page.click("#download-csv")
    path = download.value.path()
    assert download.value.suggested_filename == f"import-{job_id}-failed.csv"
    table = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    skus = {row["sku"] for row in table}
    for sku in HOSTILE_SKUS:
        assert "'" + sku in skus
    assert len(table) == int(page.locator("#rows-failed").inner_text())


def dead_letter(endpoints: Endpoints, key: str, event_type: str, data: dict[str, Any], error: str) -> None:
    """What the indexer would have dead-lettered: a valid event (so a replay sends it), with the `dlq_*` headers."""
    headers: list[tuple[str, str | bytes | None]] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", event_type.encode()),
        ("ce_source", b"/test"),
        ("ce_time", b"2026-11-24T10:00:00+00:00"),
        ("ce_subject", key.encode()),
        ("dlq_processor", b"indexer"),
        ("dlq_error", error.encode()),
        ("dlq_attempts", b"4"),
        ("dlq_topic", PRODUCT.name.encode()),
        ("dlq_partition", b"0"),
        ("dlq_offset", b"0"),
        ("dlq_time", str(time.time()).encode()),
    ]
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap_servers})
    value = json.dumps(data).encode()
    producer.produce(dead_letter_topic("indexer").name, key=key.encode(), value=value, headers=headers)
    assert producer.flush(10) == 0


def searchable(system: System, token: str) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = httpx.get(f"{system.search_url}/search", params={"q": token}, timeout=30).json()[
        "hits"
    ]
    return hits


def replay_and_discard_dead_letters(page: Page, system: System, endpoints: Endpoints, unique: str) -> None:
    """A replayed record is handled by the indexer (the newer version it carries becomes searchable); a discarded
    one is hidden from the open list and shown with what was done."""
    token = f"dlq{unique}"
    created = httpx.post(
        f"{system.api_url}/products",
        json={"sku": f"DLQ-{token}", "name": f"Dead letter {token}", "price": "2.00", "currency": "EUR"},
        headers={"Authorization": f"Bearer {WRITE_KEY}"},
        timeout=30,
    )
    assert created.status_code == 201
    product = created.json()
    wait_until(lambda: searchable(system, token), timeout=60, interval=0.2)
    # The product's next version, as if the indexer had failed on it: its name carries a word nothing else has.
    # (read in a thread of its own: the browser's driver holds this thread's event loop)
    with ThreadPoolExecutor(1) as pool:
        read = pool.submit(
            consume, endpoints.kafka_bootstrap_servers, PRODUCT.name, [product["id"]], 1, 60.0, ["product.created"]
        )
        [published] = read.result()
    renamed = f"renamed{unique}"
    newer = {**published.event.data, "version": product["version"] + 1, "name": f"Dead letter {token} {renamed}"}
    error = f"RuntimeError: search database unavailable ({token})"
    dead_letter(endpoints, product["id"], "product.updated", newer, error)
    other = str(uuid.uuid4())
    gone = {"id": other, "sku": f"GONE-{token}", "version": 3, "deleted_at": "2026-11-24T10:00:00+00:00"}
    dead_letter(endpoints, other, "product.deleted", gone, f"RuntimeError: not needed ({token})")

    page.click("nav a[data-nav=dead-letters]")
    page.click("a[data-processor=indexer]")
    page.fill("input[name=q]", token)
    page.click("form.filters button[type=submit]")
    expect(page.locator("#letters tbody tr")).to_have_count(2)
    shot(page, "07-dead-letters")

    # Inspect one: headers and payload.
    page.locator(f"tr[data-key='{product['id']}'] td a").click()
    expect(page.locator("#headers")).to_contain_text("dlq_error")
    expect(page.locator("#payload")).to_contain_text(renamed)
    shot(page, "08-dead-letter")

    def renamed_in_search() -> bool:
        return any(hit["id"] == product["id"] and renamed in hit["name"] for hit in searchable(system, renamed))

    assert not renamed_in_search()
    page.click("button.primary:has-text('Replay')")
    expect(page.locator(".notice")).to_contain_text("Replayed 1 record")
    wait_until(lambda: renamed_in_search(), timeout=90, interval=0.3)  # the indexer handled it

    # Discard the other from the list.
    page.fill("input[name=q]", token)
    page.click("form.filters button[type=submit]")
    expect(page.locator("#letters tbody tr")).to_have_count(1)
    page.check(f"tr[data-key='{other}'] input[type=checkbox]")
    page.click("button.danger:has-text('Discard selected')")
    expect(page.locator(".notice")).to_contain_text("Discarded 1 record")
    page.fill("input[name=q]", token)
    page.check("input[name=show][value=all]")
    page.click("form.filters button[type=submit]")
    expect(page.locator(f"tr[data-key='{product['id']}'] .badge")).to_have_text("replayed")
    expect(page.locator(f"tr[data-key='{other}'] .badge")).to_have_text("discarded")
    shot(page, "09-dead-letters-resolved")


def test_webhooks_in_the_console(
    running_system: System, webhook_host: WebhookReceiver, page: Page, unique: str
) -> None:
    """Subscribe a receiver from the console, send it a test event, see it delivered, redeliver it from the page."""
    path = f"/console/{unique}"
    log_in(page, running_system, ADMIN_KEY)
    expect(page).to_have_url(f"{running_system.api_url}/console")
    expect(page.locator("#webhooks-tile")).to_contain_text("pending")
    page.click("nav a[data-nav=webhooks]")
    expect(page.locator("h1")).to_have_text("Webhooks")

    # An internal address is refused on the form, with the field named; nothing is made.
    page.fill("#url", "http://10.0.0.1/hook")
    page.check("input[name=event_type][value='import.failed']")
    page.click("#subscribe button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("URL: refused by the outbound policy")
    expect(page.locator("#secret-once")).to_have_count(0)

    page.fill("#url", webhook_host.url(path))
    page.fill("#description", f"console {unique}")
    page.click("#subscribe button[type=submit]")
    expect(page.locator("#secret-once")).to_contain_text("Copy the signing secret now")
    secret = page.input_value("#secret")
    assert secret.startswith("whsec_")
    action = page.get_attribute("form[action$='/test']", "action")
    assert action is not None
    subscription_id = action.split("/")[3]  # /console/webhooks/<id>/test
    expect(page.locator("#active")).to_have_text("active")

    page.click("#send-test")
    expect(page.locator(".notice")).to_contain_text("Test event queued")
    expect(page.locator("#secret-once")).to_have_count(0)  # shown once: gone on the next page
    [first] = wait_until(lambda: webhook_host.at(path) or None, timeout=120, interval=0.2)
    verify(secret, first.headers, first.body)
    assert json.loads(first.body)["type"] == "webhook.test"
    webhook_id = first.headers["webhook-id"]
    row = page.locator(f"tr[data-webhook-id='{webhook_id}']")

    def shows(state: str, attempts: int) -> bool:
        page.reload()
        return (
            row.locator(".badge[data-state]").get_attribute("data-state") == state
            and row.locator(".attempts li").count() == attempts
        )

    wait_until(lambda: shows("delivered", 1), timeout=120, interval=0.5)
    expect(row.locator(".attempts li").first).to_contain_text("HTTP 200")

    row.locator("button.redeliver").click()
    expect(page.locator(".notice")).to_contain_text("Redelivery queued")
    second = wait_until(lambda: webhook_host.at(path)[1:] or None, timeout=120, interval=0.2)[0]
    assert second.headers["webhook-id"] == webhook_id  # the same message: receivers deduplicate on it
    assert second.body == first.body
    verify(secret, second.headers, second.body)
    wait_until(lambda: shows("delivered", 2), timeout=120, interval=0.5)
    shot(page, "13-webhook-deliveries")

    page.click("nav a[data-nav=webhooks]")
    listed = page.locator(f"tr[data-subscription='{subscription_id}']")
    expect(listed).to_contain_text(webhook_host.url(path))
    expect(listed.locator("[data-count=pending]")).to_have_text("0")
    expect(listed.locator("[data-count=failed]")).to_have_text("0")
    shot(page, "12-webhooks")

    # Deactivated, it is sent nothing more (the other tests' events included).
    listed.locator("a").click()
    page.click("#deactivate")
    expect(page.locator("#active")).to_have_text("inactive")
    assert len(webhook_host.at(path)) == 2
