"""Where the platform's outbound HTTP may go: pure rules about addresses, URLs and the allowlist (no I/O).

Every outbound request (image fetches today; webhooks and providers later) goes through `catalog_kit.outbound`,
which asks these rules twice: once about the URL before anything is sent, and once about every address a host
name resolved to, right before connecting to exactly that address. Anything that is not a public unicast address
is refused — loopback, private, link-local, multicast, unspecified, reserved, shared — however it is spelled:
decimal, octal or hex IPv4, IPv4 mapped into IPv6, NAT64 and 6to4 embeddings. Only http and https on the ports of
`OUTBOUND_PORTS` (80 and 443) are allowed; `OUTBOUND_ALLOW` names exceptions (`127.0.0.1:9000`, `[::1]:9000`,
`images.internal:8080`) for tests and local demos, and is empty in production.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

Address = IPv4Address | IPv6Address

DEFAULT_PORTS = frozenset({80, 443})
SCHEMES = frozenset({"http", "https"})


class OutboundReason(StrEnum):
    """Why an outbound request gave nothing: the only words a client of the platform is ever told.

    They say nothing about the inside — no driver messages, hosts, ports, status codes or hashes — so a URL
    cannot be used to scan or read internal services; the detail goes to the logs.
    """

    BLOCKED_ADDRESS = "blocked_address"  # the policy refused the URL or every address its host resolved to
    UNREACHABLE = "unreachable"  # no answer: name not found, connection failed, broken protocol, 5xx
    TIMEOUT = "timeout"  # a connect, a read or the whole exchange took longer than allowed
    TOO_LARGE = "too_large"  # the body is larger than the caller accepts


class OutboundRefused(Exception):
    """The policy refuses a URL or an address; `rule` names the rule (logged), never shown to clients."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


# IPv4 ranges that are not public unicast (IANA special-purpose registry). The first match names the rule.
_IPV4_FORBIDDEN: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), rule)
    for net, rule in (
        ("0.0.0.0/8", "unspecified"),  # "this network": connecting to 0.0.0.0 reaches the local host on Linux
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared"),  # carrier-grade NAT, often a cloud's internal network
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),  # includes 169.254.169.254, the cloud metadata service
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # the former 6to4 relay anycast
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

# IPv6 outside the global unicast block 2000::/3 is refused as a whole (the rules below only name the common
# cases); inside it, these special-purpose blocks are refused too.
_IPV6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_IPV6_FORBIDDEN: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), rule)
    for net, rule in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "reserved"),  # local-use NAT64: translates into whatever network the operator chose
        ("100::/64", "reserved"),  # discard-only
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private"),  # unique local addresses
        ("fec0::/10", "private"),  # the deprecated site-local addresses
        ("fe80::/10", "link_local"),
        ("ff00::/8", "multicast"),
    )
)
# IPv6 addresses that carry an IPv4 address and reach it: judged by the IPv4 address they carry.
_NAT64 = IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv6 address leads to (mapped, NAT64 or 6to4), with the kind of embedding."""
    if address.ipv4_mapped is not None:
        return "ipv4_mapped", address.ipv4_mapped
    if address in _NAT64:
        return "nat64", IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    return None


def classify(address: Address) -> str | None:
    """The rule that forbids connecting to `address`, or None for a public unicast address."""
    if isinstance(address, IPv4Address):
        return next((rule for net, rule in _IPV4_FORBIDDEN if address in net), None)
    embedded = embedded_ipv4(address)
    if embedded is not None:
        kind, ipv4 = embedded
        rule = classify(ipv4)
        return None if rule is None else f"{rule}_via_{kind}"
    named = next((rule for net, rule in _IPV6_FORBIDDEN if address in net), None)
    if named is not None:
        return named
    return None if address in _IPV6_GLOBAL_UNICAST else "reserved"


def connect_address(address: Address) -> Address:
    """Where to connect for `address`: an IPv4-mapped IPv6 address is its IPv4 address (same host, and it works
    without a dual-stack socket)."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_NAME = re.compile(r"[^\s/\\@%:?#\[\]]+")


def _ipv4_number(part: str) -> int:
    if not _NUMERIC_LABEL.fullmatch(part):
        raise ValueError(part)
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)  # ValueError for 8 or 9: not an octal number
    return int(part)


def parse_ip(host: str) -> Address | None:
    """`host` as an IP address in any spelling resolvers accept, or None for a name.

    Besides dotted quads and IPv6 (bracketed or not), `inet_aton` — and so `getaddrinfo` — reads one to four
    parts, each decimal, octal (leading 0) or hex (0x): `2130706433`, `0x7f000001`, `0177.0.0.1` and `127.1` are
    all 127.0.0.1. A host whose last label is a number but that is no such address is refused, as browsers do:
    no name ends in a number, so it is a spelling trick.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ip_address(text)
    except ValueError:
        pass
    if host.startswith("["):
        raise OutboundRefused("host", f"not an IPv6 address in brackets: {host[:100]!r}")
    parts = text.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]  # a trailing dot, which resolvers accept
    if not _NUMERIC_LABEL.fullmatch(parts[-1]):
        return None
    try:
        numbers = [_ipv4_number(part) for part in parts]
    except ValueError:
        raise OutboundRefused("host", f"a number that is no IPv4 address: {host[:100]!r}") from None
    *leading, last = numbers
    if len(numbers) > 4 or any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise OutboundRefused("host", f"a number that is no IPv4 address: {host[:100]!r}")
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return IPv4Address(value)


def normalise_host(host: str) -> str:
    """A host name as the rules compare it: lower case, without the trailing dot of a fully qualified name."""
    lowered = host.lower()
    return lowered[:-1] if lowered.endswith(".") and len(lowered) > 1 else lowered


_LOOPBACK = (IPv4Address("127.0.0.1"), IPv6Address("::1"))


def fixed_addresses(host: str) -> tuple[Address, ...] | None:
    """The addresses of `host` that need no resolver: an IP address in any spelling, or `localhost` and its
    subdomains, which always mean the local host (RFC 6761) whatever a resolver would answer. None: resolve it."""
    address = parse_ip(host)
    if address is not None:
        return (address,)
    name = normalise_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        return _LOOPBACK
    return None


@dataclass(frozen=True)
class Target:
    """Where a URL points: scheme, host (normalised; an IP address in its canonical spelling) and port."""

    scheme: str
    host: str
    port: int
    address: Address | None  # the host, when it is an IP address


def parse_target(url: str) -> Target:
    """The target of an http(s) URL; OutboundRefused for another scheme, credentials, or a malformed host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused("url", f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise OutboundRefused("scheme", f"not http(s): {scheme or 'none'}")
    if parts.username is not None or parts.password is not None:
        # user:pass@host is how URL parsers are made to disagree about the host; no image URL needs it.
        raise OutboundRefused("credentials", "a URL with user information")
    host = parts.hostname
    if not host:
        raise OutboundRefused("host", "no host")
    address = parse_ip(f"[{host}]" if ":" in host else host)
    if address is None and not _NAME.fullmatch(host):
        raise OutboundRefused("host", f"not a host name: {host[:100]!r}")
    return Target(
        scheme,
        normalise_host(host) if address is None else str(address),
        port if port is not None else (443 if scheme == "https" else 80),
        address,
    )


def parse_ports(text: str) -> frozenset[int]:
    """`OUTBOUND_PORTS`: comma-separated port numbers."""
    ports = frozenset(int(p) for p in (part.strip() for part in text.split(",")) if p)
    if any(not 0 < p < 65536 for p in ports):
        raise ValueError(f"OUTBOUND_PORTS: a port out of range in {text!r}")
    return ports


def parse_allow(text: str) -> frozenset[tuple[str, int]]:
    """`OUTBOUND_ALLOW`: comma-separated `host:port` destinations — `127.0.0.1:9000`, `[::1]:9000`,
    `images.internal:8080`. An address entry allows that address and port whatever name led there; a name entry
    allows the name on that port whatever it resolves to. The port is required: an entry names one server."""
    entries: set[tuple[str, int]] = set()
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        host, sep, port = raw.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"OUTBOUND_ALLOW: {raw!r} is not host:port")
        if host.startswith("[") != host.endswith("]"):
            raise ValueError(f"OUTBOUND_ALLOW: {raw!r} is not host:port")
        bare = host[1:-1] if host.startswith("[") else host
        try:
            address: Address | None = ip_address(bare)
        except ValueError:
            if host.startswith("[") or not bare.isascii() or not _NAME.fullmatch(bare):
                raise ValueError(f"OUTBOUND_ALLOW: {raw!r} is not host:port") from None
            address = None
        if isinstance(address, IPv6Address) and not host.startswith("["):
            raise ValueError(f"OUTBOUND_ALLOW: {raw!r}: an IPv6 address goes in brackets, [::1]:9000")
        entries.add((normalise_host(bare) if address is None else str(connect_address(address)), int(port)))
    return frozenset(entries)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which destinations outbound requests may reach. The default allows public addresses on ports 80 and 443."""

    allow: frozenset[tuple[str, int]] = frozenset()
    ports: frozenset[int] = DEFAULT_PORTS

    @classmethod
    def parse(cls, allow: str = "", ports: str = "80,443") -> "OutboundPolicy":
        """The policy of `OUTBOUND_ALLOW` and `OUTBOUND_PORTS`; ValueError names a malformed entry."""
        return cls(parse_allow(allow), parse_ports(ports))

    def check_url(self, url: str) -> Target:
        """The URL's target if a request may be sent to it at all; every address is checked again on connect."""
        target = parse_target(url)
        if (target.host, target.port) in self.allow:
            return target
        fixed = fixed_addresses(target.host)
        if fixed is not None:
            self.permitted(target.host, target.port, fixed)
        elif target.port not in self.ports and not any(port == target.port for _, port in self.allow):
            raise OutboundRefused("port", f"port {target.port} is not allowed")
        return target

    def check_address(self, host: str, port: int, address: Address) -> None:
        """Refuse connecting to `address`:`port` for a URL naming `host`, unless the allowlist names either."""
        address = connect_address(address)
        if (str(address), port) in self.allow or (normalise_host(host), port) in self.allow:
            return
        rule = classify(address)
        if rule is not None:
            raise OutboundRefused(rule, f"{address} is {rule.replace('_', ' ')}")
        if port not in self.ports:
            raise OutboundRefused("port", f"port {port} is not allowed")

    def permitted(self, host: str, port: int, addresses: Sequence[Address]) -> list[Address]:
        """The addresses of `host` that may be connected to, in the resolver's order; OutboundRefused (the first
        address's rule) when there is none. An address that is refused is never connected to, but the others of
        the same name may be: which one a connection uses is then the policy's choice, not the resolver's."""
        allowed: list[Address] = []
        refusals: list[OutboundRefused] = []
        for address in _unique(connect_address(a) for a in addresses):
            try:
                self.check_address(host, port, address)
            except OutboundRefused as refused:
                refusals.append(refused)
            else:
                allowed.append(address)
        if not allowed and refusals:
            raise refusals[0]
        return allowed


def _unique(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))
