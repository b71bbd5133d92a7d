"""When schedules run next, and the scheduler's runs over an in-memory store that plays the claim's rule (one
instance per due time); the real claim is tested in tests/integration/test_schedules.py."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from catalog_core.adapters.schedules import ScheduleClaim
from catalog_core.domain.schedules import InvalidSchedule, every, next_run
from catalog_core.service_layer.scheduler import Outcome, RunResult, Scheduler

T0 = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def test_cron_and_intervals() -> None:
    assert next_run("0 3 * * *", T0) == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert next_run("*/5 * * * *", T0) == T0 + timedelta(minutes=5)
    assert next_run(every(30), T0) == T0 + timedelta(seconds=30)
    for bad in ("bad", "61 * * * *", "@every 0s", "@every soon"):
        with pytest.raises(InvalidSchedule):
            next_run(bad, T0)


@dataclass
class MemorySchedules:
    rows: dict[str, dict[str, object]] = field(default_factory=dict)
    now: datetime = T0

    def ensure(self, name: str, owner: str, cron: str, next_run_at: datetime) -> None:
        self.rows.setdefault(name, {"owner": owner, "cron": cron, "next": next_run_at, "by": None, "results": []})

    def due(self, owner: str) -> list[str]:
        return [n for n, r in self.rows.items() if r["owner"] == owner and r["next"] <= self.now]  # type: ignore[operator]

    def claim(self, name: str, instance: str, lease_s: float) -> ScheduleClaim | None:
        row = self.rows[name]
        if row["by"] is not None or row["next"] > self.now:  # type: ignore[operator]
            return None
        row["by"] = instance
        return ScheduleClaim(name, str(row["cron"]), self.now)

    def finish(self, name: str, instance: str, result: str, detail: str, next_run_at: datetime) -> None:
        row = self.rows[name]
        assert row["by"] == instance
        row.update(by=None, next=next_run_at)
        row["results"].append(result)  # type: ignore[attr-defined]


def test_a_due_job_runs_once_whichever_instance_ticks_first_and_failures_are_recorded() -> None:
    store = MemorySchedules()
    runs: list[str] = []

    async def refresh() -> Outcome:
        runs.append("refresh")
        return Outcome(RunResult.OK, "3 queued")

    async def broken() -> Outcome:
        raise RuntimeError("feed host gone")

    jobs = {"refresh": refresh, "pull": broken}
    one = Scheduler(store, "enricher", jobs, instance="one", clock=lambda: store.now)
    two = Scheduler(store, "enricher", jobs, instance="two", clock=lambda: store.now)
    one.register({"refresh": "*/5 * * * *", "pull": "0 3 * * *"})
    two.register({"refresh": "* * * * *", "pull": "0 3 * * *"})  # the first registration stays
    store.now = T0 + timedelta(minutes=5)
    assert [(n, o.result) for n, o in asyncio.run(one.tick())] == [("refresh", RunResult.OK)]
    assert asyncio.run(two.tick()) == []
    assert runs == ["refresh"]
    assert store.rows["refresh"]["next"] == T0 + timedelta(minutes=10)

    store.now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    ran = asyncio.run(two.tick())
    assert [(n, o.result) for n, o in ran] == [("refresh", RunResult.OK), ("pull", RunResult.FAILED)]
    assert "feed host gone" in ran[1][1].detail
    assert store.rows["pull"]["results"] == ["failed"]
