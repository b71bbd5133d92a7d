"""Background processes tracked by pid files, so a later command (or a crashed run) can stop exactly them."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManagedProcess:
    """A named process whose pid lives in `<run_dir>/<name>.pid` and output in `<log_dir>/<name>.log`."""

    name: str
    run_dir: Path
    log_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def child_pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.child.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the live process this file names, or None (a stale file from a crash is removed)."""
        return _live_pid(self.pid_file)

    def child_pid(self) -> int | None:
        """The pid of the supervised service itself (see `supervise`), or None between two of its runs."""
        return _live_pid(self.child_pid_file)

    def start_supervised(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        """Start `argv` under a supervisor that restarts it when it dies; return the supervisor's pid."""
        supervisor = [sys.executable, "-m", "catalog_stack.supervise", str(self.child_pid_file), "--", *argv]
        return self.start(supervisor, env=env, cwd=cwd, marker=Path(argv[0]).name)

    def marker(self) -> str | None:
        """The marker of the process the pid file names (tells which program a name stands for)."""
        try:
            return self.pid_file.read_text().split(maxsplit=1)[1]
        except (FileNotFoundError, IndexError):
            return None

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        marker: str | None = None,
    ) -> int:
        """Start `argv` in its own process group unless it is already running; return its pid.

        `marker` is a word of the command line that identifies the process (default: the program's name); a
        shared interpreter such as `java` needs a more specific one.
        """
        running = self.pid()
        if running:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # a terminal's Ctrl-C or a dying parent does not take it down
            )
        # The marker guards against signalling an unrelated process that reused the pid.
        marker = marker or Path(argv[0]).name
        self.pid_file.write_text(f"{proc.pid} {marker}")
        # Until the child has exec'd, its command line is still ours: wait so `pid()` recognises it at once.
        deadline = time.monotonic() + 5
        while marker not in _cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL it after `timeout`; True if something was running."""
        pid = self.pid()
        if pid is None:
            return False
        terminate_group(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True


def _live_pid(pid_file: Path) -> int | None:
    try:
        pid_text, marker = pid_file.read_text().split(maxsplit=1)
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    if is_alive(pid) and marker.strip() in _cmdline(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def terminate_group(pid: int, timeout: float = 30.0) -> None:
    """Stop a process group politely, then firmly."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def is_alive(pid: int) -> bool:
    """True for a running process; False for a gone one or a zombie (which a container without init never reaps)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""
