"""Redis URLs: what users type (``localhost:6379``, ``redis://``, ``rediss://``, ``unix://``,
``redis+cluster://``) turned into what redis-py takes, and a label safe to print (no password)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from gdw_core.errors import GdwError

_SCHEMES = ("redis", "rediss", "unix")
_CLUSTER = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


@dataclass(frozen=True, slots=True)
class RedisAddress:
    url: str  # for redis-py (may hold the password)
    label: str  # for people and logs (never the password)
    cluster: bool


def parse_url(url: str, cluster: bool = False) -> RedisAddress:
    """``host:port`` -> ``redis://host:port/0``; ``redis+cluster://h:p`` (or ``cluster=True``) ->
    Redis Cluster. Raises GdwError with an example for anything else."""
    text = url.strip()
    if not text:
        raise GdwError("empty Redis URL (expected e.g. redis://localhost:6379/0)")
    if "://" not in text:
        host, _, port = text.partition(":")
        text = f"redis://{host or 'localhost'}:{port or '6379'}/0"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _CLUSTER:
        cluster = True
        scheme = _CLUSTER[scheme]
    if scheme not in _SCHEMES:
        raise GdwError(
            f"unsupported Redis URL scheme {parts.scheme!r} (use redis://, rediss://, unix:// or redis+cluster://)"
        )
    if cluster and scheme == "unix":
        raise GdwError("Redis Cluster needs host:port addresses, not a unix socket")
    path = parts.path
    if scheme != "unix" and not path.strip("/"):
        path = "" if cluster else "/0"
    if scheme == "unix":
        return RedisAddress(text, f"unix://{path}", False)
    real = urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    label_scheme = f"{scheme}+cluster" if cluster else scheme
    label = urlunsplit((label_scheme, netloc, path, "", ""))
    return RedisAddress(real, label, cluster)
