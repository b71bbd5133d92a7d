"""Process supervision used by `make run` / `make stop`: stop exactly what was started, survive crashes."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

from catalog_stack.processes import ManagedProcess, is_alive
from tests.support import wait_until


def test_start_is_idempotent_and_stop_leaves_nothing(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "log")
    pid = process.start(["/bin/sleep", "60"])
    assert process.start(["/bin/sleep", "60"]) == pid  # a second run reuses the live process
    assert process.stop() is True
    assert process.pid() is None
    assert not process.pid_file.exists()
    wait_until(lambda: not is_alive(pid))


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


def test_local_postgres_starts_again_after_a_kill9(tmp_path: Path) -> None:
    import psycopg

    from catalog_stack.postgres import LocalPostgres
    from tests.conftest import free_port

    pg = LocalPostgres(tmp_path / "stack", free_port(), database="crashtest")
    conninfo = f"host=127.0.0.1 port={pg.port} user=postgres dbname=crashtest"
    try:
        pg.start()
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        wait_until(
            lambda: (
                not Path(f"/proc/{postmaster}").exists()
                or "Z" in Path(f"/proc/{postmaster}/stat").read_text().split()[2]
            )
        )
        pg.start()  # a stale lock file (even of a zombie postmaster) must not block the restart
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        assert pg.stop() is True
    assert pg.stop() is False
    shutil.rmtree(pg.home)  # it lives outside tmp_path when the server user cannot reach tmp_path


def test_a_supervised_service_is_started_again_after_a_kill9_and_stopped_with_its_supervisor(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "run", tmp_path / "log")
    supervisor = process.start_supervised(["/bin/sleep", "600"])
    try:
        first = wait_until(process.child_pid)
        os.kill(first, signal.SIGKILL)
        second = wait_until(lambda: (pid := process.child_pid()) != first and pid)
        assert process.pid() == supervisor
        assert "killed by SIGKILL" in process.log_file.read_text()
    finally:
        assert process.stop() is True
    wait_until(lambda: not is_alive(supervisor) and not is_alive(second))
    assert process.child_pid() is None


def test_restart_delays_grow_after_quick_failures_and_reset_after_a_good_run() -> None:
    from catalog_stack.supervise import FIRST_DELAY_S, MAX_DELAY_S, restart_delay

    delays = [FIRST_DELAY_S]
    for _ in range(8):
        delays.append(restart_delay(delays[-1], ran_for_s=1.0))
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == MAX_DELAY_S
    assert restart_delay(MAX_DELAY_S, ran_for_s=120.0) == FIRST_DELAY_S


def test_a_port_clash_at_run_names_the_port_and_starts_nothing(tmp_path: Path) -> None:
    import socket
    import sys

    from tests.conftest import free_port

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        env = {
            **os.environ,
            "CATALOG_STACK_DIR": str(tmp_path / "stack"),
            "CATALOG_PG_PORT": str(free_port()),
            "CATALOG_BROKER_PORT": str(free_port()),
            "API_PORT": str(busy),
            "SEARCH_PORT": str(free_port()),
        }
        env.pop("DATABASE_URL", None)
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        cli = Path(sys.executable).parent / "catalog-stack"
        result = subprocess.run([str(cli), "run"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"port {busy}" in result.stderr
    assert "API_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "stack" / "run").exists() or not list((tmp_path / "stack" / "run").iterdir())
