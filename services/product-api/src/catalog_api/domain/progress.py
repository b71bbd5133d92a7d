"""Live job progress as Server-Sent Events (pure): what to send after what the client has seen.

An event id is `<transition>-<mark>`: the id of the last state transition the client was sent (ids grow with
every transition of every job) and the job row's `updated_at` in microseconds when it was last sent the job's
counts (0: not since that transition). Ids therefore grow as (transition, mark) pairs, and a client that comes
back with `Last-Event-ID` is sent every transition it missed, in order, then the counts if they changed.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_EVENT_ID = re.compile(r"(\d{1,19})-(\d{1,19})")


@dataclass(frozen=True)
class StreamCursor:
    transition: int = 0
    mark: int = -1  # -1: the counts were never sent

    @property
    def event_id(self) -> str:
        return f"{self.transition}-{max(self.mark, 0)}"


def resume_from(last_event_id: str | None) -> StreamCursor:
    """Where a stream resumes: after a well-formed `Last-Event-ID`; from the start for anything else."""
    match = _EVENT_ID.fullmatch((last_event_id or "").strip())
    if match is None:
        return StreamCursor()
    return StreamCursor(int(match.group(1)), int(match.group(2)))


def mark_of(updated_at: datetime) -> int:
    return int(updated_at.timestamp() * 1_000_000)


@dataclass(frozen=True)
class StreamEvent:
    event: str  # state | progress | end
    id: str
    data: dict[str, Any]


def next_events(
    cursor: StreamCursor,
    transitions: list[tuple[int, dict[str, Any]]],
    updated_at: datetime,
    job_view: dict[str, Any],
    finished: bool,
) -> tuple[StreamCursor, list[StreamEvent]]:
    """The events to send now, and the cursor after them: each transition after the cursor (`state`), then the
    job's counts if the row changed (`progress`, the same fields as `GET /imports/{id}`), then `end` when the job
    is finished."""
    events = []
    for transition_id, view in transitions:
        if transition_id <= cursor.transition:
            continue
        cursor = StreamCursor(transition_id, 0)
        events.append(StreamEvent("state", cursor.event_id, view))
    mark = mark_of(updated_at)
    if mark != cursor.mark:
        cursor = StreamCursor(cursor.transition, mark)
        events.append(StreamEvent("progress", cursor.event_id, job_view))
    if finished:
        events.append(StreamEvent("end", cursor.event_id, {"state": job_view["state"]}))
    return cursor, events
