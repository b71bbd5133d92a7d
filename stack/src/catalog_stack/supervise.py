"""`python -m catalog_stack.supervise <child-pid-file> -- <command…>`: keep one service running.

Runs the command as a child and starts it again when it exits on its own (a crash, `kill -9`), waiting longer
after each quick failure (0.5 s doubling to 30 s; a child that ran a minute starts the count afresh) and logging
why. SIGTERM/SIGINT stop the child politely and end the supervisor. The child's pid is kept
in a file of its own, so an operator or a fault drill can signal exactly the service and not its supervisor.

It imports the standard library and the JSON log format only: a supervisor per service must cost next to nothing.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from catalog_kit.jsonlog import configure_logging  # standard library only: cheap to import

log = logging.getLogger("catalog_stack.supervise")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
HEALTHY_AFTER_S = 60.0
STOP_GRACE_S = 28.0


def restart_delay(previous: float, ran_for_s: float) -> float:
    """The wait before the next start: back to the first delay after a good run, doubled after a quick failure."""
    if ran_for_s >= HEALTHY_AFTER_S:
        return FIRST_DELAY_S
    return min(MAX_DELAY_S, previous * 2) if previous else FIRST_DELAY_S


def exit_reason(returncode: int) -> str:
    return f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with code {returncode}"


def supervise(child_pid_file: Path, command: list[str]) -> int:
    stopping = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        # Passed on as SIGTERM, whoever was signalled: the whole group (`catalog-stack stop`) or just us (`kill`).
        # A second SIGTERM is harmless to every service; a second SIGINT would make uvicorn skip its shutdown.
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = 0.0
    while not stopping.is_set():
        started = time.monotonic()
        child = subprocess.Popen(command)  # inherits our stdout/stderr: the service's log file
        child_pid_file.write_text(f"{child.pid} {Path(command[0]).name}")
        returncode = child.wait()
        child_pid_file.unlink(missing_ok=True)
        if stopping.is_set():
            break
        ran_for = time.monotonic() - started
        delay = restart_delay(delay, ran_for)
        log.warning(
            "service ended; restarting",
            extra={
                "command": command[0],
                "reason": exit_reason(returncode),
                "ran_for_s": round(ran_for, 1),
                "restart_in_s": delay,
            },
        )
        stopping.wait(delay)
    if child is not None and child.poll() is None:
        try:
            child.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: python -m catalog_stack.supervise <child-pid-file> -- <command…>")
    configure_logging(f"supervisor:{Path(args[2]).name}")
    sys.exit(supervise(Path(args[0]), args[2:]))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
