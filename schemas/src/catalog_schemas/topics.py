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
    event_types=(
        "product.created",
        "product.updated",
        "product.deleted",
        "product.enriched",
        "product.media_processed",
    ),
    description="Every change of a product, in order per product. One topic per aggregate keeps that order "
    "across event types. The outbox relay publishes in Kafka transactions (a new relay leader fences the old one "
    "at the broker): read with isolation.level=read_committed, or an aborted batch's records (sent again after "
    "it) show up twice. At least once: a record may repeat; keep the highest version per product.",
)

IMPORTS = Topic(
    name="catalog.import.v1",
    key="import job id (UUID, text)",
    partitions=3,
    event_types=("import.requested",),
    description="Supplier-feed import jobs to run; the importer consumes them.",
)

MEDIA = Topic(
    name="catalog.media.v1",
    key="product id (UUID, text), or `all` for a request about every product",
    partitions=3,
    event_types=("media.regeneration_requested",),
    description="Requests to the media service that are not product changes: regenerate a product's derivatives "
    "(or every product's, fanned out per product).",
)

# Stream processors that dead-letter what keeps failing; each gets `catalog.dlq.<name>.v1`.
PROCESSORS = ("indexer", "enricher", "importer", "media")

# What a dead letter adds to the failed record's own headers (catalog_stream.processor writes them).
DEAD_LETTER_HEADERS = {
    "dlq_processor": "the processor that gave up on the record",
    "dlq_error": "the last error, `ExceptionType: message` (at most 2000 characters)",
    "dlq_attempts": "how many times the record was tried (decimal)",
    "dlq_topic": "the topic the record was read from, where `catalog-dlq replay` sends it back",
    "dlq_partition": "its partition there (decimal)",
    "dlq_offset": "its offset there (decimal)",
    "dlq_time": "when it was dead-lettered (Unix time in seconds, decimal)",
}


def dead_letter_topic(processor: str) -> Topic:
    """The dead-letter topic of a processor: failed records as they were, plus `dlq_*` headers saying why."""
    return Topic(
        name=f"catalog.dlq.{processor}.v1",
        key="the failed record's key",
        partitions=1,
        event_types=(),
        description=f"Records the {processor} could not process after its retries, with the original headers and "
        f"{', '.join(DEAD_LETTER_HEADERS)}.",
    )


TOPICS: tuple[Topic, ...] = (PRODUCT, IMPORTS, MEDIA, *(dead_letter_topic(p) for p in PROCESSORS))


class UnknownEventType(LookupError):
    """An event type that no registered topic carries."""


def topic_for(event_type: str) -> Topic:
    """The topic that carries `event_type`."""
    for topic in TOPICS:
        if event_type in topic.event_types:
            return topic
    raise UnknownEventType(event_type)
