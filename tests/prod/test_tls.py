"""TLS: certificates made with openssl at test time, a redis-server on a TLS port that requires
client certificates, and the ``ssl_ca_certs`` / ``ssl_certfile`` / ``ssl_keyfile`` URL parameters
taken by the library, a ``gdw worker`` process and the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gdw_core import TaskQueue
from gdw_core.errors import GdwError, StorageUnavailable
from gdw_core.storage.redis import RedisStorage
from tests.prod.deployment import ROOT, spawn_gdw_worker, stop
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.prod, pytest.mark.redis]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass
class Certs:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


def make_ca(where: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=where)  # fmt: skip


def make_cert(where: Path, name: str, ca: str, san: str) -> None:
    (where / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=where)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=where)  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    where = tmp_path_factory.mktemp("tls")
    make_ca(where, "ca")
    make_ca(where, "other-ca")  # a CA the server's certificate does not come from
    make_cert(where, "server", "ca", "IP:127.0.0.1,DNS:localhost")
    make_cert(where, "client", "ca", "DNS:gdw-client")
    return Certs(where)


@dataclass
class TlsRedis:
    server: RedisServer
    tls_port: int


@pytest.fixture(scope="module")
def tls_redis(certs: Certs) -> Iterator[TlsRedis]:
    tls_port = free_port()
    server = RedisServer(
        "--tls-port", str(tls_port),
        "--tls-cert-file", certs.path("server.crt"),
        "--tls-key-file", certs.path("server.key"),
        "--tls-ca-cert-file", certs.path("ca.crt"),
        "--tls-auth-clients", "yes",
    )  # fmt: skip
    with server:
        yield TlsRedis(server, tls_port)


def tls_url(tls: TlsRedis, certs: Certs, *, ca: str = "ca.crt", client: bool = True, **paths: str) -> str:
    """The rediss:// URL of the TLS port; ``paths`` override a parameter (ssl_certfile=...)."""
    options = {"ssl_ca_certs": certs.path(ca)}
    if client:
        options.update(ssl_certfile=certs.path("client.crt"), ssl_keyfile=certs.path("client.key"))
    options.update(paths)
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"rediss://127.0.0.1:{tls.tls_port}/0?{query}"


def gdw(*args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDW_")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "gdw_core.cli", *args], env=env, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


async def test_a_worker_and_a_producer_over_tls_with_client_certificates(
    tls_redis: TlsRedis, certs: Certs, task_dir: Path
) -> None:
    tls_redis.server.cli("flushall")
    url = tls_url(tls_redis, certs)
    url_file = task_dir / "redis.url"
    url_file.write_text(url + "\n")
    worker = spawn_gdw_worker(task_dir, "--redis-file", str(url_file), "-c", "2")
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url))
    try:
        ids = [await producer.submit("prod_tasks:quick", i) for i in range(5)]
        assert [await producer.result(i, timeout=60) for i in ids] == [0, 2, 4, 6, 8]
        code, out = gdw("--redis-file", str(url_file), "stats")
        assert code == 0 and "1 live worker" in out, out
        assert out.splitlines()[1].split()[:7] == ["default", "0", "0", "0", "0", "0", "5"], out
    finally:
        stop(worker)
        await producer.shutdown()
    assert worker.returncode == 0


async def test_tls_mistakes_are_one_clear_error(
    tls_redis: TlsRedis, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused certificate is not an outage: no reconnect loop, one error naming the reason."""
    caplog.set_level(logging.WARNING, logger="gdw.redis")
    # no client certificate, while the server requires one
    no_cert = RedisStorage.from_url(tls_url(tls_redis, certs, client=False))
    with pytest.raises(StorageUnavailable, match="CERTIFICATE_REQUIRED"):
        await asyncio.wait_for(no_cert.open(), 10)
    await no_cert.close()
    # a CA that did not sign the server's certificate
    wrong_ca = RedisStorage.from_url(tls_url(tls_redis, certs, ca="other-ca.crt"))
    with pytest.raises(StorageUnavailable, match=r"(?i)certificate"):
        await asyncio.wait_for(wrong_ca.open(), 30)
    await wrong_ca.close()
    # TLS 1.3 sends "certificate required" after the handshake: the client reads either that alert
    # (a refusal, no retry) or, when the server's reset wins the race, a reset it retries once or
    # twice before it reads the alert. Either way one clear error within seconds, never a loop.
    reconnects = [r for r in caplog.records if "reconnecting" in r.getMessage()]
    assert len(reconnects) <= 3 and all("reset" in r.getMessage().lower() for r in reconnects), reconnects
    code, out = gdw("stats", "--redis", tls_url(tls_redis, certs, ca="other-ca.crt"))
    assert code == 3 and len(out.strip().splitlines()) == 1 and "certificate" in out.lower(), out
    # plain text to the TLS port: not Redis as far as the client can tell, exit 3 all the same
    code, out = gdw("stats", "--redis", f"redis://127.0.0.1:{tls_redis.tls_port}/0")
    assert code == 3 and len(out.strip().splitlines()) == 1, out
    assert "rediss://" in out, out  # the error names the likely fix


@pytest.mark.parametrize("option", ["ssl_ca_certs", "ssl_certfile", "ssl_keyfile"])
async def test_a_missing_certificate_file_is_named(tls_redis: TlsRedis, certs: Certs, option: str) -> None:
    missing = str(certs.dir / f"missing-{option}.pem")
    url = tls_url(tls_redis, certs, **{option: missing})
    storage = RedisStorage.from_url(url)
    with pytest.raises(GdwError, match=missing):
        await storage.open()
    await storage.close()
    code, out = gdw("stats", "--redis", url)
    assert code != 0 and missing in out and len(out.strip().splitlines()) == 1, out


def test_which_tls_failures_are_refusals() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from gdw_core.storage.redis.connection import tls_refused

    assert tls_refused(RedisConnectionError("Error 1 connecting. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"))
    assert tls_refused(RedisConnectionError("(1, '[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca')"))
    assert not tls_refused(RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."))
    assert not tls_refused(RedisConnectionError("Error while reading: (104, 'Connection reset by peer')"))
