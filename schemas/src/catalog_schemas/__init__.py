"""Event contracts: the topic registry and a JSON Schema for every event type."""

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from catalog_schemas.topics import TOPICS, Topic, UnknownEventType, topic_for

__all__ = ["TOPICS", "Topic", "UnknownEventType", "schema_for", "schema_uri", "topic_for", "validate_event"]

SCHEMA_VERSION = 1


def schema_uri(event_type: str) -> str:
    """The `ce_dataschema` of an event type: names the contract (and its major version) the data follows."""
    return f"urn:catalog:schema:{event_type}:v{SCHEMA_VERSION}"


@cache
def _registry() -> Registry:
    resources_ = []
    for entry in resources.files(__package__).joinpath("events").iterdir():
        if entry.name.endswith(".json"):
            contents = json.loads(entry.read_text())
            resources_.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources_)


def schema_for(event_type: str) -> dict[str, Any]:
    """The JSON Schema of an event type's data."""
    topic_for(event_type)  # unknown types fail loudly, before a file lookup
    contents: dict[str, Any] = _registry()[f"{event_type}.v{SCHEMA_VERSION}.json"].contents
    return contents


@cache
def _validator(event_type: str) -> Draft202012Validator:
    return Draft202012Validator(schema_for(event_type), registry=_registry())


def validate_event(event_type: str, data: object) -> None:
    """Raise jsonschema.ValidationError when `data` breaks the contract of `event_type`."""
    _validator(event_type).validate(data)
