"""The scheduler on the real database: two instances, one run per due time; results and next runs recorded."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from catalog_core.adapters.schedules import ScheduleStore, all_schedules
from catalog_core.service_layer.scheduler import Outcome, RunResult, ScheduledJob, Scheduler


@pytest.fixture
def db(fresh_database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(fresh_database)
    yield sessionmaker(engine)
    engine.dispose()


def test_two_instances_run_a_due_job_once(db: sessionmaker[Session]) -> None:
    runs: list[str] = []
    idle: asyncio.Event | None = None  # set when an instance's tick ran nothing

    def job(instance: str) -> ScheduledJob:
        async def run() -> Outcome:
            runs.append(instance)
            assert idle is not None
            await asyncio.wait_for(idle.wait(), 60)  # the other instance ticks while this run is in progress
            return Outcome(RunResult.OK, f"ran on {instance}")

        return run

    instances = [
        Scheduler(ScheduleStore(db), "enricher", {"nightly": job(name)}, instance=name) for name in ("one", "two")
    ]
    instances[0].register({"nightly": "0 3 * * *"})
    instances[1].register({"nightly": "0 3 * * *"})
    with db() as session, session.begin():  # due now
        session.execute(text("UPDATE schedules SET next_run_at = now() - interval '1 minute' WHERE name = 'nightly'"))

    async def tick(scheduler: Scheduler) -> list[tuple[str, Outcome]]:
        ran = await scheduler.tick()
        if not ran and idle is not None:
            idle.set()
        return ran

    async def both() -> list[list[tuple[str, Outcome]]]:
        nonlocal idle
        idle = asyncio.Event()
        return list(await asyncio.gather(*(tick(s) for s in instances)))

    ticks = asyncio.run(both())
    assert len(runs) == 1
    assert sorted(len(t) for t in ticks) == [0, 1]
    assert asyncio.run(both()) == [[], []]  # not due again until 03:00
    with db() as session:
        (view,) = all_schedules(session)
    assert (view.name, view.owner, view.last_result, view.runs) == ("nightly", "enricher", "ok", 1)
    assert view.last_detail == f"ran on {runs[0]}"
    assert view.running_until is None
    assert view.next_run_at > datetime.now(UTC)
    assert view.next_run_at <= datetime.now(UTC) + timedelta(days=1)
    assert (view.next_run_at.astimezone(UTC).hour, view.next_run_at.astimezone(UTC).minute) == (3, 0)


def test_a_run_whose_instance_died_is_taken_over_after_its_lease(db: sessionmaker[Session]) -> None:
    store = ScheduleStore(db)
    store.ensure("pull", "importer", "* * * * *", datetime.now(UTC) - timedelta(minutes=1))
    assert store.claim("pull", "dead", lease_s=0.5) is not None  # never finishes
    assert store.claim("pull", "alive", lease_s=0.5) is None
    with db() as session, session.begin():
        session.execute(text("UPDATE schedules SET running_until = now() - interval '1 second'"))
    assert store.claim("pull", "alive", lease_s=60) is not None
