"""The pure rules behind the live job stream, the ledger files and the console's overview."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from catalog_api.domain.ledger_files import CSV_COLUMNS, csv_cells, spreadsheet_safe
from catalog_api.domain.pipeline import (
    InvalidTargets,
    Sample,
    TargetReport,
    histogram_quantile,
    overview,
    parse_targets,
)
from catalog_api.domain.progress import StreamCursor, next_events, resume_from

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("TEE-001", "TEE-001"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_start_with_an_apostrophe(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


def test_a_csv_row_escapes_feed_text_but_not_our_numbers() -> None:
    entry = {"row": 3, "line": 4, "sku": "=cmd|' /C calc'!A0", "message": "-1 is negative", "attempts": 1}
    cells = csv_cells(entry)
    assert cells[:3] == ["3", "4", "'=cmd|' /C calc'!A0"]
    assert cells[CSV_COLUMNS.index("message")] == "'-1 is negative"
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    assert next(csv.reader(io.StringIO(out.getvalue())))[2] == "'=cmd|' /C calc'!A0"


def view(state: str, processed: int) -> dict[str, object]:
    return {"state": state, "rows": {"processed": processed}}


def test_a_stream_sends_every_transition_then_the_counts_then_the_end() -> None:
    cursor, events = next_events(
        StreamCursor(), [(4, {"state": "PENDING"}), (9, {"state": "PROCESSING"})], T0, view("PROCESSING", 0), False
    )
    assert [(e.event, e.data.get("state")) for e in events] == [
        ("state", "PENDING"),
        ("state", "PROCESSING"),
        ("progress", "PROCESSING"),
    ]
    ids = [e.id for e in events]
    assert ids[0] == "4-0"
    assert ids[1] == "9-0"
    assert ids[2].startswith("9-")
    # Nothing changed: nothing sent.
    same, nothing = next_events(cursor, [], T0, view("PROCESSING", 0), False)
    assert (same, nothing) == (cursor, [])
    _later, more = next_events(
        cursor, [(12, {"state": "COMPLETED"})], T0 + timedelta(seconds=1), view("COMPLETED", 9), True
    )
    assert [e.event for e in more] == ["state", "progress", "end"]
    pairs = [tuple(map(int, i.split("-"))) for i in [*ids, *(e.id for e in more[:2])]]
    assert pairs == sorted(pairs)
    assert len(set(pairs)) == len(pairs)


def test_a_resumed_stream_skips_what_the_client_saw() -> None:
    cursor = resume_from("9-0")
    _, events = next_events(cursor, [(4, {"state": "PENDING"}), (9, {"state": "PROCESSING"})], T0, view("X", 1), False)
    assert [e.event for e in events] == ["progress"]  # the counts were not sent since transition 9


@pytest.mark.parametrize("garbage", [None, "", "abc", "1-", "-1-2", "1-2-3", "9" * 30 + "-1"])
def test_an_unreadable_last_event_id_starts_from_the_beginning(garbage: str | None) -> None:
    assert resume_from(garbage) == StreamCursor()


def test_quantiles_from_cumulative_buckets() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.95)
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_targets_are_read_or_refused_by_position() -> None:
    assert parse_targets("indexer=http://127.0.0.1:8002, outbox-relay=http://127.0.0.1:8006/") == {
        "indexer": "http://127.0.0.1:8002",
        "outbox-relay": "http://127.0.0.1:8006",
    }
    with pytest.raises(InvalidTargets, match="entry 2"):
        parse_targets("indexer=http://x:1,enricher")


def test_the_overview_prefers_metrics_and_falls_back_to_readiness() -> None:
    relay = TargetReport(
        "outbox-relay",
        "http://r",
        {"ready": True, "backlog": 7, "oldest_unpublished_s": 1.5, "role": "leader"},
        [Sample("catalog_consumer_group_lag", {"group": "catalog-indexer", "lane": "bulk", "partition": "0"}, 40.0)],
    )
    indexer = TargetReport(
        "indexer",
        "http://i",
        {"ready": True, "problems": [], "lag_by_lane": {"interactive": 2, "bulk": 3}, "processed": 10},
        [
            Sample("catalog_consumer_records_per_second", {"processor": "indexer"}, 12.5),
            Sample("catalog_index_freshness_seconds_bucket", {"le": "0.1"}, 10.0),
            Sample("catalog_index_freshness_seconds_bucket", {"le": "+Inf"}, 10.0),
        ],
    )
    media = TargetReport("media", "http://m", error="no answer")
    view = overview([relay, indexer, media])
    [row, down] = view.processors
    assert row.lag == {"interactive": 2, "bulk": 40.0}  # the broker's view of the group wins where it exists
    assert row.records_per_second == 12.5
    assert row.processed == 10
    assert (down.reachable, down.ready, down.problems) == (False, None, ["no answer"])
    assert view.backlog == {"interactive": None, "bulk": None, "all": 7}
    assert view.freshness["p50"] == pytest.approx(0.05)
