"""Topics only come from the registry: clients never ask for auto-creation, counts are checked, the broker refuses."""

from pathlib import Path

import pytest

from catalog_kit.kafka import TopicMismatch, check_partitions, client_config, partition_mismatches, producer_config
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import IMPORTS, PRODUCT, TOPICS
from catalog_stack.broker import KafkaBroker, TansuBroker, local_broker, server_properties


def test_matching_and_missing_topics_are_fine() -> None:
    assert partition_mismatches(TOPICS, {t.name: t.partitions for t in TOPICS}) == []
    assert partition_mismatches(TOPICS, {}) == []  # missing topics get created, not refused
    check_partitions([PRODUCT], {"some.other.topic": 1})


def test_a_count_other_than_the_registrys_is_refused_naming_topic_expected_and_actual() -> None:
    actual = {PRODUCT.name: 4, IMPORTS.name: IMPORTS.partitions}
    assert partition_mismatches(TOPICS, actual) == [f"topic {PRODUCT.name} has 4 partitions, the registry expects 6"]
    with pytest.raises(TopicMismatch, match=rf"topic {PRODUCT.name} has 4 partitions, the registry expects 6"):
        check_partitions(TOPICS, actual)


def test_every_confluent_client_config_refuses_auto_creation() -> None:
    settings = CatalogSettings(kafka_bootstrap_servers="127.0.0.1:1")
    assert client_config(settings)["allow.auto.create.topics"] is False
    assert producer_config(settings)["allow.auto.create.topics"] is False


def test_the_local_kafka_creates_topics_only_when_asked() -> None:
    lines = server_properties(19093, 40000, Path("/data")).splitlines()
    assert "auto.create.topics.enable=false" in lines
    assert "listeners=PLAINTEXT://127.0.0.1:19093,CONTROLLER://127.0.0.1:40000" in lines
    assert "controller.quorum.voters=1@127.0.0.1:40000" in lines


def test_the_broker_kind_is_chosen_by_name() -> None:
    assert isinstance(local_broker("kafka", Path("stack"), 1), KafkaBroker)
    assert isinstance(local_broker("tansu", Path("stack"), 1), TansuBroker)
    with pytest.raises(ValueError, match="CATALOG_BROKER"):
        local_broker("redpanda", Path("stack"), 1)
