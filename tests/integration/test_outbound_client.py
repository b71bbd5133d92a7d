"""The outbound client against real sockets on loopback: internal addresses are never connected to, whatever the
spelling, the name or the redirect; connections go to the address that was checked; a dripping server is cut off
at the deadline; TLS still verifies the host name."""

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, ip_address
from pathlib import Path

import pytest

from catalog_kit.outbound import OutboundClient, OutboundError, Resolver, read_body, system_resolver
from catalog_kit.outbound_policy import Address, OutboundPolicy, OutboundReason
from tests.images import ImageServer, Listener, Served, image_server, internal_spellings, jpeg, listener
from tests.support import wait_until

LOOPBACK = IPv4Address("127.0.0.1")


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with image_server() as server:
        yield server


@pytest.fixture
def inside() -> Iterator[Listener]:
    with listener() as recorder:
        yield recorder


def client_for(
    policy: OutboundPolicy, resolver: Resolver = system_resolver, ssl_context: ssl.SSLContext | None = None
) -> OutboundClient:
    return OutboundClient(policy, timeout_s=5, resolver=resolver, ssl_context=ssl_context)


def fetch(client: OutboundClient, url: str, deadline_s: float = 5, max_bytes: int = 1_000_000) -> bytes:
    with client.stream("GET", url, deadline_s=deadline_s) as response:
        return read_body(response, max_bytes)


def refused(client: OutboundClient, url: str, deadline_s: float = 5) -> OutboundReason:
    with pytest.raises(OutboundError) as failed:
        fetch(client, url, deadline_s)
    return failed.value.reason


def resolver_of(names: dict[str, list[Address]], calls: list[str] | None = None) -> Resolver:
    """A resolver for names the test owns (no system file or DNS server is changed)."""

    def resolve(host: str, port: int) -> list[Address]:
        if calls is not None:
            calls.append(host)
        return names[host]

    return resolve


@pytest.mark.parametrize("ports", ["standard", "listener's port open"])
def test_no_spelling_of_an_internal_address_is_connected_to(inside: Listener, ports: str) -> None:
    # With the listener's port among the allowed ports only the address rules stand in the way.
    open_ports = frozenset({80, 443} | ({inside.port} if ports != "standard" else set()))
    client = client_for(OutboundPolicy(ports=open_ports))
    try:
        for spelling, url in internal_spellings(inside.port).items():
            assert refused(client, url) is OutboundReason.BLOCKED_ADDRESS, spelling
    finally:
        client.close()
    assert inside.connections == []


def test_spellings_that_only_a_url_library_reads_as_loopback_connect_nowhere_either(inside: Listener) -> None:
    # Our URL parser sees names here; what httpx makes of them (IDNA full stops, zero-padded IPv6) is checked
    # again on connect, where only the address counts.
    odd = [
        f"http://127\u30020\u30020\u30021:{inside.port}/",  # ideographic full stops, mapped to dots by IDNA
        f"http://\uff11\uff12\uff17.0.0.1:{inside.port}/",  # fullwidth digits
        f"http://[0:0:0:0:0:ffff:7f00:1]:{inside.port}/",
        f"http://LOCALHOST:{inside.port}/",
        f"http://127.0.0.1%2e:{inside.port}/",
    ]
    client = client_for(OutboundPolicy(ports=frozenset({inside.port})))
    try:
        for url in odd:
            assert refused(client, url) in (OutboundReason.BLOCKED_ADDRESS, OutboundReason.UNREACHABLE), url
    finally:
        client.close()
    assert inside.connections == []


def test_names_that_resolve_inside_are_refused_before_connecting(inside: Listener) -> None:
    names: dict[str, list[Address]] = {
        "images.attacker.test": [LOOPBACK],
        "mixed.attacker.test": [ip_address("10.0.0.7"), ip_address("::1")],
        "mapped.attacker.test": [ip_address("::ffff:127.0.0.1")],
    }
    client = client_for(OutboundPolicy(ports=frozenset({inside.port})), resolver=resolver_of(names))
    try:
        for name in names:
            assert refused(client, f"http://{name}:{inside.port}/a.jpg") is OutboundReason.BLOCKED_ADDRESS, name
    finally:
        client.close()
    assert inside.connections == []


def test_the_system_resolver_reads_names_of_the_hosts_file() -> None:
    assert LOOPBACK in system_resolver("localhost", 80)


def test_the_connection_goes_to_the_address_that_was_checked_and_keeps_the_host_name(server: ImageServer) -> None:
    data = jpeg(20, 20)
    port = int(server.address.rsplit(":", 1)[1])
    url = server.serve("/named.jpg", Served(data)).replace("127.0.0.1", "images.catalog.test")
    calls: list[str] = []
    client = client_for(
        OutboundPolicy.parse(server.address), resolver=resolver_of({"images.catalog.test": [LOOPBACK]}, calls)
    )
    try:
        # The name exists nowhere but in this resolver: had anything looked it up again, the fetch would fail.
        assert fetch(client, url) == data
    finally:
        client.close()
    assert calls == ["images.catalog.test"]  # one lookup, and the connection went to its checked answer
    assert server.headers["/named.jpg"]["host"] == f"images.catalog.test:{port}"


def test_a_redirect_into_the_inside_is_refused_at_its_hop(server: ImageServer, inside: Listener) -> None:
    client = client_for(OutboundPolicy.parse(server.address))
    data = jpeg(16, 16)
    target = server.serve("/moved.jpg", Served(data))
    hops = {
        "listener": f"http://127.0.0.1:{inside.port}/a.jpg",
        "listener-decimal": f"http://2130706433:{inside.port}/a.jpg",
        "localhost": f"http://localhost:{inside.port}/a.jpg",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "file": "file:///etc/passwd",
    }
    try:
        moved = server.serve("/old.jpg", Served(b"", "text/plain", 301, headers={"Location": target}))
        assert fetch(client, moved) == data
        for name, location in hops.items():
            url = server.serve(f"/to-{name}.jpg", Served(b"", "text/plain", 302, headers={"Location": location}))
            assert refused(client, url) is OutboundReason.BLOCKED_ADDRESS, name
        loop = server.serve("/loop.jpg", Served(b"", "text/plain", 302, headers={"Location": "/loop.jpg"}))
        assert refused(client, loop) is OutboundReason.UNREACHABLE
        assert server.requests["/loop.jpg"] == 4  # the first request and three redirects, no more
    finally:
        client.close()
    assert inside.connections == []


def test_credentials_do_not_follow_a_redirect_to_another_origin(server: ImageServer) -> None:
    with image_server() as other:
        client = client_for(OutboundPolicy.parse(f"{server.address},{other.address}"))
        target = other.serve("/there.jpg", Served(jpeg(8, 8)))
        url = server.serve("/here.jpg", Served(b"", "text/plain", 302, headers={"Location": target}))
        try:
            with client.stream("GET", url, deadline_s=5, headers={"Authorization": "Bearer s3cret"}) as response:
                assert response.status_code == 200
        finally:
            client.close()
        assert server.headers["/here.jpg"]["authorization"] == "Bearer s3cret"
        assert "authorization" not in other.headers["/there.jpg"]


def test_a_dripping_body_is_cut_off_at_the_deadline(server: ImageServer) -> None:
    url = server.serve("/drip.jpg", Served(b"", drip_s=0.1))
    client = client_for(OutboundPolicy.parse(server.address))  # a 5 s read timeout, which each byte resets
    try:
        assert refused(client, url, deadline_s=1.0) is OutboundReason.TIMEOUT
    finally:
        client.close()
    wait_until(lambda: server.hung_up.get("/drip.jpg"), timeout=10)  # our side closed the connection


@contextmanager
def header_dripper() -> Iterator[tuple[int, threading.Event]]:
    """A server that answers a status line and then one header byte every 100 ms: the response never starts."""
    hung_up = threading.Event()
    stopping = threading.Event()
    listening = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listening.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stopping.wait(0.1):
                    connection.sendall(b"X")
            except OSError:
                hung_up.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listening.getsockname()[1], hung_up
    finally:
        stopping.set()
        listening.close()
        thread.join(timeout=5)


def test_dripping_headers_are_cut_off_at_the_deadline() -> None:
    with header_dripper() as (port, hung_up):
        client = client_for(OutboundPolicy.parse(f"127.0.0.1:{port}"))
        try:
            assert refused(client, f"http://127.0.0.1:{port}/a.jpg", deadline_s=1.0) is OutboundReason.TIMEOUT
        finally:
            client.close()
        wait_until(hung_up.is_set, timeout=10)


def test_a_name_server_that_never_answers_ends_at_the_deadline() -> None:
    answer = threading.Event()

    def silent(host: str, port: int) -> list[Address]:
        answer.wait(30)
        return [ip_address("93.184.216.34")]

    client = client_for(OutboundPolicy(), resolver=silent)
    try:
        assert refused(client, "https://slow-dns.catalog.test/a.jpg", deadline_s=0.5) is OutboundReason.TIMEOUT
    finally:
        answer.set()
        client.close()


def test_sizes_are_capped_and_dead_ports_are_unreachable(server: ImageServer) -> None:
    client = client_for(OutboundPolicy.parse(f"{server.address},127.0.0.1:9"))
    try:
        big = server.serve("/big.jpg", Served(b"x" * 5000))
        with client.stream("GET", big, deadline_s=5) as response, pytest.raises(OutboundError) as failed:
            read_body(response, 4999)
        assert failed.value.reason is OutboundReason.TOO_LARGE
        assert read_body_of(client, big, 5000) == b"x" * 5000
        assert refused(client, "http://127.0.0.1:9/a.jpg") is OutboundReason.UNREACHABLE  # discard port: refused
    finally:
        client.close()


def read_body_of(client: OutboundClient, url: str, max_bytes: int) -> bytes:
    with client.stream("GET", url, deadline_s=5) as response:
        return read_body(response, max_bytes)


def test_proxy_settings_of_the_environment_are_ignored(
    server: ImageServer, inside: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{inside.port}")
    client = client_for(OutboundPolicy.parse(server.address))
    try:
        assert fetch(client, server.serve("/direct.jpg", Served(b"direct"))) == b"direct"
    finally:
        client.close()
    assert inside.connections == []


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for images.catalog.test, made at test time."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=images.catalog.test", "-addext", "subjectAltName=DNS:images.catalog.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def tls_image_server(context: ssl.SSLContext) -> Iterator[ImageServer]:
    server = ImageServer()
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)  # before it serves
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_tls_keeps_the_host_name_for_sni_and_verification(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    names: list[str | None] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda _socket, name, _context: names.append(name)
    with tls_image_server(server_context) as server:
        data = jpeg(12, 12)
        port = int(server.address.rsplit(":", 1)[1])
        server.serve("/secure.jpg", Served(data))
        resolver = resolver_of({"images.catalog.test": [LOOPBACK], "other.catalog.test": [LOOPBACK]})
        client = client_for(
            OutboundPolicy.parse(server.address),
            resolver=resolver,
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        try:
            assert fetch(client, f"https://images.catalog.test:{port}/secure.jpg") == data
            # The same address under a name the certificate does not cover: verification still fails.
            assert refused(client, f"https://other.catalog.test:{port}/secure.jpg") is OutboundReason.UNREACHABLE
        finally:
            client.close()
    assert names[0] == "images.catalog.test"
    assert "other.catalog.test" in names
    assert server.headers["/secure.jpg"]["host"] == f"images.catalog.test:{port}"
