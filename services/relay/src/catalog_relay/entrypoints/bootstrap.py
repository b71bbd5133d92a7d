"""The relay's composition root: the outbox table over psycopg and a Kafka producer per term, wired into the loop."""

from catalog_kit.db import libpq_conninfo
from catalog_kit.kafka import producer_config
from catalog_relay.adapters.kafka_producer import KafkaPublisher
from catalog_relay.adapters.metrics import OutboxMetrics
from catalog_relay.adapters.outbox_table import OutboxTable
from catalog_relay.service_layer.outbox_relay import EventPublisher, OutboxRelay
from catalog_relay.settings import RelaySettings


def build(settings: RelaySettings) -> OutboxRelay:
    transactional_id = settings.transactional_id()
    fencing = {"transactional.id": transactional_id} if transactional_id else {}

    def publisher() -> EventPublisher:
        return KafkaPublisher(producer_config(settings, **{"client.id": "catalog-relay", **fencing}))

    return OutboxRelay(OutboxTable(libpq_conninfo(settings.database_url)), publisher, settings, OutboxMetrics())
