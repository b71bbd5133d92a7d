"""Why processing a record failed decides what happens to it: wait out the outage, retry a while, or dead-letter.

Infrastructure that is down (database, broker, network) is no fault of the record: it is retried for as long as it
takes and never dead-lettered. A record that breaks its contract is dead-lettered at once. Anything else is
retried a few times, then dead-lettered, so one poisonous record cannot hold its partition for ever.
"""

import asyncio
import enum

from aiokafka import errors as kafka_errors
from jsonschema import ValidationError

from catalog_kit.envelope import EnvelopeError
from catalog_kit.outages import DATABASE_OUTAGES, causes


class PermanentFailure(Exception):
    """A record that no retry can fix (undecodable, breaks its contract): dead-lettered at once."""


class Failure(enum.Enum):
    INFRASTRUCTURE = "infrastructure"  # retried without limit
    PERMANENT = "permanent"  # dead-lettered at once
    TRANSIENT = "transient"  # retried a few times, then dead-lettered


_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    *DATABASE_OUTAGES,
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


def classify(exc: BaseException) -> Failure:
    """What kind of failure `exc` is, looking through what caused it (adapters wrap driver errors)."""
    chain = list(causes(exc))
    if any(isinstance(e, _PERMANENT) for e in chain[:1]):
        return Failure.PERMANENT
    if any(isinstance(e, _INFRASTRUCTURE) for e in chain):
        return Failure.INFRASTRUCTURE
    return Failure.TRANSIENT
