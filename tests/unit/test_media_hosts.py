"""MEDIA_HOST_ALLOWLIST parsing and the URL policy media fetches pass (archive.media_hosts)."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.media_hosts import (
    DEFAULT_MEDIA_HOSTS,
    HostAllowlist,
    HostRefused,
    Origin,
    parse_allowlist,
)

pytestmark = pytest.mark.unit

META = parse_allowlist(None)
MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=AT-x"


def refusal(allowlist: HostAllowlist, url: str) -> str:
    with pytest.raises(HostRefused) as caught:
        allowlist.check(url)
    return str(caught.value)


@pytest.mark.parametrize("raw", [None, "", "  ", " , "])
def test_unset_means_meta_graph_and_media_hosts(raw: str | None) -> None:
    allowlist = parse_allowlist(raw)
    assert allowlist.exact == frozenset(DEFAULT_MEDIA_HOSTS)
    assert allowlist.suffixes == ()
    assert allowlist.check("https://graph.facebook.com/v21.0/123").origin == Origin(
        "https", "graph.facebook.com", 443
    )
    assert allowlist.check(MEDIA_URL).url == MEDIA_URL  # path and query kept as they were


@pytest.mark.parametrize(
    "url",
    [
        "https://lookaside.fbsbx.com.evil.example/x",
        "https://evillookaside.fbsbx.com/x",
        "https://fbsbx.com/x",
        "https://sub.lookaside.fbsbx.com/x",  # an exact entry covers no subdomain
        "https://127.0.0.1/x",
    ],
)
def test_hosts_off_the_list_are_refused(url: str) -> None:
    assert refusal(META, url) == "host is not on the media host allowlist"


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://graph.facebook.com/x", "data:text/plain,x",
     "javascript:alert(1)", "//graph.facebook.com/x", "graph.facebook.com/x"],
)
def test_only_http_schemes(url: str) -> None:
    assert "scheme" in refusal(META, url)


def test_plain_http_is_refused_for_a_listed_remote_host() -> None:
    assert "plain http" in refusal(META, "http://lookaside.fbsbx.com/x")
    assert "plain http" in refusal(parse_allowlist("10.0.0.5"), "http://10.0.0.5/x")


@pytest.mark.parametrize(
    ("listed", "url", "netloc"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/m/1", "127.0.0.1:8080"),
        ("localhost", "http://LOCALHOST:9/m", "localhost:9"),
        ("::1", "http://[::1]:9/m", "[::1]:9"),
        ("[::1]", "http://[0:0::1]:9/m", "[::1]:9"),
    ],
)
def test_plain_http_to_a_listed_loopback_host(listed: str, url: str, netloc: str) -> None:
    allowed = parse_allowlist(f"graph.facebook.com, {listed}").check(url)
    assert allowed.origin.scheme == "http"
    assert urllib.parse.urlsplit(allowed.url).netloc == netloc


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/x", "http://127.0.0.2:8080/x", "http://[::1]:8080/x"]
)
def test_loopback_http_needs_that_very_host_listed(url: str) -> None:
    assert refusal(parse_allowlist("127.0.0.1"), url) == "host is not on the media host allowlist"


@pytest.mark.parametrize("rule", ["*.fbcdn.net", ".fbcdn.net", " *.FBCDN.net. "])
def test_suffix_rules_cover_subdomains_only(rule: str) -> None:
    allowlist = parse_allowlist(f"graph.facebook.com,{rule}")
    assert allowlist.check("https://scontent.xx.fbcdn.net/v/t1").origin.host == (
        "scontent.xx.fbcdn.net"
    )
    for url in ("https://fbcdn.net/x", "https://evilfbcdn.net/x", "https://fbcdn.net.evil.io/"):
        assert "allowlist" in refusal(allowlist, url)


def test_a_suffix_rule_never_admits_plain_http() -> None:
    allowlist = parse_allowlist("*.example.com")
    assert "plain http" in refusal(allowlist, "http://media.example.com/x")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://graph.facebook.com@evil.example/x", "credentials"),
        ("https://user:pw@graph.facebook.com/x", "credentials"),
        ("https://evil.example\\@graph.facebook.com/x", "backslashes"),
        ("https://graph.facebook.com/x\r\nX-Injected: 1", "control characters"),
        ("https://graph.facebook.com /x", "spaces"),
        ("https://graph%2efacebook.com/x", "no valid host"),
        ("https:///x", "no valid host"),
        ("https://[::1/x", "malformed"),
        ("https://graph.facebook.com:0/x", "port"),
        ("https://graph.facebook.com:99999/x", "port"),
        ("https://graph.facebook.com:4x3/x", "port"),
    ],
)
def test_tricky_urls_are_refused(url: str, reason: str) -> None:
    assert reason in refusal(META, url)


def test_host_is_normalised_and_the_default_port_made_explicit_in_the_origin() -> None:
    one = META.check("HTTPS://Graph.Facebook.com.:443/v21.0/1")
    two = META.check("https://graph.facebook.com/v21.0/2")
    assert one.origin == two.origin == Origin("https", "graph.facebook.com", 443)
    assert one.url == "https://graph.facebook.com/v21.0/1"
    other_port = META.check("https://graph.facebook.com:8443/x")
    assert other_port.origin.port == 8443 and other_port.origin != one.origin
    assert other_port.url == "https://graph.facebook.com:8443/x"


@pytest.mark.parametrize(
    "raw",
    ["https://graph.facebook.com", "graph.facebook.com:443", "graph.facebook.com/v21.0",
     "*", "*.", "*.com", ".com", "*.0.1", "a b.com", "user@graph.facebook.com", "*.*.x.com",
     "x_y.com", "*.::1"],
)
def test_malformed_entries_are_refused_by_position(raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_allowlist(f"graph.facebook.com,{raw}")
    # The message names the position, never the value.
    assert str(caught.value) in (
        "entry 2 is not a host name", "entry 2 is too broad a suffix rule"
    )


_url_parts = st.sampled_from(
    ["https://", "http://", "HTTPS://", "file://", "", "//", "javascript:"]
)
_hosts = st.sampled_from(
    ["graph.facebook.com", "lookaside.fbsbx.com", "127.0.0.1", "localhost", "[::1]",
     "media.fbcdn.net", "fbcdn.net", "evil.example", "graph.facebook.com.", "@", ":", ""]
)
_tails = st.text(
    alphabet=st.sampled_from(list("/:@?#.%\\[]a1 \t\r\n\x00\u00e9")), max_size=12
)


@given(_url_parts, _hosts, _tails, _tails)
def test_any_url_is_refused_or_allowed_consistently(
    scheme: str, host: str, before: str, after: str
) -> None:
    allowlist = parse_allowlist("graph.facebook.com,lookaside.fbsbx.com,127.0.0.1,*.fbcdn.net")
    url = f"{scheme}{before}{host}{after}"
    try:
        allowed = allowlist.check(url)
    except HostRefused:
        return
    origin = allowed.origin
    assert allowlist.allows_host(origin.host)
    assert origin.scheme == "https" or origin.host == "127.0.0.1"
    # The rebuilt URL goes to the checked origin, and checks the same again.
    assert allowlist.check(allowed.url) == allowed
    parts = urllib.parse.urlsplit(allowed.url)
    assert parts.hostname == origin.host and "@" not in parts.netloc
