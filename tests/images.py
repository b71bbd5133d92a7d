"""Images made at test time (no binary fixtures) and a local HTTP server that serves them on 127.0.0.1."""

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def jpeg(
    width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30), orientation: int | None = None
) -> bytes:
    """A JPEG with a gradient (so it compresses like a photo) and, optionally, an EXIF orientation."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image = Image.blend(image, Image.new("RGB", (width, height), colour), 0.8)
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Test camera"  # Make: metadata that must not survive
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def png(width: int, height: int, mode: str = "RGBA", colour: tuple[int, ...] = (10, 120, 240, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), colour[: len(mode)]).save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = jpeg(800, 600)
    return data[: len(data) // 2]


@dataclass
class Served:
    body: bytes
    content_type: str = "image/jpeg"
    status: int = 200
    delay_s: float = 0.0  # before the body: a slow server
    headers: dict[str, str] = field(default_factory=dict)
    drip_s: float | None = None  # instead of the body: one byte every `drip_s`, until the client hangs up


DRIP_LIMIT_S = 120.0  # a dripping answer ends by itself after this, whatever the test did


class ImageServer:
    """Serves `routes` (path → Served) over HTTP on 127.0.0.1, counts requests per path, keeps the last request's
    headers and records the paths whose dripping answer the client cut off (`hung_up`)."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: dict[str, int] = {}
        self.hung_up: dict[str, int] = {}
        self.headers: dict[str, dict[str, str]] = {}  # the last request's headers, per path
        self.stopping = threading.Event()
        routes, requests, hung_up, stopping, headers = (
            self.routes,
            self.requests,
            self.hung_up,
            self.stopping,
            self.headers,
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests[self.path] = requests.get(self.path, 0) + 1
                headers[self.path] = {k.lower(): v for k, v in self.headers.items()}
                served = routes.get(self.path, Served(b"not found", "text/plain", 404))
                self.send_response(served.status)
                self.send_header("Content-Type", served.content_type)
                length = 100_000 if served.drip_s is not None else len(served.body)  # 10 bytes/s: hours
                self.send_header("Content-Length", str(length))
                for name, value in served.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if served.drip_s is not None:
                    self.drip(served.drip_s)
                    return
                time.sleep(served.delay_s)
                self.wfile.write(served.body)

            def drip(self, interval_s: float) -> None:
                ends = time.monotonic() + DRIP_LIMIT_S
                try:
                    while time.monotonic() < ends:
                        self.wfile.write(b"\xff")
                        self.wfile.flush()
                        if stopping.wait(interval_s):
                            return
                except OSError:  # the client closed the connection: a write after that fails
                    hung_up[self.path] = hung_up.get(self.path, 0) + 1
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def address(self) -> str:
        """`host:port`, as OUTBOUND_ALLOW names it."""
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def serve(self, path: str, served: Served) -> str:
        self.routes[path] = served
        return self.url(path)


@contextmanager
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.server.shutdown()
        server.server.server_close()


class Listener:
    """A plain TCP listener on a free loopback port (IPv4 and, where there is one, the same port on ::1) that
    records every connection made to it and answers nothing: whatever reaches it reached an internal address."""

    def __init__(self) -> None:
        first = socket.create_server(("127.0.0.1", 0))
        self.port: int = first.getsockname()[1]
        self.sockets = [first]
        with contextlib.suppress(OSError):  # no IPv6 loopback, or the port is taken there
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        self.connections: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, args=(s,), daemon=True) for s in self.sockets]

    def _accept(self, listening: socket.socket) -> None:
        listening.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                connection, peer = listening.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(str(peer[0]))
            connection.close()


@contextmanager
def listener() -> Iterator[Listener]:
    recorder = Listener()
    for thread in recorder.threads:
        thread.start()
    try:
        yield recorder
    finally:
        recorder.stopping.set()
        for thread in recorder.threads:
            thread.join(timeout=5)
        for s in recorder.sockets:
            s.close()


def internal_spellings(port: int) -> dict[str, str]:
    """The ways an attacker names this host's loopback at `port`; each must be refused before any connection."""
    return {
        "dotted": f"http://127.0.0.1:{port}/a.jpg",
        "decimal": f"http://2130706433:{port}/a.jpg",
        "hex": f"http://0x7f000001:{port}/a.jpg",
        "octal": f"http://0177.0.0.1:{port}/a.jpg",
        "ipv4-mapped": f"http://[::ffff:127.0.0.1]:{port}/a.jpg",
        "ipv6": f"http://[::1]:{port}/a.jpg",
        "localhost": f"http://localhost:{port}/a.jpg",
        "localhost-fqdn": f"http://localhost.:{port}/a.jpg",
    }


def own_host_name() -> str | None:
    """This machine's host name, if the system resolver gives it only internal addresses (as /etc/hosts usually
    does): a real name, resolved by the system resolver, that leads inside."""
    from catalog_kit.outbound import system_resolver
    from catalog_kit.outbound_policy import classify

    name = socket.gethostname()
    try:
        addresses = system_resolver(name, 80)
    except OSError:
        return None
    return name if addresses and all(classify(a) is not None for a in addresses) else None
