"""Measurements every benchmark here takes: percentiles, a process's CPU and memory, the machine's CPU."""

import contextlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def proc_memory_kib(pid: int | None) -> dict[str, int]:
    """Peak (`VmHWM`) and current (`VmRSS`) resident memory of a process in KiB; empty if it is gone."""
    memory: dict[str, int] = {}
    if pid is None:
        return memory
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                memory[key] = int(value.split()[0])
    return memory


def proc_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds a process has used so far (all its threads), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)  # minus idle and iowait


@dataclass
class Phase:
    """A timed phase of a benchmark: how many rows in how many seconds."""

    name: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0
