"""URLs every entry point takes (Sentinel, Cluster), passwords never shown, one clear error for
anything else; a port that answers but is not Redis is StorageUnavailable (CLI exit 3)."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest
from typer.testing import CliRunner

from gdw_core.cli.app import app
from gdw_core.errors import GdwError, StorageUnavailable
from gdw_core.storage.redis import RedisStorage
from gdw_core.storage.redis.address import parse_url, redact, secrets_in
from tests.support.hangup import hang_up_server, serving

SECRET = "s3cr3t-Pw"


def test_sentinel_url_parses_hosts_service_db_and_sentinel_options() -> None:
    a = parse_url(f"redis+sentinel://app:{SECRET}@h1:26379,h2:26380,h3/mymaster/2?sentinel_password=sp&ssl_ca_certs=x")
    assert a.sentinel is not None
    assert a.sentinel.hosts == (("h1", 26379), ("h2", 26380), ("h3", 26379))
    assert a.sentinel.service == "mymaster"
    assert a.sentinel.options == {"sentinel_password": "sp"}
    assert a.url.endswith("/2?ssl_ca_certs=x") and SECRET in a.url
    assert a.label == "redis+sentinel://app@h1:26379,h2:26380,h3:26379/mymaster/2"
    for shown in (repr(a), str(a), a.label):
        assert SECRET not in shown and "sp'" not in shown


def test_cluster_url_takes_several_seed_nodes() -> None:
    a = parse_url(f"redis+cluster://app:{SECRET}@h1:7000,h2:7001,h3/?ssl_ca_certs=x")
    assert a.cluster and a.seeds == (("h1", 7000), ("h2", 7001), ("h3", 6379))
    assert a.url == f"redis://app:{SECRET}@h1:7000?ssl_ca_certs=x"  # the first seed; the rest go as startup nodes
    assert a.label == "redis+cluster://app@h1:7000,h2:7001,h3:6379"
    assert SECRET not in repr(a) and SECRET not in redact(f"rediss+cluster://app:{SECRET}@h1:7000,h2:7001")
    assert parse_url("redis+cluster://h1:7000").seeds == ()
    with pytest.raises(GdwError, match="cluster node"):
        parse_url("redis+cluster://h1:7000,h2:notaport")


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h1:26379",  # no service
        "redis+sentinel:///svc/0",  # no sentinel
        "redis+sentinel://h1:abc/svc",  # bad port
        "redis+sentinel://h1/svc/notadb",
        "memcached://h:1",
    ],
)
def test_bad_urls_get_one_clear_error(url: str) -> None:
    with pytest.raises(GdwError):
        parse_url(url)


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        (f"redis://user:{SECRET}@h:1/0", SECRET),
        (f"redis://{SECRET}@h:1/0", SECRET),  # the single userinfo field is the password
        (f"rediss://h:1/0?password={SECRET}", SECRET),
        (f"redis+sentinel://u:{SECRET}@h:1,h:2/svc?sentinel_password=zz{SECRET}", SECRET),
    ],
)
def test_every_label_repr_and_redaction_hides_the_password(url: str, hidden: str) -> None:
    a = parse_url(url)
    assert hidden not in a.label and hidden not in repr(a) and hidden not in redact(url)
    assert hidden in secrets_in(url) or any(hidden in s for s in secrets_in(url))


def test_cli_takes_cluster_and_sentinel_urls() -> None:
    runner = CliRunner()
    for url in ("redis+cluster://127.0.0.1:1", "rediss+cluster://127.0.0.1:1", "redis+sentinel://127.0.0.1:1/svc"):
        out = runner.invoke(app, ["stats", "--redis", url])
        assert out.exit_code == 3, (url, out.output)  # unreachable, not "unsupported scheme" (2)
        assert "unsupported" not in out.output


def test_missing_tls_ca_file_is_named() -> None:
    storage = RedisStorage.from_url("rediss://127.0.0.1:1/0?ssl_ca_certs=/nowhere/ca.pem")
    with pytest.raises(GdwError, match=re.escape("/nowhere/ca.pem")):
        asyncio.run(storage.open())


async def _answer_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


def http_server() -> contextlib.AbstractAsyncContextManager[int]:
    """A web server where Redis was expected: it answers, in HTTP."""
    return serving(_answer_http)


async def test_a_port_that_is_not_redis_is_storage_unavailable() -> None:
    async with http_server() as port:
        storage = RedisStorage.from_url(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(StorageUnavailable, match="not a Redis server"):
            await storage.open()
        await storage.close()


async def test_a_server_that_closes_the_connection_unanswered_is_explained() -> None:
    """PostgreSQL, or a TLS-only port spoken to in plain text, closes on the first bytes: the error
    says what that can mean, not only that the connection closed."""

    async with hang_up_server() as port:
        storage = RedisStorage.from_url(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(StorageUnavailable, match="a server that is not Redis, or a Redis that wants TLS"):
            await storage.open()
        await storage.close()


async def test_an_outage_is_logged_once_not_once_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    """A worker's storage reconnects with backoff (many tries over seconds): the log warns once
    (then at most every 30 s), not once per try of every command (55 lines in 20 s before); the
    tries are still there at DEBUG."""
    import logging

    from redis.backoff import NoBackoff

    from gdw_core.storage.redis.connection import _Retry

    caplog.set_level(logging.DEBUG, logger="gdw.redis")
    async with hang_up_server() as port:
        # the worker's retry, without its waits (the count of tries is what matters here)
        storage = RedisStorage.from_url(f"redis://127.0.0.1:{port}/0", retry=_Retry(NoBackoff(), retries=6))
        with pytest.raises(StorageUnavailable):
            await storage.open()
        await storage.close()
    tries = [r for r in caplog.records if "reconnecting with backoff" in r.getMessage()]
    assert len(tries) >= 6, tries  # every try is still there, at DEBUG
    assert [r.levelname for r in tries].count("WARNING") == 1, [r.levelname for r in tries]
