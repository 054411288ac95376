"""Which hosts media may be fetched from, and over which scheme (pure: no I/O).

The Graph lookup's answer is provider data, yet it names the host the fetcher
connects to with the bearer token. So every URL the fetcher opens, the Graph base
URL included, first passes `HostAllowlist.check`.

MEDIA_HOST_ALLOWLIST is a comma-separated list of host names:

- `lookaside.fbsbx.com`: that host exactly;
- `*.example.com` or `.example.com`: any host below example.com (not example.com
  itself; list it too if wanted). The suffix must have two labels or more and may
  not end in a number, so `*.com` or `*.0.1` are refused as entries.

Case and a trailing dot are ignored; ports, schemes, paths and `user@` are not
entries. Any port on a listed host is accepted. https only: plain http is
accepted for a loopback host (127.0.0.1, localhost, ::1) that the list names
exactly, which is how tests and devhost reach their local Graph stand-in. A
suffix rule never admits http.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

# Unset, each provider has its defaults. Meta: the Graph API host, and the host of the
# download URLs its media lookup answers. Meta's Cloud API media reference
# (developers.facebook.com/docs/whatsapp/cloud-api/reference/media, "Retrieve Media
# URL") shows them as https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=...
DEFAULT_MEDIA_HOSTS = ("graph.facebook.com", "lookaside.fbsbx.com")
# Other providers' defaults (issue 13), used when MEDIA_HOST_ALLOWLIST is unset:
# - WASender: decrypt-media and the public URL it answers both live on
#   www.wasenderapi.com (wasenderapi.com/api-docs/messages/decrypt-media-file).
# - Twilio: MediaUrl{N} is on api.twilio.com and redirects, with HTTP basic auth on
#   media enforced, to a short-lived URL on mms.twiliocdn.com (Twilio support article
#   "Protect Media Access with HTTP Basic Authentication"). Media from before that
#   setting is on s3-external-1.amazonaws.com, a shared AWS host left out on purpose:
#   list it in MEDIA_HOST_ALLOWLIST only if old unauthenticated media must be fetched.
# - ACS: the Communication Services endpoint's own host (`/messages/streams/{id}`).
PROVIDER_MEDIA_HOSTS: dict[str, tuple[str, ...]] = {
    "meta": DEFAULT_MEDIA_HOSTS,
    "wasender": ("www.wasenderapi.com",),
    "twilio": ("api.twilio.com", "mms.twiliocdn.com"),
}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class HostRefused(ValueError):
    """The URL may not be fetched; the message is a short reason naming no host or URL."""


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port: what a redirect must keep, and where a token may go."""

    scheme: str
    host: str
    port: int

    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


@dataclass(frozen=True)
class Allowed:
    """A URL that passed the policy, rebuilt from the parts that were checked."""

    origin: Origin
    url: str


@dataclass(frozen=True)
class HostAllowlist:
    exact: frozenset[str]
    suffixes: tuple[str, ...]  # each with its leading dot: ".fbcdn.net"

    def allows_host(self, host: str) -> bool:
        return host in self.exact or any(host.endswith(suffix) for suffix in self.suffixes)

    def check(self, url: str) -> Allowed:
        """The URL rebuilt from its checked parts, or HostRefused with a short reason."""
        origin, path, query = _split(url)
        if not self.allows_host(origin.host):
            raise HostRefused("host is not on the media host allowlist")
        if origin.scheme == "http" and not (
            origin.host in LOOPBACK_HOSTS and origin.host in self.exact
        ):
            raise HostRefused("plain http is allowed only to a listed loopback host")
        # Rebuilt, so the connection goes exactly where the check looked.
        rebuilt = urllib.parse.urlunsplit((origin.scheme, origin.netloc(), path, query, ""))
        return Allowed(origin=origin, url=rebuilt)


def _split(url: str) -> tuple[Origin, str, str]:
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in url):
        raise HostRefused("URL has control characters, spaces or backslashes")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise HostRefused("URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise HostRefused("URL scheme is not https")
    if "@" in parts.netloc:
        raise HostRefused("URL carries credentials")
    host = _normal_host(parts.hostname or "")
    if host is None:
        raise HostRefused("URL has no valid host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise HostRefused("URL has a malformed port")
    origin = Origin(scheme, host, _DEFAULT_PORTS[scheme] if port is None else port)
    return origin, parts.path, parts.query


def _normal_host(value: str) -> str | None:
    host = value.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if _HOST_NAME.fullmatch(host):
        return host
    try:
        return str(ipaddress.IPv6Address(host))
    except ValueError:
        return None


def default_media_hosts(provider: str, *, acs_endpoint: str | None = None) -> tuple[str, ...]:
    """A provider's default media hosts (none for an unknown provider: nothing is fetched)."""
    if provider == "acs":
        host = _normal_host(urllib.parse.urlsplit(acs_endpoint or "").hostname or "")
        return (host,) if host else ()
    return PROVIDER_MEDIA_HOSTS.get(provider, ())


def parse_allowlist(
    raw: str | None, *, defaults: tuple[str, ...] = DEFAULT_MEDIA_HOSTS
) -> HostAllowlist:
    """The setting's allowlist; `defaults` (Meta's hosts) when unset.

    ValueError names a bad entry's position.
    """
    entries = [e.strip() for e in (raw or "").split(",")]
    if not any(entries):
        entries = list(defaults)
    exact: set[str] = set()
    suffixes: list[str] = []
    for position, entry in enumerate(entries, start=1):
        if not entry:
            continue
        rule = entry.lower()
        wildcard = rule.startswith(("*.", "."))
        name = _normal_host(rule.removeprefix("*").removeprefix(".") if wildcard else rule)
        if name is None:
            raise ValueError(f"entry {position} is not a host name")
        if not wildcard:
            exact.add(name)
            continue
        labels = name.split(".")
        if ":" in name or len(labels) < 2 or labels[-1].isdigit():
            raise ValueError(f"entry {position} is too broad a suffix rule")
        suffixes.append(f".{name}")
    return HostAllowlist(exact=frozenset(exact), suffixes=tuple(suffixes))
