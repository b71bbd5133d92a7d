"""The topic registry: every topic the platform produces, with its key, partition count and event types.

Code never spells a topic name; it asks this registry.
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import cache


class Lane(StrEnum):
    """Which queue an event waits in. Bulk work never waits in front of interactive work.

    `interactive`: API writes and uploads, someone is waiting for them. `bulk`: imports, regeneration, refreshes,
    backfills and re-announcements. A product topic has one topic per lane with the same contract and key;
    processors take the interactive lane first and the bulk lane with the capacity left. The event's lane also
    travels as the CloudEvents extension `ce_lane`.
    """

    INTERACTIVE = "interactive"
    BULK = "bulk"


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

PRODUCT_BULK = Topic(
    name="catalog.product.bulk.v1",
    key=PRODUCT.key,
    partitions=PRODUCT.partitions,
    event_types=PRODUCT.event_types,
    description="The bulk lane of catalog.product.v1: the same events and contract for changes made by bulk work "
    "(imports, media regeneration, re-announcements), so that they never queue in front of interactive changes. "
    "Order per product holds within each lane; a product changed in both lanes at once may see its events "
    "interleaved across the two topics: consume both and keep the highest `version` per product (every event "
    "carries it).",
)

# The bulk lane of each topic that has one.
BULK_LANES = {PRODUCT.name: PRODUCT_BULK}

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

ENRICHMENT_REQUESTS = Topic(
    name="catalog.enrichment.v1",
    key="product id (UUID, text)",
    partitions=3,
    event_types=("enrichment.requested",),
    description="Requests to enrich a product at a priority that are not product changes: the search API asks for "
    "products found while their enrichment was pending (`critical`). The enricher consumes them into its work "
    "queue. At least once: a request may repeat, which changes nothing.",
)

IMPORT_OUTCOMES = Topic(
    name="catalog.import.outcome.v1",
    key="import job id (UUID, text)",
    partitions=3,
    event_types=("import.completed", "import.failed"),
    description="How import jobs ended, written in the same transaction as the job's final state: a summary of "
    "the job (state, counts, failed rows by category, times, links). A topic of its own, so the importer, which "
    "consumes catalog.import.v1, is not woken by its own announcements. The webhooks service turns them into "
    "webhook deliveries. At least once: a job's outcome may repeat (the event id stays the same).",
)

# Stream processors that dead-letter what keeps failing; each gets `catalog.dlq.<name>.v1`.
PROCESSORS = ("indexer", "enricher", "importer", "media", "webhooks")

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


TOPICS: tuple[Topic, ...] = (
    PRODUCT,
    PRODUCT_BULK,
    IMPORTS,
    MEDIA,
    ENRICHMENT_REQUESTS,
    IMPORT_OUTCOMES,
    *(dead_letter_topic(p) for p in PROCESSORS),
)


class UnknownEventType(LookupError):
    """An event type that no registered topic carries."""


@cache
def topic_for(event_type: str, lane: Lane = Lane.INTERACTIVE) -> Topic:
    """The topic that carries `event_type` in `lane` (a topic without a bulk lane carries both); cached, since
    every outbox row asks."""
    for topic in TOPICS:
        if event_type in topic.event_types:
            return BULK_LANES.get(topic.name, topic) if lane is Lane.BULK else topic
    raise UnknownEventType(event_type)


_BULK_TOPIC_NAMES = frozenset(t.name for t in BULK_LANES.values())


def lane_of(topic_name: str) -> Lane:
    """The lane a topic serves (asked for every partition a processor handles: a set lookup)."""
    return Lane.BULK if topic_name in _BULK_TOPIC_NAMES else Lane.INTERACTIVE
