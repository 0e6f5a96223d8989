"""The SSRF guard of webhook URLs: a job's or reel's ``webhook_url`` may not make the service call its own network.

A webhook URL is checked twice, with the same rules:

- **at submission** (``POST /v1/jobs``, ``POST /v1/reels``): a refused URL is a 422 problem naming the URL's host
  and why;
- **at delivery**, before every try (DNS may have changed since): the host is resolved once, every address it
  resolves to is checked, and the request connects to a checked address (the URL's host replaced by that address,
  the original ``Host`` header and, for https, the original name as TLS SNI and certificate name: the
  ``sni_hostname`` request extension of httpx), so a second resolution cannot swap in another address. A refused
  delivery is recorded as a failed try with the reason and the webhook fails at once (no retry); a host that does
  not resolve at delivery is an ordinary failed try (retried).

Rules: only ``http`` and ``https``; no user name or password in the URL (receivers check the signature instead);
at most 2,000 characters; redirects are never followed (a 3xx is a failed try). Every address the host resolves to
must be public: an address that is unspecified (``0.0.0.0``, ``::``), loopback (``127.0.0.0/8``, ``::1``),
link-local (``169.254.0.0/16``, the cloud metadata address ``169.254.169.254`` included; ``fe80::/10``),
multicast, private (``10/8``, ``172.16/12``, ``192.168/16``, ``fc00::/7``, ...), reserved or otherwise not
globally routable (``100.64.0.0/10``, ...) is refused, and so is an IPv6 address carrying such an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64 ``64:ff9b::/96``). Any spelling the system resolver accepts is
classified by the address it resolves to (``http://2130706433/`` is ``127.0.0.1``). Classification is the
standard library's :mod:`ipaddress`.

Settings (:class:`~vidstruct.service.settings.ServiceSettings`; ``vidstruct serve`` / ``vidstruct worker``
options, or environment variables when the option is not given):

- ``webhook_allow_private`` (``--webhook-allow-private``, ``VIDSTRUCT_WEBHOOK_ALLOW_PRIVATE=1``), default off:
  webhooks may reach loopback, private, link-local and reserved addresses (GitLab's "allow requests to the local
  network"); unspecified and multicast addresses are refused even then (they name no receiver);
- ``webhook_allowed_hosts`` (``--webhook-allow-host HOST|CIDR``, repeatable; ``VIDSTRUCT_WEBHOOK_ALLOWED_HOSTS``,
  comma-separated): exact host names (case-insensitive; whatever they resolve to is allowed) and addresses or
  CIDR networks (``127.0.0.1``, ``10.20.0.0/16``, ``fd00::/8``) allowed although not public.

HTTP(S)_PROXY environment variables are not used for webhooks: the request goes straight to the checked address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx

from vidstruct.errors import InputError
from vidstruct.service.errors import UnprocessableError

if TYPE_CHECKING:
    from vidstruct.service.settings import ServiceSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_URL_CHARS = 2000
SCHEMES = ("http", "https")
#: address kinds refused even with ``webhook_allow_private`` (they name no receiver)
ALWAYS_REFUSED = ("unspecified", "multicast")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
_ALLOW_HINT = "webhooks may only reach public addresses unless --webhook-allow-private or --webhook-allow-host says so"


class WebhookRefused(UnprocessableError):
    """A webhook URL the guard refuses (422 at submission; a failed delivery, not retried, at delivery)."""


class WebhookUnresolved(WebhookRefused):
    """The URL's host does not resolve (422 at submission; an ordinary failed try, retried, at delivery)."""


@dataclass(frozen=True)
class AllowList:
    """``webhook_allowed_hosts`` parsed: exact host names (lowercase, no trailing dot) and networks."""

    names: frozenset[str]
    networks: tuple[Network, ...]

    def allows(self, address: Address) -> bool:
        """Whether ``address`` (or the IPv4 address it maps) lies in one of the networks."""
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a in n for a in candidates for n in self.networks if a.version == n.version)


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: the URL as given, its host as sent on the wire (IDNA, no brackets, lowercase), the
    port, and the checked addresses to connect to (the resolver's order)."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[Address, ...]

    def pinned(self, address: Address) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """What to send so the connection goes to ``address``: the URL with ``address`` as its host, the original
        ``Host`` header, and (https) the original name as SNI and certificate name."""
        url = self.url.copy_with(host=str(address))
        extensions: dict[str, Any] = {"sni_hostname": self.host} if self.url.scheme == "https" else {}
        return url, {"Host": self.url.netloc.decode("ascii")}, extensions


def _normalize_name(name: str) -> str:
    return name.strip().lower().rstrip(".")


@lru_cache(maxsize=64)
def parse_allowed_hosts(entries: tuple[str, ...]) -> AllowList:
    """Parse ``webhook_allowed_hosts``: each entry is an IP address, a CIDR network or an exact host name;
    :class:`~vidstruct.errors.InputError` for anything else."""
    names: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip()
        try:
            networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = _normalize_name(text)
        if not _HOST_NAME.match(name):
            raise InputError(f"webhook allowed host {entry!r}: expected a host name, an IP address or a CIDR network")
        names.add(name)
    return AllowList(frozenset(names), tuple(networks))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64 well-known prefix), with its kind."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(address.packed[-4:])
    return None


def address_kind(address: Address) -> str | None:
    """Why ``address`` is not a public one (``unspecified``, ``loopback``, ``link-local``, ``multicast``,
    ``private``, ``reserved``, ``not globally routable``; prefixed by how an IPv6 address carries such an IPv4
    address), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = address_kind(embedded[1])
            return f"{embedded[0]} {inner}" if inner else None
    for kind, flag in (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
                       ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                       ("private", address.is_private), ("reserved", address.is_reserved)):  # fmt: skip
        if flag:
            return kind
    return None if address.is_global else "not globally routable"


def refusal(address: Address, allow: AllowList, allow_private: bool) -> str | None:
    """Why the guard refuses ``address`` under these settings (None: allowed)."""
    if allow.allows(address):
        return None
    kind = address_kind(address)
    if kind is None or (allow_private and kind.split(" ")[-1] not in ALWAYS_REFUSED):
        return None
    return kind


def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` resolves to (the system resolver, TCP; its order, duplicates dropped).
    :class:`socket.gaierror` when it does not resolve. Tests replace this function to simulate DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = (ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    return list(dict.fromkeys(found))


def parse_webhook_url(url: str) -> httpx.URL:
    """``url`` parsed the way the delivery client parses it; :class:`WebhookRefused` for a URL that is not an
    http(s) URL with a host and without credentials."""
    if len(url) > MAX_URL_CHARS:
        raise WebhookRefused(f"webhook_url: at most {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise WebhookRefused("webhook_url: expected an http(s) URL, got one that cannot be parsed") from None
    if parsed.scheme not in SCHEMES:
        raise WebhookRefused(f"webhook_url: expected an http(s) URL, got scheme {parsed.scheme[:20]!r}")
    if not parsed.host:
        raise WebhookRefused("webhook_url: expected an http(s) URL with a host")
    if parsed.userinfo:
        raise WebhookRefused(
            f"webhook_url: host {parsed.host[:255]!r}: a user name or password in the URL is refused (receivers "
            "check the X-Vidstruct-Signature header instead)"
        )
    return parsed


def check_webhook_url(url: str, settings: ServiceSettings) -> Target:
    """Parse ``url``, resolve its host once and check every address (see the module doc): the :class:`Target` to
    connect to, or :class:`WebhookRefused` (:class:`WebhookUnresolved` when the host does not resolve)."""
    parsed = parse_webhook_url(url)
    host = parsed.raw_host.decode("ascii").lower()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    allow = parse_allowed_hosts(tuple(settings.webhook_allowed_hosts))
    named = _normalize_name(host) in allow.names
    try:
        addresses, literal = [ipaddress.ip_address(host.split("%")[0])], True
    except ValueError:
        literal = False
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError, ValueError):
            raise WebhookUnresolved(f"webhook_url: host {host[:255]!r} could not be resolved") from None
    if not addresses:
        raise WebhookUnresolved(f"webhook_url: host {host[:255]!r} could not be resolved")
    if not named:
        for address in addresses:
            kind = refusal(address, allow, settings.webhook_allow_private)
            if kind is not None:
                how = "is" if literal else f"resolves to {address},"
                raise WebhookRefused(
                    f"webhook_url: host {host[:255]!r} {how} not a public address ({kind}); {_ALLOW_HINT}"
                )
    return Target(parsed, host, port, tuple(addresses))


def pinned_client_options() -> dict[str, Any]:
    """``httpx.Client`` options the delivery client needs for the guard to hold: no redirect followed, no proxy
    from the environment (it would resolve the host itself), no connection kept for another request (a pooled
    connection is keyed by the address, so one verified for another host name could be reused)."""
    return {"follow_redirects": False, "trust_env": False, "limits": httpx.Limits(max_keepalive_connections=0)}
