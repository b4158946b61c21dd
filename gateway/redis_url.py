"""REDIS_URL's Sentinel form, read without importing redis (the settings loader checks it).

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]

Each host is a Redis Sentinel (port 26379 when left out); `service_name` is the name the
sentinels monitor the primary under (`sentinel monitor <name> ...`); `db` the database
number (0 when left out). A user and password, when given, are those of the primary and
its replicas, not of the sentinels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

SCHEME = "redis+sentinel"
FORM = f"{SCHEME}://host:port[,host:port...]/service_name[/db]"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    """Where the sentinels are, and which primary of theirs to follow."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def display(self) -> str:
        """The URL without its user or password (for logs and `gateway check`)."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"{SCHEME}://{hosts}/{self.service}/{self.db}"


def is_sentinel_url(url: str) -> bool:
    return url.startswith(f"{SCHEME}://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """Read a `redis+sentinel://` URL.

    Raises:
        ValueError: what is wrong with it, in words that never repeat its password.
    """
    if not is_sentinel_url(url):
        raise ValueError(f"expected {FORM}")
    userinfo, _, rest = url[len(SCHEME) + 3 :].rpartition("@")
    hosts, _, path = rest.partition("/")
    if "?" in path or "#" in path:
        raise ValueError(f"options after '?' are not supported: expected {FORM}")
    service, db = _service_and_db(path)
    username, password = _credentials(userinfo)
    return SentinelURL(_sentinels(hosts), service, db, username, password)


def _sentinels(hosts: str) -> tuple[tuple[str, int], ...]:
    sentinels = tuple(_host_and_port(entry.strip()) for entry in hosts.split(","))
    if not sentinels or any(not host for host, _ in sentinels):
        raise ValueError(f"a sentinel's host is missing: expected {FORM}")
    return sentinels


def _host_and_port(entry: str) -> tuple[str, int]:
    if entry.startswith("["):  # an IPv6 address: [::1]:26379
        host, _, port = entry[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = entry.partition(":")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"sentinel {host or '?'}: port {port!r} is not a port number")
    return host, int(port)


def _service_and_db(path: str) -> tuple[str, int]:
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError(f"the service name is missing: expected {FORM}")
    if db and not db.isdigit():
        raise ValueError(f"database {db!r} is not a whole number: expected {FORM}")
    return unquote(service), int(db or 0)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, has_password, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) if has_password else None
