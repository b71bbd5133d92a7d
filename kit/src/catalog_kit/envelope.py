"""CloudEvents 1.0 envelope in Kafka binary mode: attributes travel as `ce_*` headers, the body is the JSON data."""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from catalog_schemas import CANONICAL_BASE_URL, Lane, schema_uri

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

KafkaHeaders = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


class EnvelopeError(ValueError):
    """A Kafka record that is not a well-formed binary-mode CloudEvent."""


def valid_traceparent(value: str | None) -> str | None:
    """The W3C traceparent if it is well-formed; a malformed one is dropped rather than propagated."""
    if value and _TRACEPARENT.match(value.strip().lower()):
        return value.strip().lower()
    return None


@dataclass(frozen=True)
class EventEnvelope:
    """One catalog event: CloudEvents attributes plus the JSON data."""

    type: str
    source: str
    subject: str
    data: Mapping[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = None
    lane: Lane = Lane.INTERACTIVE  # bulk work's events, and what is derived from them, travel in the bulk lane

    def headers(self, schema_base_url: str = CANONICAL_BASE_URL) -> dict[str, str]:
        """The Kafka headers of this event (stored with the outbox row, sent as they are).

        `ce_dataschema` is the schema's URL under `schema_base_url`: the deployment's PUBLIC_BASE_URL, where the
        product API serves it.
        """
        headers = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_source": self.source,
            "ce_time": self.time.isoformat(),
            "ce_subject": self.subject,
            "ce_dataschema": schema_uri(self.type, schema_base_url),
            "content-type": CONTENT_TYPE,
            "ce_lane": self.lane.value,
        }
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        return headers

    def body(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":")).encode()

    @classmethod
    def from_kafka(cls, headers: KafkaHeaders | None, value: bytes | None) -> "EventEnvelope":
        """Decode a consumed record; raises EnvelopeError naming what is missing or malformed."""
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
        attrs = {k: (v.decode(errors="replace") if isinstance(v, bytes) else v) for k, v in pairs}
        missing = [h for h in ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time") if not attrs.get(h)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        if attrs["ce_specversion"] != SPEC_VERSION:
            raise EnvelopeError(f"unsupported ce_specversion {attrs['ce_specversion']!r}")
        try:
            data = json.loads(value or b"")
            time = datetime.fromisoformat(str(attrs["ce_time"]))
        except ValueError as exc:
            raise EnvelopeError(f"undecodable event: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("event data must be a JSON object")
        return cls(
            type=str(attrs["ce_type"]),
            source=str(attrs["ce_source"]),
            subject=str(attrs.get("ce_subject") or ""),
            data=data,
            id=str(attrs["ce_id"]),
            time=time,
            traceparent=valid_traceparent(attrs.get("traceparent")),
            lane=Lane.BULK if attrs.get("ce_lane") == Lane.BULK else Lane.INTERACTIVE,
        )
