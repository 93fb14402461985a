"""Redis URLs: what users type (``localhost:6379``, ``redis://``, ``rediss://``, ``unix://``,
``redis+cluster://``, ``redis+sentinel://``) turned into what redis-py takes, and a label safe to
print (no password).

Cluster: ``redis+cluster://[user:pass@]host1:7000,host2:7000`` (any number of seed nodes: the
client starts from whichever answers). Sentinel: ``redis+sentinel://[user:pass@]host1:26379,host2:26379/SERVICE/DB?sentinel_password=...``
(``rediss+sentinel://`` for TLS to the master). ``user:pass`` are the master's credentials;
``sentinel_username`` / ``sentinel_password`` (query) are the sentinels'. Other query parameters
(``ssl_ca_certs``, ``socket_timeout``...) go to the master's connections, as in a ``redis://`` URL."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from gdw_core.errors import GdwError

_SCHEMES = ("redis", "rediss", "unix")
_CLUSTER = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_SENTINEL = {"redis+sentinel": "redis", "rediss+sentinel": "rediss"}
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:sentinel_)?password=)[^&#]*")
EXAMPLES = "redis://, rediss://, unix://, redis+cluster://, rediss+cluster:// or redis+sentinel://"


@dataclass(frozen=True, slots=True)
class Sentinels:
    """Where the sentinels are and which monitored master to use."""

    hosts: tuple[tuple[str, int], ...]
    service: str
    #: connection options for the sentinels themselves (sentinel_username / sentinel_password)
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def __repr__(self) -> str:
        shown = {k: ("***" if "password" in k else v) for k, v in self.options.items()}
        return f"Sentinels(hosts={self.hosts!r}, service={self.service!r}, options={shown!r})"


@dataclass(frozen=True, slots=True)
class RedisAddress:
    url: str  # for redis-py (may hold the password); for Sentinel, the master's redis:// options
    label: str  # for people and logs (never the password)
    cluster: bool
    sentinel: Sentinels | None = None
    #: Cluster: every seed node the URL names (``redis+cluster://h1:p1,h2:p2``), the first in ``url``
    seeds: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:  # the url holds the password: never shown
        return f"RedisAddress({self.label!r}, cluster={self.cluster}, sentinel={self.sentinel!r})"

    def __str__(self) -> str:
        return self.label


def url_from_environment(path: str | None = None) -> str | None:
    """The Redis URL from the file ``path``, else ``GDW_REDIS_URL``, else the file named by
    ``GDW_REDIS_FILE`` (first non-comment line); None when none is set. OSError names the file."""
    path = path or (None if os.environ.get("GDW_REDIS_URL") else os.environ.get("GDW_REDIS_FILE"))
    if not path:
        return os.environ.get("GDW_REDIS_URL") or None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                return line.strip()
    raise GdwError(f"the Redis URL file {path!r} is empty")


def redact(url: str) -> str:
    """``url`` with any password (userinfo, ``password=`` / ``sentinel_password=``) as ``***``."""
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    netloc, sep, tail = rest.partition("/") if "/" in rest else (rest, "", "")
    if "?" in netloc:  # no path: the query follows the host
        netloc, q, query = netloc.partition("?")
        tail, sep = q + query, ""
    if "@" in netloc:
        cred, host = netloc.rsplit("@", 1)
        user, colon, _ = cred.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    path, qmark, query = tail.partition("?")
    query = _SECRET_QUERY.sub(r"\1***", query)
    return f"{scheme}://{netloc}{sep}{path}{qmark}{query}"


def secrets_in(url: str) -> list[str]:
    """The secret strings a URL carries (to scrub them from messages)."""
    out: list[str] = []
    if "://" not in url:
        return out
    rest = url.partition("://")[2]
    netloc = re.split(r"[/?]", rest, maxsplit=1)[0]
    if "@" in netloc:
        cred = netloc.rsplit("@", 1)[0]
        user, colon, password = cred.partition(":")
        secret = password if colon else user  # redis://secret@host: the single field is the password
        if secret:
            out += [secret, unquote(secret)]
    query = rest.partition("?")[2]
    out += [v for k, v in parse_qsl(query) if k in ("password", "sentinel_password") and v]
    return sorted(set(out), key=len, reverse=True)


def _hosts(hosts_text: str, default_port: str, text: str, what: str) -> list[tuple[str, int]]:
    hosts: list[tuple[str, int]] = []
    for item in hosts_text.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, port = item[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        if not port:
            port = default_port
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise GdwError(f"bad {what} address {item!r} in {redact(text)!r} (expected host:port)")
        hosts.append((host, int(port)))
    return hosts


def _cluster_seeds(text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    """``redis+cluster://[cred@]h1:p1,h2:p2/...``: the URL with the first seed only, and all seeds."""
    scheme, _, rest = text.partition("://")
    netloc, sep, tail = rest.partition("/") if "/" in rest else (rest, "", "")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
        tail, sep = f"?{query}", ""
    cred, at, hosts_text = netloc.rpartition("@")
    if "," not in hosts_text:
        return text, ()
    seeds = _hosts(hosts_text, "6379", text, "cluster node")
    if not seeds:
        raise GdwError(f"no cluster node in {redact(text)!r} (expected redis+cluster://host1:7000,host2:7000)")
    host, port = seeds[0]
    first = f"[{host}]" if ":" in host else host
    return f"{scheme}://{cred}{at}{first}:{port}{sep}{tail}", tuple(seeds)


def _sentinel(text: str, scheme: str, master_scheme: str) -> RedisAddress:
    rest = text.split("://", 1)[1]
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    cred, at, hosts_text = netloc.rpartition("@")
    hosts = _hosts(hosts_text, "26379", text, "sentinel")
    if not hosts:
        raise GdwError(
            f"no sentinel in {redact(text)!r} (expected redis+sentinel://host1:26379,host2:26379/SERVICE/DB)"
        )
    pieces = [p for p in path.split("/") if p]
    if not pieces or len(pieces) > 2:
        raise GdwError(f"Sentinel URL {redact(text)!r} needs /SERVICE or /SERVICE/DB after the sentinels")
    service = unquote(pieces[0])
    db = pieces[1] if len(pieces) == 2 else "0"
    if not db.isdigit():
        raise GdwError(f"bad database number {db!r} in {redact(text)!r}")
    params = parse_qsl(query, keep_blank_values=True)
    sentinel_options = {k: v for k, v in params if k in _SENTINEL_OPTIONS}
    master_query = urlencode([(k, v) for k, v in params if k not in _SENTINEL_OPTIONS])
    # the master's options as a redis:// URL (host filled in by Sentinel at connect time)
    master = urlunsplit((master_scheme, f"{cred}{at}sentinel-managed", f"/{db}", master_query, ""))
    user = cred.partition(":")[0] if ":" in cred else ""
    shown_hosts = ",".join(f"{h}:{p}" for h, p in hosts)
    label = f"{scheme}://{quote(user) + '@' if user else ''}{shown_hosts}/{service}/{db}"
    return RedisAddress(master, label, False, Sentinels(tuple(hosts), service, sentinel_options))


def parse_url(url: str, cluster: bool = False) -> RedisAddress:
    """``host:port`` -> ``redis://host:port/0``; ``redis+cluster://h:p`` (or ``cluster=True``) ->
    Redis Cluster; ``redis+sentinel://h1:p1,h2:p2/SERVICE/DB`` -> the master Sentinel names.
    Raises GdwError with an example for anything else."""
    text = url.strip()
    if not text:
        raise GdwError("empty Redis URL (expected e.g. redis://localhost:6379/0)")
    if "://" not in text:
        host, _, port = text.partition(":")
        text = f"redis://{host or 'localhost'}:{port or '6379'}/0"
    scheme_text = text.split("://", 1)[0].lower()
    if scheme_text in _SENTINEL:
        if cluster:
            raise GdwError("a Sentinel URL cannot also be a Redis Cluster")
        return _sentinel(text, scheme_text, _SENTINEL[scheme_text])
    seeds: tuple[tuple[str, int], ...] = ()
    if scheme_text in _CLUSTER or cluster:
        text, seeds = _cluster_seeds(text)
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError as exc:
        raise GdwError(f"bad Redis URL {redact(text)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in _CLUSTER:
        cluster = True
        scheme = _CLUSTER[scheme]
    if scheme not in _SCHEMES:
        raise GdwError(f"unsupported Redis URL scheme {parts.scheme!r} (use {EXAMPLES})")
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
    if parts.username and parts.password is not None:
        netloc = f"{parts.username}@{netloc}"
    if len(seeds) > 1:
        netloc = ",".join([netloc, *(f"{h}:{p}" for h, p in seeds[1:])])
    label_scheme = f"{scheme}+cluster" if cluster else scheme
    label = urlunsplit((label_scheme, netloc, path, "", ""))
    return RedisAddress(real, label, cluster, seeds=seeds)
