"""Process supervision used by `make run` / `make stop`: stop exactly what was started, survive crashes."""

import os
import signal
import subprocess
from pathlib import Path

from catalog_stack.processes import ManagedProcess

from tests.support import wait_until


def test_start_is_idempotent_and_stop_leaves_nothing(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "log")
    pid = process.start(["/bin/sleep", "60"])
    assert process.start(["/bin/sleep", "60"]) == pid  # a second run reuses the live process
    assert process.stop() is True
    assert process.pid() is None
    assert not process.pid_file.exists()
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])


def test_a_stale_pid_file_after_a_crash_is_ignored(tmp_path: Path) -> None:
    process = ManagedProcess("crashed", tmp_path / "run", tmp_path / "log")
    dead = subprocess.Popen(["/bin/sleep", "60"])
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    process.run_dir.mkdir(parents=True)
    process.pid_file.write_text(f"{dead.pid} sleep")
    assert process.pid() is None
    assert not process.pid_file.exists()
    assert process.stop() is False
    new_pid = process.start(["/bin/sleep", "60"])
    try:
        assert process.pid() == new_pid
    finally:
        process.stop()


def test_a_reused_pid_of_another_program_is_not_signalled(tmp_path: Path) -> None:
    process = ManagedProcess("broker", tmp_path / "run", tmp_path / "log")
    process.run_dir.mkdir(parents=True)
    process.pid_file.write_text(f"{os.getpid()} tansu")  # our own pid, but we are not tansu
    assert process.pid() is None
    assert process.stop() is False
