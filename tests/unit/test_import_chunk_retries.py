"""A chunk that hits a transient database error is written again (through stamina, in its test mode: no waiting)."""

import uuid
from collections.abc import Iterator

import pytest
import stamina
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from catalog_importer.domain.tally import Tally
from catalog_importer.service_layer.chunks import ChunkResult
from catalog_importer.service_layer.runner import CHUNK_TRIES, transient, write_chunk

JOB = uuid.uuid4()
WRITTEN = ChunkResult(Tally(processed=10, created=10), cancel_requested=False, outcomes=10)


def server_gone() -> OperationalError:
    return OperationalError("INSERT INTO products ...", {}, Exception("server closed the connection unexpectedly"))


def invalidated() -> DBAPIError:
    return DBAPIError("INSERT INTO products ...", {}, Exception("connection reset"), connection_invalidated=True)


class ScriptedChunk:
    """Fails with each given error in turn, then writes the chunk."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.tries = 0

    def __call__(self) -> ChunkResult:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        return WRITTEN


@pytest.fixture(autouse=True)
def no_waiting() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


def test_a_chunk_is_written_again_after_a_transient_error() -> None:
    write = ScriptedChunk(server_gone(), invalidated())
    assert write_chunk(write, JOB) == WRITTEN
    assert write.tries == 3


def test_a_chunk_is_tried_at_most_chunk_tries_times() -> None:
    write = ScriptedChunk(*(server_gone() for _ in range(CHUNK_TRIES)))
    with pytest.raises(OperationalError):
        write_chunk(write, JOB)
    assert write.tries == CHUNK_TRIES


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        DataError("INSERT", {}, Exception("value too long")),
        ValueError("not a database error"),
    ],
)
def test_other_errors_are_not_tried_again(error: Exception) -> None:
    write = ScriptedChunk(error)
    with pytest.raises(type(error)):
        write_chunk(write, JOB)
    assert write.tries == 1


def test_transient_errors_are_the_broken_connections() -> None:
    assert transient(server_gone())
    assert transient(invalidated())
    assert not transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not transient(RuntimeError("boom"))
