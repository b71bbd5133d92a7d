"""The stream runtime's pure rules: what kind of failure a record met, client settings, readiness."""

import ssl

import psycopg
import pytest
import sqlalchemy.exc
from aiokafka.errors import KafkaConnectionError
from jsonschema import ValidationError

from catalog_kit.envelope import EnvelopeError
from catalog_stream.client_config import UnsupportedSetting, aiokafka_config
from catalog_stream.failures import Failure, PermanentFailure, classify
from catalog_stream.health import ConsumerHealth


def wrapped(exc: Exception) -> Exception:
    """An adapter's error raised while handling a driver error, as SQLAlchemy and our adapters do."""
    try:
        try:
            raise exc
        except Exception as inner:
            raise RuntimeError("saving the document failed") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused")),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        KafkaConnectionError("broker down"),
        ConnectionRefusedError(),
        wrapped(psycopg.OperationalError("terminating connection due to administrator command")),
    ],
)
def test_an_outage_is_infrastructure_and_never_dead_lettered(exc: Exception) -> None:
    assert classify(exc) is Failure.INFRASTRUCTURE


@pytest.mark.parametrize(
    "exc", [PermanentFailure("no job_id"), EnvelopeError("no ce_type"), ValidationError("price is not a string")]
)
def test_a_record_that_breaks_its_contract_is_permanent(exc: Exception) -> None:
    assert classify(exc) is Failure.PERMANENT


def test_anything_else_is_transient() -> None:
    assert classify(KeyError("id")) is Failure.TRANSIENT
    assert classify(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))) is Failure.TRANSIENT


def test_client_extra_reaches_the_processors_under_aiokafka_names() -> None:
    config = aiokafka_config(
        {
            "security.protocol": "sasl_plaintext",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "catalog",
            "sasl.password": "s3cret",
            "client.id": "indexer-1",
            "request.timeout.ms": "20000",
            "compression.type": "lz4",  # a producer tuning the processors do not use: reported, not fatal
        }
    )
    assert config == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "catalog",
        "sasl_plain_password": "s3cret",
        "client_id": "indexer-1",
        "request_timeout_ms": 20000,
    }


def test_tls_gets_a_verifying_context() -> None:
    config = aiokafka_config({"security.protocol": "SSL"})
    assert isinstance(config["ssl_context"], ssl.SSLContext)
    assert config["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_a_security_setting_that_cannot_be_honoured_is_refused() -> None:
    with pytest.raises(UnsupportedSetting, match=r"ssl\.endpoint\.identification\.algorithm"):
        aiokafka_config({"ssl.endpoint.identification.algorithm": "none"})


def health(**kwargs: object) -> ConsumerHealth:
    h = ConsumerHealth("indexer", stall_after_s=30, max_ready_lag=1000)
    for name, value in kwargs.items():
        setattr(h, name, value)
    return h


def test_not_ready_until_it_has_joined_its_group() -> None:
    assert health().problems(now=0) == ["not yet a member of its consumer group"]


def test_ready_when_joined_and_keeping_up() -> None:
    h = health(joined=True, last_progress=100.0, lag={("t", 0): 3})
    assert h.problems(now=110.0) == []


def test_lag_without_progress_is_a_stall() -> None:
    h = health(joined=True, last_progress=100.0, lag={("t", 0): 3})
    assert h.problems(now=131.0) == ["stalled: lag 3 and no progress for 31s"]


def test_no_lag_and_no_progress_is_just_idle() -> None:
    assert health(joined=True, last_progress=0.0, lag={("t", 0): 0}).problems(now=1000.0) == []


def test_large_lag_is_fine_while_it_shrinks() -> None:
    h = health(joined=True, last_progress=100.0, lag={("t", 0): 5000}, lag_before=6000)
    assert h.problems(now=101.0) == []
    h.sample_lag({("t", 0): 5200})
    assert h.problems(now=101.0) == ["interactive lag 5200 above 1000 and not shrinking"]


def test_a_growing_bulk_backlog_is_reported_but_not_a_fault_while_it_progresses() -> None:
    bulk, interactive = "catalog.product.bulk.v1", "catalog.product.v1"
    h = health(joined=True, last_progress=100.0, lag={(bulk, 0): 50_000, (interactive, 0): 0}, lag_before=0)
    h.sample_lag({(bulk, 0): 80_000, (interactive, 0): 2})
    assert h.problems(now=101.0) == []
    assert h.report()["lag_by_lane"] == {"interactive": 2, "bulk": 80_000}
    assert h.problems(now=131.0) == ["stalled: lag 80002 and no progress for 31s"]  # a stalled bulk lane still shows


def test_an_outage_makes_it_unready_until_it_ends() -> None:
    h = health(joined=True, last_progress=100.0)
    h.infrastructure_down("OperationalError: connection refused")
    assert h.problems(now=101.0) == ["infrastructure unavailable: OperationalError: connection refused"]
    h.infrastructure_back()
    assert h.problems(now=101.0) == []
