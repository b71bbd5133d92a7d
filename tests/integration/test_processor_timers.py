"""Timers of a processor that need only the database run from the start, whatever the broker does; the others wait
for the Kafka clients. Here the broker is a closed port on loopback: the clients never connect."""

import asyncio

import pytest

from catalog_schemas.topics import PRODUCT
from catalog_stream.processor import Processor, ProcessorSettings
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_timers_that_do_not_need_the_broker_run_while_it_is_unreachable() -> None:
    settings = ProcessorSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", health_port=0)
    processor = Processor("timers-test", settings)
    runs = {"database": 0, "broker": 0}

    async def handle(events: object) -> None:
        raise AssertionError("no record can arrive without a broker")

    processor.batch_agent(PRODUCT, handle)

    @processor.timer(0.05, needs_broker=False)
    async def database_work() -> None:
        runs["database"] += 1

    @processor.timer(0.05)
    async def broker_work() -> None:
        runs["broker"] += 1

    async def scenario() -> None:
        serving = asyncio.create_task(processor.serve())

        async def database_work_ran() -> None:
            while runs["database"] < 5:
                assert not serving.done()
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(database_work_ran(), timeout=60)  # a generous deadline, not a hang
        finally:
            processor.stop()
        await asyncio.wait_for(serving, timeout=60)  # stopping while the clients still try to connect ends it

    asyncio.run(scenario())
    assert runs["database"] >= 5
    assert runs["broker"] == 0
    assert processor.health.report()["ready"] is False  # it never joined a group
