"""The AsyncAPI 3.0 document of the platform's topics, generated from the topic registry and the JSON Schemas.

`python -m catalog_schemas.asyncapi --write` rewrites the committed `schemas/asyncapi.json`; without arguments the
document is printed; `--check` exits 1 when the committed file is not what the registry generates. The product API
serves the same document at `/asyncapi.json`, with `$id`s under its PUBLIC_BASE_URL.

The document is written from the platform's side: it *sends* every record on these topics, and a downstream team
receives them. Each event schema is embedded as a bundled JSON Schema (draft 2020-12): the files it refers to sit
in its `$defs` under their own `$id`, so it validates without fetching anything.
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from catalog_schemas import (
    CANONICAL_BASE_URL,
    schema_document,
    schema_file_name,
    schema_names,
    schema_url,
)
from catalog_schemas.topics import DEAD_LETTER_HEADERS, PROCESSORS, TOPICS, Topic

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
# Our schemas are draft 2020-12; AsyncAPI lets a document name any schema format by media type.
SCHEMA_FORMAT = "application/schema+json;version=2020-12"
KAFKA_BINDING_VERSION = "0.5.0"
COMMITTED = Path(__file__).resolve().parents[2] / "asyncapi.json"

_TRACEPARENT = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_DEAD_LETTER = "deadLetter"

_DESCRIPTION = """\
Every record the catalog platform produces on Kafka.

**Envelope.** CloudEvents 1.0 in Kafka binary mode: the record value is the event data as UTF-8 JSON; the \
attributes travel as headers (`ce_specversion`, `ce_id`, `ce_type`, `ce_source`, `ce_time`, `ce_subject`, \
`ce_dataschema`, `content-type`, and `traceparent` when the change is part of a trace). `ce_type` selects the \
message and its schema.

**Keys and order.** A record's key is its aggregate's id (a product's events are keyed by the product id and equal \
`ce_subject`), so all events of one product land on one partition in the order they were committed.

**Lanes.** Product events travel in two lanes with the same contract and key: `catalog.product.v1` \
(interactive: API writes and uploads) and `catalog.product.bulk.v1` (bulk: imports, media regeneration, \
re-announcements), so that a million-row import never queues in front of a shopper-facing edit. The header \
`ce_lane` names the lane. Order per product holds within a lane, not across the two: a consumer that needs every \
change reads both topics and keeps the highest `version` per product, which is what the rule below asks anyway.

**Delivery.** At least once: a consumer may see an event again, for example after a relay failover; duplicates \
carry the same `ce_id`. For product events keep the highest `version` seen per product and drop anything older or \
equal: that makes a consumer idempotent and order-safe. Ignore properties you do not know.

**Schemas.** Every schema has an absolute `$id`, `<PUBLIC_BASE_URL>/schemas/<type>.v<major>.json`, where the \
product API serves it; `ce_dataschema` names the same URL. In the repository's copy of this document the base is \
the placeholder `https://catalog.example`; a deployment serves this document at `<PUBLIC_BASE_URL>/asyncapi.json` \
with its own base.

**Compatibility.** Within a major version a schema only gains optional properties and prose; removing or renaming \
a property, making a required one optional, or changing a type, enum, pattern, format or bound needs a new major \
version: a new schema file (`….v2.json`) and, for data on a topic, a new topic (`catalog.product.v2`) produced \
side by side until consumers have moved. A released schema is checked against every change by the platform's \
test suite.
"""


def document(base_url: str = CANONICAL_BASE_URL) -> dict[str, Any]:
    """The AsyncAPI document, with schema `$id`s under `base_url`."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventsHeaders": _cloudevents_headers(), "DeadLetterHeaders": _dlq_headers()}
    for topic in TOPICS:
        if topic.event_types:
            channel_messages = {t: {"$ref": f"#/components/messages/{t}"} for t in topic.event_types}
            for event_type in topic.event_types:
                name = _schema_key(event_type)
                schemas[name] = {
                    "schemaFormat": SCHEMA_FORMAT,
                    "schema": bundled(schema_file_name(event_type), base_url),
                }
                messages[event_type] = _event_message(topic, event_type, schemas[name]["schema"], base_url)
        else:
            channel_messages = {_DEAD_LETTER: {"$ref": f"#/components/messages/{_DEAD_LETTER}"}}
        channels[topic.name] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description}\n\nKey: {topic.key}. Partitions: {topic.partitions} (local stack; "
            "a deployment may have more, the key still decides the partition).",
            "messages": channel_messages,
            "bindings": {
                "kafka": {"topic": topic.name, "partitions": topic.partitions, "bindingVersion": KAFKA_BINDING_VERSION}
            },
        }
        operations[f"send.{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{_pointer(topic.name)}"},
            "title": f"Produce {topic.name}",
            "summary": _operation_summary(topic),
            "messages": [
                {"$ref": f"#/channels/{_pointer(topic.name)}/messages/{_pointer(m)}"} for m in channel_messages
            ],
        }
    messages[_DEAD_LETTER] = _dead_letter_message()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "Catalog platform events", "version": DOCUMENT_VERSION, "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "title": "The deployment's Kafka cluster",
                "description": "A placeholder: the brokers are whatever the deployment sets as "
                "KAFKA_BOOTSTRAP_SERVERS (client security settings as in KAFKA_CLIENT_EXTRA).",
                "variables": {
                    "bootstrap": {
                        "default": "kafka.example:9092",
                        "description": "A broker of KAFKA_BOOTSTRAP_SERVERS, host:port.",
                    }
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def bundled(name: str, base_url: str = CANONICAL_BASE_URL) -> dict[str, Any]:
    """The schema file `name` with every schema file it refers to embedded in its `$defs`, each under its `$id`.

    JSON Schema 2020-12 resolves a `$ref` to an embedded resource by `$id`, so the relative references keep working
    and the result needs nothing from outside.
    """
    root = schema_document(name, base_url)
    embedded: dict[str, Any] = {}
    pending = _file_refs(root)
    while pending:
        target = pending.pop()
        if target == name or target in embedded:
            continue
        embedded[target] = schema_document(target, base_url)
        pending |= _file_refs(embedded[target])
    if embedded:
        root["$defs"] = {**root.get("$defs", {}), **dict(sorted(embedded.items()))}
    return root


def _file_refs(schema: Any) -> set[str]:
    """The schema files that `schema` refers to (by relative or absolute `$ref`)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                target = value.split("#", 1)[0].rsplit("/", 1)[-1]
                if target not in schema_names():
                    raise LookupError(f"$ref to an unknown schema file: {value}")
                found.add(target)
            else:
                found |= _file_refs(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _file_refs(value)
    return found


def _schema_key(event_type: str) -> str:
    return schema_file_name(event_type).removesuffix(".json")


def _pointer(name: str) -> str:
    """`name` as one JSON Pointer segment."""
    return name.replace("~", "~0").replace("/", "~1")


def _operation_summary(topic: Topic) -> str:
    if topic.event_types:
        return f"The platform produces {', '.join(topic.event_types)} here."
    return "A stream processor publishes here what it could not process."


def _event_message(topic: Topic, event_type: str, schema: dict[str, Any], base_url: str) -> dict[str, Any]:
    data_schema = schema_url(schema_file_name(event_type), base_url)
    return {
        "name": event_type,
        "title": event_type,
        "description": schema.get("description", ""),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "allOf": [
                {"$ref": "#/components/schemas/CloudEventsHeaders"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"type": "string", "const": event_type},
                        "ce_subject": {"type": "string", "description": f"Equals the record key: {topic.key}."},
                        "ce_dataschema": {
                            "type": "string",
                            "format": "uri",
                            "description": f"This message's schema, served at `{data_schema}` "
                            "(under the deployment's PUBLIC_BASE_URL).",
                            "pattern": f"/schemas/{re.escape(schema_file_name(event_type))}$",
                        },
                    },
                },
            ],
        },
        "payload": {"$ref": f"#/components/schemas/{_schema_key(event_type)}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": topic.key},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _cloudevents_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary mode, as record headers (UTF-8 strings).",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_type",
            "ce_source",
            "ce_time",
            "ce_subject",
            "ce_dataschema",
            "content-type",
        ],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0", "description": "CloudEvents version."},
            "ce_id": {
                "type": "string",
                "format": "uuid",
                "description": "Unique per event; a duplicate delivery carries the same id, so deduplicate on it.",
            },
            "ce_type": {"type": "string", "description": "The event type; selects the message and its schema."},
            "ce_source": {
                "type": "string",
                "format": "uri-reference",
                "description": "The producing service, e.g. `/catalog/product-api`, `/catalog/enricher`, "
                "`/catalog/media`.",
            },
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When the change was committed (RFC 3339).",
            },
            "ce_subject": {
                "type": "string",
                "description": "The aggregate's id (the product id for product events); equals the record key.",
            },
            "ce_dataschema": {
                "type": "string",
                "format": "uri",
                "description": "URL of the JSON Schema (and major version) the data follows: "
                "`<PUBLIC_BASE_URL>/schemas/<type>.v<major>.json`.",
            },
            "content-type": {"type": "string", "const": "application/json", "description": "Data encoding."},
            "ce_lane": {
                "type": "string",
                "enum": ["interactive", "bulk"],
                "description": "CloudEvents extension: the lane the event travels in (`interactive` when absent).",
            },
            "traceparent": {
                "type": "string",
                "pattern": _TRACEPARENT,
                "description": "W3C trace context the event continues: the span that wrote or published it (the "
                "request, the relay, or the processor that derived it from an event of the same trace).",
            },
        },
    }


def _dlq_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The failed record's own headers, unchanged (usually the CloudEvents headers), plus why and "
        "where it failed.",
        "required": list(DEAD_LETTER_HEADERS),
        "properties": {
            name: {"type": "string", "description": meaning} for name, meaning in DEAD_LETTER_HEADERS.items()
        },
        "additionalProperties": {"type": "string", "description": "One of the failed record's own headers."},
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": _DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A record that a stream processor gave up on, as it was received.",
        "description": f"Published by the processors {', '.join(PROCESSORS)} to `catalog.dlq.<processor>.v1` after "
        "their retries (at once for a record that breaks its contract). Key, value and headers are the failed "
        "record's; `dlq_*` headers say why. `catalog-dlq replay` sends it back to `dlq_topic`, and processors are "
        "idempotent, so a replay is harmless.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {
            "description": "The failed record's value, byte for byte. Usually an event's JSON data, but it may be "
            "anything: being undecodable can be why it was dead-lettered."
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The failed record's key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def render(doc: dict[str, Any]) -> str:
    """The document as the committed file spells it."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m catalog_schemas.asyncapi", description="AsyncAPI document of the topics"
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"rewrite {COMMITTED.name}")
    action.add_argument("--check", action="store_true", help=f"exit 1 if {COMMITTED.name} is out of date")
    args = parser.parse_args(argv)
    text = render(document())
    if args.write:
        COMMITTED.write_text(text)
    elif args.check:
        if not COMMITTED.is_file() or COMMITTED.read_text() != text:
            sys.exit(f"{COMMITTED} is out of date: run python -m catalog_schemas.asyncapi --write")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
