"""Why processing a record failed decides what happens to it: wait out the outage, retry a while, or dead-letter.

Infrastructure that is down (database, broker, network) is no fault of the record: it is retried for as long as it
takes and never dead-lettered. A record that breaks its contract is dead-lettered at once. Anything else is
retried a few times, then dead-lettered, so one poisonous record cannot hold its partition for ever.
"""

import asyncio
import enum
from collections.abc import Iterator

import psycopg
import sqlalchemy.exc
from aiokafka import errors as kafka_errors
from jsonschema import ValidationError

from catalog_kit.envelope import EnvelopeError


class PermanentFailure(Exception):
    """A record that no retry can fix (undecodable, breaks its contract): dead-lettered at once."""


class Failure(enum.Enum):
    INFRASTRUCTURE = "infrastructure"  # retried without limit
    PERMANENT = "permanent"  # dead-lettered at once
    TRANSIENT = "transient"  # retried a few times, then dead-lettered


_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,  # connection refused or lost, server shutting down, serialization failures
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free
    psycopg.OperationalError,
    psycopg.InterfaceError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.LeaderNotAvailableError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
)
_PERMANENT: tuple[type[BaseException], ...] = (PermanentFailure, EnvelopeError, ValidationError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> Failure:
    """What kind of failure `exc` is, looking through what caused it (adapters wrap driver errors)."""
    chain = list(_chain(exc))
    if any(isinstance(e, _PERMANENT) for e in chain[:1]):
        return Failure.PERMANENT
    if any(isinstance(e, _INFRASTRUCTURE) for e in chain):
        return Failure.INFRASTRUCTURE
    return Failure.TRANSIENT
