"""The topic registry: every topic the platform produces, with its key, partition count and event types.

Code never spells a topic name; it asks this registry.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A Kafka topic and the contract of its records."""

    name: str
    key: str
    partitions: int
    event_types: tuple[str, ...]
    description: str


PRODUCT = Topic(
    name="catalog.product.v1",
    key="product id (UUID, text)",
    partitions=6,
    event_types=("product.created", "product.updated", "product.deleted"),
    description="Every change of a product, in order per product. One topic per aggregate keeps that order "
    "across event types.",
)

TOPICS: tuple[Topic, ...] = (PRODUCT,)


class UnknownEventType(LookupError):
    """An event type that no registered topic carries."""


def topic_for(event_type: str) -> Topic:
    """The topic that carries `event_type`."""
    for topic in TOPICS:
        if event_type in topic.event_types:
            return topic
    raise UnknownEventType(event_type)
