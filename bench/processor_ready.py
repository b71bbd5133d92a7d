"""Time to ready of the stream processors on the `make run` stack: each is killed with SIGKILL `--rounds` times and
its supervisor starts it again; the clock runs from the kill until its `/readyz` answers 200 again.

The supervisor waits `FIRST_DELAY_S` (0.5 s) before a restart; the figures are printed with and without it. The
target is 5 s after start against a running broker.

    .venv/bin/python bench/processor_ready.py [--rounds 3] [--stack-dir .local] [--search-port 8001]
"""

import argparse
import os
import signal
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path

from catalog_stack.infra import StackConfig
from catalog_stack.services import platform_services, service_process
from catalog_stack.supervise import FIRST_DELAY_S

TARGET_S = 5.0


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback health URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait(probe_url: str, timeout_s: float) -> float:
    started = time.monotonic()
    while not ready(probe_url):
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{probe_url} not ready after {timeout_s}s")
        time.sleep(0.02)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stack-dir", type=Path, default=Path(".local"))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    parser.add_argument("--search-port", type=int, default=int(os.environ.get("SEARCH_PORT", "8001")))
    args = parser.parse_args()
    config = StackConfig.from_env(args.stack_dir)
    print(
        f"{'processor':10} {'kill → ready (s), each round':34} {'median':>7} {'minus restart delay':>20} {'target':>7}"
    )
    for service in platform_services(args.api_port, args.search_port):
        if not service.health_port or not service.ready_url:
            continue
        process = service_process(config, service.name)
        wait(service.ready_url, 60)  # ready before the first kill
        rounds = []
        for _ in range(args.rounds):
            pid = process.child_pid()
            if pid is None:
                raise SystemExit(f"{service.name} is not running under its supervisor: start the stack with make run")
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            while ready(service.ready_url):  # the old process may answer until the kernel closes its socket
                time.sleep(0.01)
            rounds.append(time.monotonic() - killed + wait(service.ready_url, 120))
        median = statistics.median(rounds)
        own = median - FIRST_DELAY_S
        print(
            f"{service.name:10} {', '.join(f'{r:.2f}' for r in rounds):34} {median:7.2f} {own:20.2f}"
            f" {own / TARGET_S:6.2f}x"
        )


if __name__ == "__main__":
    main()
