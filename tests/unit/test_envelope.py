"""CloudEvents binary-mode envelope: the headers we write are the headers we can read back."""

import pytest

from catalog_kit.envelope import EnvelopeError, EventEnvelope, valid_traceparent

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_headers_round_trip() -> None:
    envelope = EventEnvelope(
        type="product.created",
        source="/catalog/product-api",
        subject="p-1",
        data={"id": "p-1"},
        traceparent=TRACEPARENT,
    )
    headers = envelope.headers()
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_subject"] == "p-1"
    assert headers["content-type"] == "application/json"
    assert headers["ce_dataschema"] == "https://catalog.example/schemas/product.created.v1.json"
    rebased = envelope.headers("http://api.test:8000/")["ce_dataschema"]
    assert rebased == "http://api.test:8000/schemas/product.created.v1.json"
    decoded = EventEnvelope.from_kafka([(k, v.encode()) for k, v in headers.items()], envelope.body())
    assert decoded == envelope


def test_missing_headers_are_named() -> None:
    with pytest.raises(EnvelopeError, match="ce_id, ce_type"):
        EventEnvelope.from_kafka([("ce_specversion", b"1.0"), ("ce_source", b"x"), ("ce_time", b"2026-01-01")], b"{}")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_bad_bodies_are_refused(body: bytes) -> None:
    headers = EventEnvelope(type="t", source="s", subject="x", data={}).headers()
    with pytest.raises(EnvelopeError):
        EventEnvelope.from_kafka(list(headers.items()), body)


def test_malformed_traceparent_is_dropped_not_propagated() -> None:
    assert valid_traceparent(TRACEPARENT.upper()) == TRACEPARENT
    assert valid_traceparent("00-xyz") is None
    assert valid_traceparent(None) is None
