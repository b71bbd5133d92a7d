"""The outbound policy's pure rules: which addresses are internal however they are spelled, which URLs may be
requested, and what the allowlist lets through."""

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from catalog_kit.outbound_policy import (
    OutboundPolicy,
    OutboundRefused,
    classify,
    connect_address,
    fixed_addresses,
    parse_allow,
    parse_ip,
    parse_ports,
    parse_target,
)
from catalog_kit.settings import CatalogSettings

LOOPBACK = IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address under test, nothing binds to it)
        ("0.1.2.3", "unspecified"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("169.254.0.1", "link_local"),
        ("169.254.169.254", "link_local"),  # cloud metadata
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.1", "documentation"),
        ("192.88.99.1", "reserved"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.7", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
    ],
)
def test_internal_ipv4_ranges_are_refused(address: str, rule: str) -> None:
    assert classify(IPv4Address(address)) == rule


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "private"),
        ("fe80::1", "link_local"),
        ("febf::1", "link_local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("100::1", "reserved"),
        ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001::1", "reserved"),  # Teredo
        ("2001:2::1", "reserved"),
        ("::127.0.0.1", "reserved"),  # the deprecated IPv4-compatible form
        ("::ffff:0:7f00:1", "reserved"),  # IPv4-translated
        ("4000::1", "reserved"),  # outside global unicast
        ("::ffff:127.0.0.1", "loopback_via_ipv4_mapped"),
        ("::ffff:10.1.2.3", "private_via_ipv4_mapped"),
        ("::ffff:169.254.169.254", "link_local_via_ipv4_mapped"),
        ("64:ff9b::7f00:1", "loopback_via_nat64"),
        ("64:ff9b::a9fe:a9fe", "link_local_via_nat64"),
        ("2002:7f00:1::1", "loopback_via_6to4"),
        ("2002:c0a8:101::", "private_via_6to4"),
    ],
)
def test_internal_ipv6_ranges_and_embedded_ipv4_are_refused(address: str, rule: str) -> None:
    assert classify(IPv6Address(address)) == rule


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.32.0.1", "198.20.0.1",
     "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)  # fmt: skip
def test_public_unicast_addresses_pass(address: str) -> None:
    assert classify(ip_address(address)) is None


def test_an_ipv4_mapped_address_is_connected_to_as_ipv4() -> None:
    assert connect_address(IPv6Address("::ffff:8.8.8.8")) == IPv4Address("8.8.8.8")
    assert connect_address(IPv6Address("2606:4700::1")) == IPv6Address("2606:4700::1")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",  # decimal
        "0x7f000001",  # hex
        "0X7F000001",
        "0177.0.0.1",  # octal
        "0177.0000.0000.0001",
        "0x7f.0.0.1",
        "0x7f.1",
        "127.1",  # short forms: the last part fills the rest
        "127.0.1",
        "017700000001",
        "127.0.0.1.",  # a trailing dot
    ],
)
def test_every_spelling_of_loopback_is_read_as_loopback(host: str) -> None:
    assert parse_ip(host) == LOOPBACK


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("::ffff:127.0.0.1", IPv6Address("::ffff:127.0.0.1")),
        ("[::ffff:127.0.0.1]", IPv6Address("::ffff:127.0.0.1")),
        ("[::1]", IPv6Address("::1")),
        ("0", IPv4Address(0)),
        ("0x", IPv4Address(0)),
        ("3232235777", IPv4Address("192.168.1.1")),
        ("10.1", IPv4Address("10.0.0.1")),
        ("example.com", None),
        ("images.example.com.", None),
        ("1e100.net", None),  # a name whose last label is no number
        ("0x7f.example", None),
    ],
)
def test_ip_literals_and_names_are_told_apart(host: str, expected: IPv4Address | IPv6Address | None) -> None:
    assert parse_ip(host) == expected


@pytest.mark.parametrize(
    "host", ["256.0.0.1", "1.2.3.4.5", "08.0.0.1", "0x1.0x100.1.1", "1..2", "4294967296", "[nope]"]
)
def test_a_number_that_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        parse_ip(host)
    assert refused.value.rule == "host"


def test_localhost_names_mean_loopback_without_asking_a_resolver() -> None:
    loopback = (IPv4Address("127.0.0.1"), IPv6Address("::1"))
    assert fixed_addresses("localhost") == loopback
    assert fixed_addresses("LOCALHOST.") == loopback
    assert fixed_addresses("images.localhost") == loopback
    assert fixed_addresses("2130706433") == (LOOPBACK,)
    assert fixed_addresses("example.com") is None
    assert fixed_addresses("notlocalhost") is None


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://Images.Example.com./a.jpg", ("http", "images.example.com", 80)),
        ("https://images.example.com/a.jpg", ("https", "images.example.com", 443)),
        ("HTTPS://images.example.com:8443/a.jpg", ("https", "images.example.com", 8443)),
        ("http://2130706433:8080/", ("http", "127.0.0.1", 8080)),
        ("http://[::ffff:127.0.0.1]:81/", ("http", "::ffff:7f00:1", 81)),
    ],
)
def test_urls_are_parsed_into_their_target(url: str, target: tuple[str, str, int]) -> None:
    parsed = parse_target(url)
    assert (parsed.scheme, parsed.host, parsed.port) == target


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/a.jpg", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme"),
        ("//example.com/a.jpg", "scheme"),
        ("http://user:secret@example.com/a.jpg", "credentials"),
        ("http://example.com@127.0.0.1/a.jpg", "credentials"),
        ("http:///a.jpg", "host"),
        ("http://example.com:99999/", "url"),
        ("http://[::1/", "url"),
        ("http://exa mple.com/", "host"),
        ("http://256.0.0.1/", "host"),
    ],
)
def test_urls_other_than_plain_http_s_are_refused(url: str, rule: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        parse_target(url)
    assert refused.value.rule == rule


DEFAULT = OutboundPolicy()


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://2130706433:5432/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # judged as the IPv4 address it is connected to
        ("http://[::1]/", "loopback"),
        ("http://localhost:55532/", "loopback"),
        ("http://localhost./", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link_local"),
        ("http://[fd00::2]/", "private"),
        ("http://[64:ff9b::a00:1]/", "private_via_nat64"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://example.com:6379/", "port"),
        ("https://example.com:8443/", "port"),
    ],
)
def test_the_default_policy_refuses_internal_urls_and_other_ports(url: str, rule: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        DEFAULT.check_url(url)
    assert refused.value.rule == rule


def test_the_default_policy_lets_public_urls_on_standard_ports_through() -> None:
    assert DEFAULT.check_url("https://images.example.com/a.jpg").port == 443
    assert DEFAULT.check_url("http://8.8.8.8/a.jpg").address == IPv4Address("8.8.8.8")
    DEFAULT.check_address("images.example.com", 443, IPv4Address("93.184.216.34"))
    with pytest.raises(OutboundRefused, match="private"):
        DEFAULT.check_address("images.example.com", 443, IPv4Address("10.0.0.7"))  # a name that leads inside
    with pytest.raises(OutboundRefused, match="port"):
        DEFAULT.check_address("images.example.com", 22, IPv4Address("93.184.216.34"))


def test_allowlisted_destinations_pass_and_nothing_else_does() -> None:
    policy = OutboundPolicy.parse("127.0.0.1:9000, [::1]:9001, Images.Internal.:8080", "80,443")
    assert policy.check_url("http://127.0.0.1:9000/a.jpg").port == 9000
    assert policy.check_url("http://2130706433:9000/a.jpg").host == "127.0.0.1"  # the same address, spelled oddly
    assert policy.check_url("http://[::1]:9001/a.jpg").port == 9001
    assert policy.check_url("http://localhost:9000/a.jpg").host == "localhost"  # one of its addresses is allowed
    assert policy.check_url("http://images.internal:8080/a.jpg").host == "images.internal"
    policy.check_address("images.internal", 8080, IPv4Address("10.0.0.5"))  # a name entry trusts its resolver
    policy.check_address("anything", 9000, IPv6Address("::ffff:127.0.0.1"))  # an address entry, whatever the name
    for url in ("http://127.0.0.1:9001/", "http://127.0.0.1/", "http://[::1]:9000/", "http://10.0.0.5:8080/"):
        with pytest.raises(OutboundRefused):
            policy.check_url(url)
    with pytest.raises(OutboundRefused):
        policy.check_address("images.other", 8080, IPv4Address("10.0.0.5"))


def test_of_a_names_addresses_only_the_permitted_ones_are_used() -> None:
    public, inside = IPv4Address("93.184.216.34"), IPv4Address("10.0.0.7")
    assert DEFAULT.permitted("mixed.example", 443, [inside, public, public]) == [public]
    assert DEFAULT.permitted("mixed.example", 443, [IPv6Address("::ffff:93.184.216.34")]) == [public]
    assert DEFAULT.permitted("nothing.example", 443, []) == []
    with pytest.raises(OutboundRefused) as refused:
        DEFAULT.permitted("inside.example", 443, [inside, LOOPBACK])
    assert refused.value.rule == "private"  # the first address's rule


@pytest.mark.parametrize(
    "entry", ["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", ":80", "[::1:80", "::1:80", "a b:80",
              "bücher.example:80", "[images.example]:80"],
)  # fmt: skip
def test_malformed_allowlist_entries_stop_the_service_at_start(entry: str) -> None:
    with pytest.raises(ValueError, match="OUTBOUND_ALLOW"):
        parse_allow(entry)
    with pytest.raises(ValueError, match="OUTBOUND_ALLOW"):
        CatalogSettings(outbound_allow=entry)


def test_allowlist_entries_and_ports_are_read_from_the_settings() -> None:
    assert parse_allow("") == frozenset()
    assert parse_allow("[::ffff:127.0.0.1]:9000,LOCALHOST:80") == {("127.0.0.1", 9000), ("localhost", 80)}
    assert parse_ports("80, 443,8080") == {80, 443, 8080}
    with pytest.raises(ValueError, match="OUTBOUND_PORTS"):
        parse_ports("0")
    assert CatalogSettings().outbound_policy() == OutboundPolicy()  # the default denies everything internal
    configured = CatalogSettings(outbound_allow="127.0.0.1:9000", outbound_ports="443").outbound_policy()
    assert configured == OutboundPolicy(frozenset({("127.0.0.1", 9000)}), frozenset({443}))
