"""Images made at test time (no binary fixtures) and a local HTTP server that serves them on 127.0.0.1."""

import io
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


class ImageServer:
    """Serves `routes` (path → Served) over HTTP on 127.0.0.1 and counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: dict[str, int] = {}
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests[self.path] = requests.get(self.path, 0) + 1
                served = routes.get(self.path, Served(b"not found", "text/plain", 404))
                self.send_response(served.status)
                self.send_header("Content-Type", served.content_type)
                self.send_header("Content-Length", str(len(served.body)))
                for name, value in served.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                time.sleep(served.delay_s)
                self.wfile.write(served.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

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
        server.server.shutdown()
        server.server.server_close()
