"""The attacker's view of the running media worker: someone with a write key lists image URLs that name this
host's own services. A listener on a loopback port records whatever reaches it: nothing may, whatever the
spelling, the name or the redirect, and each image fails with the coarse `blocked_address`. A server that drips
its answer is cut off at the fetch deadline.

For this module the worker runs with the listener's port among the allowed ports (and a 1 s fetch deadline), so
only the address rules stand between it and the listener, not the port rule."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import WRITE_KEY, System
from tests.e2e.test_media_end_to_end import create, media_of
from tests.images import ImageServer, Listener, Served, internal_spellings, jpeg, listener, own_host_name
from tests.support import wait_until


@pytest.fixture(scope="module")
def inside() -> Iterator[Listener]:
    with listener() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def media_worker(running_system: System, inside: Listener) -> Iterator[System]:
    """The media worker with the listener's port allowed as if it were 80 or 443, then as before."""
    running_system.restart("media", OUTBOUND_PORTS=f"80,443,{inside.port}", MEDIA_FETCH_DEADLINE_S="1")
    try:
        yield running_system
    finally:
        running_system.restart("media")


@pytest.fixture
def http(media_worker: System) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}
    with httpx.Client(base_url=media_worker.api_url, headers=headers, timeout=10) as client:
        yield client


def test_no_spelling_of_an_internal_address_reaches_the_inside(
    http: httpx.Client, image_host: ImageServer, inside: Listener
) -> None:
    token = uuid.uuid4().hex[:12]
    hostile = list(internal_spellings(inside.port).values())
    if (name := own_host_name()) is not None:
        hostile.append(f"http://{name}:{inside.port}/a.jpg")  # resolved by the worker's system resolver
    hop = f"/{token}/hop.jpg"  # an allowed server that redirects inside
    hostile.append(
        image_host.serve(hop, Served(b"", "text/plain", 302, headers={"Location": f"http://127.0.0.1:{inside.port}/"}))
    )
    product = create(http, token, hostile)
    # The worker joined its group again after the restart: the first join can take a while.
    images = wait_until(lambda: media_of(http, product["id"]), timeout=90, interval=0.1)
    assert [(i["status"], i["reason"], i["sha256"]) for i in images] == [("failed", "blocked_address", None)] * len(
        hostile
    )
    assert image_host.requests[hop] == 1  # the allowed server was asked; its redirect was not followed
    assert inside.connections == []


def test_a_dripping_image_server_is_cut_off_at_the_deadline(http: httpx.Client, image_host: ImageServer) -> None:
    token = uuid.uuid4().hex[:12]
    drip = f"/{token}/drip.jpg"
    urls = [
        image_host.serve(drip, Served(b"", drip_s=0.1)),  # a byte every 100 ms, for as long as it is read
        image_host.serve(f"/{token}/fine.jpg", Served(jpeg(80, 60))),
    ]
    product = create(http, token, urls)
    images = wait_until(lambda: media_of(http, product["id"]), timeout=90, interval=0.1)
    assert [(i["status"], i["reason"]) for i in images] == [("failed", "timeout"), ("processed", None)]
    wait_until(lambda: image_host.hung_up.get(drip), timeout=15)  # the worker closed the connection
