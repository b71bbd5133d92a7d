"""No command prints a secret: `catalog-stack up` against a database URL with a password shows it masked."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from catalog_stack.infra import Endpoints

pytestmark = pytest.mark.integration


def test_catalog_stack_up_prints_the_database_url_without_its_password(
    fresh_database: str, endpoints: Endpoints, tmp_path: Path
) -> None:
    password = f"pw-{uuid.uuid4().hex}"  # the test cluster trusts local connections: any password gets in
    url = make_url(fresh_database).set(password=password).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "CATALOG_STACK_DIR": str(tmp_path / "stack"),  # nothing is started: both components are given
    }
    command = [str(Path(sys.executable).parent / "catalog-stack"), "up"]
    up = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert up.returncode == 0, up.stderr
    assert password not in up.stdout + up.stderr
    masked = make_url(url).render_as_string(hide_password=True)  # user:***@
    assert f"DATABASE_URL={masked}" in up.stdout.splitlines()
