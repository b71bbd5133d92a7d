"""Metrics of scheduled jobs, the same for every service that runs some."""

from prometheus_client import Counter, Gauge

from catalog_core.service_layer.scheduler import Outcome, RunResult

RUNS = Counter(
    "catalog_schedule_runs", "Runs of a scheduled job, by result: ok, skipped, failed.", ["schedule", "result"]
)
LAST_RUN = Gauge(
    "catalog_schedule_last_run_timestamp_seconds", "When a scheduled job last finished (Unix time).", ["schedule"]
)
LAST_OK = Gauge(
    "catalog_schedule_last_result",
    "1 if the last run of a scheduled job did not fail (ok or skipped), else 0.",
    ["schedule"],
)


def observe(schedule: str, outcome: Outcome) -> None:
    """For `Scheduler(observe=...)`."""
    RUNS.labels(schedule, outcome.result.value).inc()
    LAST_RUN.labels(schedule).set_to_current_time()
    LAST_OK.labels(schedule).set(0.0 if outcome.result is RunResult.FAILED else 1.0)
