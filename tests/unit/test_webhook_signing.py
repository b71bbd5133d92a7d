"""Webhook signatures (Standard Webhooks style) and the retry schedule: pure rules, no I/O."""

import base64
import hashlib
import hmac
import random

import pytest

from catalog_core.domain.webhooks import new_secret, secret_key
from catalog_webhooks.domain.backoff import RetrySchedule
from catalog_webhooks.domain.signing import InvalidSignature, signature, signed_headers, verify

# A fixed secret: 32 bytes 0x00..0x1f, base64-encoded after the prefix.
KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"type":"import.completed","timestamp":"2026-12-05T06:00:00+00:00","data":{"job_id":"j"}}'


def independent_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The spec's construction, written out here without the code under test."""
    mac = hmac.new(key, message_id.encode() + b"." + str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body() -> None:
    assert signature(SECRET, "msg_1", 1_764_914_400, BODY) == independent_signature(KEY, "msg_1", 1_764_914_400, BODY)
    # A known vector, so that a change of the construction on both sides at once is caught too.
    assert signature(SECRET, "msg_1", 1_764_914_400, b"{}") == independent_signature(
        bytes(range(32)), "msg_1", 1_764_914_400, b"{}"
    )


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(secret_key(first)) == 32
    assert first != second


def test_a_signed_delivery_verifies() -> None:
    headers = signed_headers(SECRET, "msg_1", 1000, BODY)
    verify(SECRET, headers, BODY, now=1000)
    verify(SECRET, {k.title(): v for k, v in headers.items()}, BODY, now=1000 + 299)  # header names any case


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda h, b: (h, b + b" "), "body changed"),
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), "another id"),
        (lambda h, b: ({**h, "webhook-timestamp": "1001"}, b), "another timestamp"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "no signature"),
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "a wrong signature"),
        (lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b), "version"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not a number"),
    ],
)
def test_a_changed_delivery_does_not_verify(change: object, why: str) -> None:
    headers, body = change(signed_headers(SECRET, "msg_1", 1000, BODY), BODY)  # type: ignore[operator]
    with pytest.raises(InvalidSignature):
        verify(SECRET, headers, body, now=1000)


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(InvalidSignature):
        verify(new_secret(), signed_headers(SECRET, "msg_1", 1000, BODY), BODY, now=1000)


def test_an_old_or_future_timestamp_is_refused() -> None:
    headers = signed_headers(SECRET, "msg_1", 1000, BODY)
    for now in (1000 + 301, 1000 - 301):
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify(SECRET, headers, BODY, now=now)
    verify(SECRET, headers, BODY, now=1000 + 3600, tolerance_s=3600)


def test_one_matching_signature_among_several_is_enough() -> None:
    headers = signed_headers(SECRET, "msg_1", 1000, BODY)
    headers["webhook-signature"] = "v1,b2xkIHNpZ25hdHVyZQ== " + headers["webhook-signature"]
    verify(SECRET, headers, BODY, now=1000)


def test_the_backoff_doubles_up_to_its_cap_and_gives_up_after_the_last_attempt() -> None:
    schedule = RetrySchedule(max_attempts=8, base_s=30, cap_s=600, jitter=0.0)
    delays = [schedule.delay_after(n) for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 600, 600, None]
    assert schedule.longest_total_s() == 30 + 60 + 120 + 240 + 480 + 600 + 600


def test_jitter_only_shortens_a_delay_and_by_at_most_its_share() -> None:
    schedule = RetrySchedule(max_attempts=8, base_s=30, cap_s=3600, jitter=0.2)
    rand = random.Random(7)
    for attempt in range(1, 8):
        nominal = min(3600, 30 * 2 ** (attempt - 1))
        delays = [schedule.delay_after(attempt, rand) for _ in range(200)]
        assert all(d is not None and nominal * 0.8 <= d <= nominal for d in delays)
        assert len(set(delays)) > 1  # spread, so receivers that come back are not hit all at once


def test_the_default_schedule_spans_a_few_hours() -> None:
    total = RetrySchedule().longest_total_s()
    assert 2 * 3600 <= total <= 6 * 3600
