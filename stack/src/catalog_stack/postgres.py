"""A project-local PostgreSQL cluster: data, socket and log under the stack's directory, on its own port."""

import glob
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from catalog_stack import apt
from catalog_stack.processes import is_alive

log = logging.getLogger(__name__)

# Unix socket paths are limited to 107 bytes; deeper checkouts fall back to TCP only.
_MAX_SOCKET_DIR = 90


@dataclass(frozen=True)
class LocalPostgres:
    """PostgreSQL from the machine's binaries, run as an unprivileged user when we are root."""

    root: Path
    port: int
    database: str = "catalog"
    user: str = "postgres"

    @property
    def home(self) -> Path:
        """Where the cluster lives: `<root>/pg`, or a link from there when the server user cannot reach it."""
        link = self.root / "pg"
        return link.resolve() if link.is_symlink() else link  # the server user must not need the link's path

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def url(self, database: str | None = None) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database or self.database}"

    def start(self) -> None:
        """Initialise the cluster on first use, start it unless running, and create the database."""
        bindir = _bindir()
        owner = _server_user()
        self._prepare_home(owner)
        if not (self.data_dir / "PG_VERSION").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a half-made cluster from an interrupted initdb
            self._run(
                owner,
                bindir / "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
            self._configure()
        self._remove_stale_lock()
        if self._run(owner, bindir / "pg_ctl", "-D", str(self.data_dir), "status", check=False) != 0:
            self._run(
                owner,
                bindir / "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {self.port}",  # the port asked for now, not the one the cluster was first made with
                "-w",
                "-t",
                "60",
                "start",
            )
        elif (running := self._running_port()) not in (None, self.port):
            raise RuntimeError(
                f"the PostgreSQL of {self.data_dir} already runs on port {running}, not {self.port}: "
                "stop it first (catalog-stack down) or use that port"
            )
        self._wait_ready()
        self._ensure_database()

    def _running_port(self) -> int | None:
        """The port of the running server, from its postmaster.pid (4th line); None if it cannot be read."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster (`fast`, or `immediate` for a crash-like stop); False if it was not running."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        owner = _server_user()
        ctl = _bindir() / "pg_ctl"
        if self._run(owner, ctl, "-D", str(self.data_dir), "status", check=False) != 0:
            return False
        self._run(owner, ctl, "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")
        return True

    def _remove_stale_lock(self) -> None:
        """Forget a crashed server's lock file: both pg_ctl and postgres take a zombie postmaster for a live one."""
        lock = self.data_dir / "postmaster.pid"
        try:
            pid = int(lock.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return
        if not is_alive(pid):
            log.warning("removing the lock file of a crashed PostgreSQL", extra={"pid": pid})
            lock.unlink(missing_ok=True)
            for socket_file in self.socket_dir.glob(".s.PGSQL.*"):  # its socket and socket lock too
                socket_file.unlink(missing_ok=True)

    def _prepare_home(self, owner: str | None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if owner is not None and not (self.root / "pg").exists() and not _can_traverse(owner, self.root):
            # A checkout inside a private directory: keep the cluster where the server user can reach it,
            # linked from the usual place so every path below stays the same.
            outside = (
                Path(tempfile.gettempdir())
                / f"catalog-pg-{hashlib.sha256(bytes(self.root.resolve())).hexdigest()[:12]}"
            )
            outside.mkdir(mode=0o700, exist_ok=True)
            (self.root / "pg").symlink_to(outside, target_is_directory=True)
        self.home.mkdir(exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if owner is not None:
            uid = pwd.getpwnam(owner).pw_uid
            for path in (self.home.resolve(), self.socket_dir, self.log_file):
                if path.exists():
                    os.chown(path, uid, -1)

    def _configure(self) -> None:
        socket_dir = str(self.socket_dir) if len(str(self.socket_dir)) <= _MAX_SOCKET_DIR else ""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{socket_dir}'",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "logging_collector": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# catalog local cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self._conninfo("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _ensure_database(self) -> None:
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def _run(self, owner: str | None, *argv: str | Path, check: bool = True) -> int:
        cmd = [str(a) for a in argv]
        if owner is not None:
            cmd = ["runuser", "-u", owner, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr or result.stdout}")
        return result.returncode


def _bindir() -> Path:
    """The newest installed PostgreSQL's bin directory; installs PostgreSQL from Debian when there is none."""
    found = _find_bindir()
    if found is None and apt.install("postgresql", "postgresql-contrib"):
        found = _find_bindir()
    if found is None:
        raise RuntimeError("PostgreSQL binaries not found: install PostgreSQL 15+ or set DATABASE_URL")
    return found


def _find_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _can_traverse(owner: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", owner, "--", "test", "-x", str(path)], check=False).returncode == 0


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: use the `postgres` account then (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
    return "postgres"
