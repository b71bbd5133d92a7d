"""Lineage rules over what the stores hold, and the trace-context helpers every service uses (no SDK needed)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from catalog_api.domain.lineage import AFTER, STAGES, ProductRecords, Stage, State, product_lineage
from catalog_kit import tracing

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


DONE = ProductRecords(
    version=3,
    persisted_at=T0,
    published=(at(10),),
    core_version=3,
    core_indexed_at=at(20),
    deleted_in_index=False,
    enrichment_version=3,
    enriched_at=at(15),
    indexed_enrichment_version=3,
    enrichment_indexed_at=at(40),
    images=["https://img.example/a.jpg"],
    media_sources=["https://img.example/a.jpg"],
    media_pending=0,
    media_version=2,  # an unchanged image list is not processed again for a new version
    media_at=at(30),
)


def states(records: ProductRecords) -> dict[Stage, State]:
    return {view.stage: view.state for view in product_lineage(records)}


def test_every_stage_done_with_times_since_persisted() -> None:
    views = product_lineage(DONE)
    assert [v.stage for v in views] == list(STAGES)
    assert {v.state for v in views} == {State.DONE}
    assert [v.since_persisted_ms for v in views] == [0.0, 10.0, 20.0, 15.0, 40.0, 30.0]
    assert views[-1].version == 2
    assert AFTER[Stage.INDEXED_FULL] is Stage.ENRICHED


def test_a_store_holding_an_older_version_is_pending_and_says_which() -> None:
    records = replace(DONE, enrichment_version=2, indexed_enrichment_version=2)
    views = {v.stage: v for v in product_lineage(records)}
    assert views[Stage.ENRICHED].state is State.PENDING
    assert views[Stage.ENRICHED].version == 2
    assert views[Stage.ENRICHED].at is None
    assert views[Stage.INDEXED_FULL].state is State.PENDING
    assert views[Stage.INDEXED_FAST].state is State.DONE


def test_a_newer_version_in_a_store_counts_as_reached() -> None:
    assert states(replace(DONE, enrichment_version=4))[Stage.ENRICHED] is State.DONE


def test_publish_time_past_retention_is_expired_only_when_a_later_stage_has_the_version() -> None:
    assert states(replace(DONE, published=None))[Stage.PUBLISHED] is State.EXPIRED
    nothing_yet = replace(DONE, published=None, core_version=None, enrichment_version=None)
    assert states(nothing_yet)[Stage.PUBLISHED] is State.PENDING
    assert states(replace(DONE, published=(None,)))[Stage.PUBLISHED] is State.PENDING


def test_a_tombstone_in_the_index_is_not_indexed() -> None:
    assert states(replace(DONE, deleted_in_index=True))[Stage.INDEXED_FAST] is State.PENDING


def test_media_is_not_applicable_without_images_and_pending_until_the_listed_images_are_settled() -> None:
    assert states(replace(DONE, images=[], media_sources=[]))[Stage.MEDIA_PROCESSED] is State.NOT_APPLICABLE
    other_list = replace(DONE, images=["https://img.example/b.jpg"])
    assert states(other_list)[Stage.MEDIA_PROCESSED] is State.PENDING
    assert states(replace(DONE, media_pending=1))[Stage.MEDIA_PROCESSED] is State.PENDING
    removed = replace(DONE, images=[])  # rows of images no longer listed: not yet cleaned up
    assert states(removed)[Stage.MEDIA_PROCESSED] is State.PENDING


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_traceparent_round_trips_through_a_context() -> None:
    context = tracing.context_of(TRACEPARENT)
    assert context is not None
    assert tracing.traceparent_of(trace.get_current_span(context)) == TRACEPARENT
    assert tracing.context_of(None) is None
    assert tracing.context_of("00-" + "0" * 32 + "-" + "0" * 16 + "-01") is None  # all-zero ids are invalid


def test_without_a_current_span_there_is_no_traceparent_and_traces_are_off() -> None:
    assert tracing.current_traceparent() is None
    assert not tracing.enabled()


def test_links_are_distinct_and_capped() -> None:
    parents = [TRACEPARENT, TRACEPARENT, None, "garbage"]
    parents += [f"00-{n:032x}-{n:016x}-01" for n in range(1, 300)]
    links = tracing.links_to(parents)
    assert len(links) == tracing.MAX_LINKS
    assert links[0].context.trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
    assert len({(link.context.trace_id, link.context.span_id) for link in links}) == len(links)


def test_the_current_span_is_what_an_outbox_row_carries() -> None:
    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1)))
    with trace.use_span(span):
        assert tracing.current_traceparent() == f"00-{0xABC:032x}-{0xDEF:016x}-01"


def test_an_unknown_exporter_fails_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="zipkin"):
        tracing.configure("indexer")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.configure("indexer") is False
