"""Schedules of recurring jobs: when a schedule runs next. A schedule is a five-field cron expression (UTC), or
`@every <seconds>s` for jobs more frequent than a minute (reconciliation)."""

import re
from datetime import datetime, timedelta

from cronsim import CronSim, CronSimError

_EVERY = re.compile(r"@every\s+(\d+(?:\.\d+)?)s")


class InvalidSchedule(ValueError):
    """A schedule that cannot be read."""


def next_run(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `schedule` names."""
    every = _EVERY.fullmatch(schedule.strip())
    if every:
        seconds = float(every.group(1))
        if seconds <= 0:
            raise InvalidSchedule(f"schedule {schedule!r}: the interval must be positive")
        return after + timedelta(seconds=seconds)
    try:
        return next(CronSim(schedule, after))
    except (CronSimError, StopIteration) as exc:
        raise InvalidSchedule(f"schedule {schedule!r}: {exc}") from exc


def every(seconds: float) -> str:
    """The schedule of a job run every `seconds`."""
    return f"@every {seconds:g}s"
