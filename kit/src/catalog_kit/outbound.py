"""The one way the platform makes HTTP requests to URLs it was given: `OutboundClient` (needs `catalog-kit[outbound]`).

What it guarantees, whoever calls it (see `catalog_kit.outbound_policy` for the rules):

- **No internal address is ever connected to.** The host is resolved here, every address is checked, and the
  connection goes to an address that passed — the one that was checked, not one a second lookup might return
  (DNS rebinding). The URL is left alone, so `Host`, TLS SNI and certificate verification still use the host
  name. This happens inside the connection pool (a custom httpcore network backend), so every connection is
  checked: the first, each redirect hop, and any reconnect.
- **Redirects are followed here**, at most `max_redirects`, each hop's URL checked before it is requested.
- **One wall-clock deadline per request**, from the lookup to the last body byte: every socket read, write,
  connect and TLS handshake waits at most until the deadline, so a server that drips a byte at a time is cut off
  on time, not after a full read timeout per byte. Name lookups wait at most until the deadline too.
- **Coarse failures**: `OutboundError.reason` is one of `OutboundReason`; the detail is for logs only.
"""

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from catalog_kit.outbound_policy import (
    Address,
    OutboundPolicy,
    OutboundReason,
    OutboundRefused,
    fixed_addresses,
)

log = logging.getLogger("catalog_kit.outbound")

Resolver = Callable[[str, int], list[Address]]
REDIRECT_METHODS = frozenset({"GET", "HEAD"})
# Headers that must not follow a redirect to another origin: they were meant for the first one.
_CREDENTIALS = ("authorization", "cookie", "proxy-authorization")
_WRITE_CHUNK = 64 * 1024

# The deadline of the request the current thread is making (time.monotonic()); None: only per-operation timeouts.
_deadline: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)


class OutboundError(Exception):
    """An outbound request gave nothing usable: `reason` may be shown to clients, `detail` only logged."""

    def __init__(self, reason: OutboundReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail[:500]


def system_resolver(host: str, port: int) -> list[Address]:
    """The host's addresses from the system resolver (files, DNS, ...), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _within_deadline(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` shortened to what is left of the current request's deadline; `expired` once nothing is left."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


def _resolve(resolver: Resolver, host: str, port: int, timeout: float | None) -> list[Address]:
    """`resolver(host, port)`, waiting at most `timeout`: a name server that never answers must not hold a
    worker thread past the request's deadline. The lookup runs in a daemon thread, which the system resolver's own
    timeouts end eventually."""
    result: Future[list[Address]] = Future()

    def lookup() -> None:
        try:
            result.set_result(resolver(host, port))
        except BaseException as exc:  # handed to the waiting caller
            result.set_exception(exc)

    threading.Thread(target=lookup, name="outbound-resolve", daemon=True).start()
    try:
        return result.result(timeout)
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"resolving {host}: {exc}") from exc


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # In pieces, so a peer that reads slowly cannot stretch one large write past the deadline.
        for start in range(0, len(buffer), _WRITE_CHUNK):
            self._inner.write(buffer[start : start + _WRITE_CHUNK], _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _within_deadline(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Opens connections only to addresses the policy permits, resolving each host name exactly once."""

    def __init__(
        self, policy: OutboundPolicy, resolver: Resolver = system_resolver, inner: httpcore.NetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = fixed_addresses(host)
        if addresses is None:
            addresses = tuple(_resolve(self.resolver, host, port, _within_deadline(timeout, httpcore.ConnectTimeout)))
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        permitted = self.policy.permitted(host, port, addresses)
        failure: Exception | None = None
        for address in permitted:
            try:
                # The checked address itself, as text: no name is looked up again between check and connect.
                stream = self.inner.connect_tcp(
                    str(address),
                    port,
                    _within_deadline(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise OutboundRefused("unix_socket", "outbound requests go over TCP only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


# httpcore's exceptions as httpx raises them, most specific first, so callers of the httpx client see the usual
# types.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _HTTPX_ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._inner

    def close(self) -> None:
        with _as_httpx_errors():
            self._inner.close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose connections come from `GuardedBackend`."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class OutboundClient:
    """Outbound HTTP under the policy: thread-safe, one connection pool; `stream` is the one entry point."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout_s: float = 5.0,
        max_redirects: int = 3,
        headers: Mapping[str, str] | None = None,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
    ) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, resolver),
        )
        self.http = httpx.Client(
            transport=GuardedTransport(pool),
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,  # followed in `stream`, each hop checked
            trust_env=False,  # no proxy from the environment: connections go where the policy decided
            # Bodies arrive as sent: a size cap on compressed bytes would not bound what decoding makes of them.
            headers={"Accept-Encoding": "identity", **(headers or {})},
        )

    @contextmanager
    def stream(
        self,
        method: str,
        url: str,
        *,
        deadline_s: float,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Iterator[httpx.Response]:
        """The response to `method url` after redirects (GET and HEAD only), its body not yet read.

        The deadline counts from now until the block ends, reading the body included (`read_body`). Every failure
        — refused by the policy, unreachable, too slow — becomes an OutboundError, raised from here or from the
        block.
        """
        token = _deadline.set(time.monotonic() + deadline_s)
        try:
            response = self._follow(method.upper(), url, dict(headers or {}), content)
            try:
                yield response
            finally:
                response.close()
        except OutboundRefused as refused:
            # Refusals are what an attacker probing the inside produces: worth a line of their own.
            log.warning(
                "outbound request refused",
                extra={"host": _host_of(url), "rule": refused.rule, "detail": refused.detail},
            )
            raise OutboundError(OutboundReason.BLOCKED_ADDRESS, str(refused)) from refused
        except httpx.TimeoutException as exc:
            raise OutboundError(OutboundReason.TIMEOUT, f"{type(exc).__name__}: {exc}") from exc
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise OutboundError(OutboundReason.UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
        finally:
            _deadline.reset(token)

    def close(self) -> None:
        self.http.close()

    def _follow(self, method: str, url: str, headers: dict[str, str], content: bytes | None) -> httpx.Response:
        origin: tuple[str, str, int] | None = None
        for _ in range(self.max_redirects + 1):
            target = self.policy.check_url(url)
            if origin is not None and origin != (target.scheme, target.host, target.port):
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            origin = (target.scheme, target.host, target.port)
            request = self.http.build_request(method, url, headers=headers, content=content)
            response = self.http.send(request, stream=True)
            # httpx counts 304 Not Modified among redirects; without a Location there is nowhere to go.
            if not (response.is_redirect and method in REDIRECT_METHODS and "location" in response.headers):
                return response
            response.close()
            url = str(response.url.join(response.headers["location"]))
        raise OutboundError(OutboundReason.UNREACHABLE, f"more than {self.max_redirects} redirects")


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "")[:200]
    except ValueError:
        return ""


def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The whole body of a response from `OutboundClient.stream` (call it inside the block), at most `max_bytes`:
    a larger declared length is refused unread, a longer body as soon as it passes the cap."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError(OutboundReason.TOO_LARGE, f"declared {declared} bytes, more than {max_bytes}")
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise OutboundError(OutboundReason.TOO_LARGE, f"more than {max_bytes} bytes")
    return bytes(body)
