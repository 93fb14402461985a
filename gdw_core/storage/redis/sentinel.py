"""Following the master a group of Redis Sentinels names, through a failover.

Three things redis-py's Sentinel client (8.x) does not do, each of which lost or misdirected writes:

- **A connection follows the switch when it is announced.** After ``SENTINEL FAILOVER`` the old
  master keeps answering as a master until the sentinels demote it, about ten seconds later, and
  Redis drops every write it took meanwhile when it resyncs as a replica. A client whose connections
  stay up keeps writing there all that time (measured: every submit of those ten seconds lost). The
  :class:`SwitchListener` subscribes to ``+switch-master`` on every sentinel and, when our service
  moves, closes every connection of the master pool, idle and in use, so the next command (or the
  retry of the one in flight) connects to the new master.
- **The newest configuration wins.** Sentinels learn of a switch from each other within a second
  or two; a client that asks them one after another and takes the first answer (redis-py's
  ``discover_master``) is sent back to the old master by a sentinel that has not heard yet.
  :meth:`Sentinels.discover_master` asks every sentinel at once and takes the address named by
  the one of the highest ``config-epoch`` (each failover raises it), waiting a short while for
  slower sentinels once one has answered.
- **A dropped connection asks again.** redis-py reconnects a dropped connection, inside a
  command's retries, to the address it had; after a failover that is the dead or demoted master.

- **Writes wait while a failover promotes a replica.** Between the promotion and the announcement
  (about a second) the old master still takes writes, and they are lost too. The sentinel leading a
  failover says ``+failover-state-send-slaveof-noone`` about 0.1 s before it promotes the replica;
  from then on the client holds every command it would send to the master (at most
  :data:`HOLD_LIMIT`) until the switch is announced or the failover is given up, so what was in
  flight replicates before the promotion and nothing new reaches the old master.

What a client cannot close: a master that is partitioned away or dies (its last writes may not have
reached a replica). ``min-replicas-to-write`` on the servers bounds that (docs/deployment.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelManagedConnection
from redis.exceptions import AuthenticationError, NoPermissionError

from gdw_core.storage.redis.address import RedisAddress

log = logging.getLogger("gdw.redis")

#: once one sentinel has answered, how long the others get before the best answer so far is taken
STRAGGLERS = 0.25
#: the channel every sentinel announces a completed failover on ("name old-ip old-port new-ip new-port")
SWITCH = "+switch-master"
#: the leader's last word before it promotes a replica: commands to the master are held from here
PROMOTING = "+failover-state-send-slaveof-noone"
#: a failover given up or ended without a switch: held commands go on to the master they had
RESUMED = ("-failover-abort-not-elected", "-failover-abort-no-good-slave", "-failover-abort-slave-timeout",
           "+failover-end-for-timeout", "+failover-end")  # fmt: skip
#: the longest commands are held for a failover that neither switches nor is given up
HOLD_LIMIT = 5.0


class Sentinels(Sentinel):
    """redis-py's Sentinel manager, choosing the master by the highest configuration epoch."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        asks = [asyncio.ensure_future(_ask(s, service_name)) for s in self.sentinels]
        for ask in asks:  # one left behind still finishes (or times out) on its own, unlogged
            ask.add_done_callback(_retrieved)
        best: tuple[int, tuple[str, int]] | None = None  # (epoch, address)
        errors: list[str] = []
        pending = set(asks)
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=STRAGGLERS if best is not None else None, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:  # the stragglers had their time
                break
            for ask in done:
                error = ask.exception()
                if error is not None:
                    errors.append(f"{self.sentinels[asks.index(ask)]}: {error!r}")
                    continue
                state, current = ask.result()
                if not isinstance(state, dict) or not current:
                    continue
                address = (str(current[0]), int(current[1]))
                promoted = address != (str(state.get("ip")), int(state.get("port", 0)))
                if not promoted and not self.check_master_state(state, service_name):
                    continue
                epoch = int(state.get("config-epoch", 0))
                if best is None or epoch > best[0]:
                    best = (epoch, address)
        if best is None:
            detail = f": {', '.join(errors)}" if errors else ""
            raise MasterNotFoundError(f"No master found for {service_name!r}{detail}")
        return best[1]


async def _ask(sentinel: Any, service: str) -> tuple[Any, Any]:
    """One sentinel's view: its state of the master (with the configuration epoch) and the address
    it names now (``GET-MASTER-ADDR-BY-NAME`` names the promoted replica as soon as it is promoted,
    while ``SENTINEL MASTER`` keeps the old address until the failover ends)."""
    async with sentinel.pipeline(transaction=False) as pipe:
        pipe.sentinel_master(service)
        pipe.sentinel_get_master_addr_by_name(service)
        state, current = await pipe.execute()
    return state, current


def _retrieved(ask: asyncio.Future[Any]) -> None:
    if not ask.cancelled():
        ask.exception()


class FollowsMaster(SentinelManagedConnection):
    """A Sentinel-managed master connection that asks the sentinels again whenever it reconnects.
    redis-py (8.1) reconnects a dropped connection, inside a command's retries, to the address it
    had: after a failover that is the dead or demoted master."""

    _resolving = False

    async def connect_to(self, address: Any) -> None:
        self._resolving = True
        try:
            await super().connect_to(address)  # type: ignore[no-untyped-call]
        finally:
            self._resolving = False

    async def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if self.is_connected or self._resolving or not self.connection_pool.is_master:
            await super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)
            return
        # SentinelManagedConnection.connect: the master's address, asked anew
        await self.connect()  # type: ignore[no-untyped-call]

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        gate: asyncio.Event | None = getattr(self.connection_pool, "gdw_gate", None)
        if gate is not None and not gate.is_set() and self.connection_pool.is_master:
            await gate.wait()  # a failover is promoting a replica (SwitchListener): not to the old master
        await super().send_packed_command(command, check_health)


class FollowsMasterTls(FollowsMaster, SSLConnection):
    pass


def sentinel_client(address: RedisAddress, kwargs: dict[str, Any]) -> Any:
    """A redis-py client of the master that ``address``'s sentinels name."""
    assert address.sentinel is not None
    master: dict[str, Any] = dict(parse_url(address.url))  # the master's credentials, db and TLS options
    for key in ("host", "port"):
        master.pop(key, None)
    tls = master.pop("connection_class", None) is SSLConnection
    master["connection_class"] = FollowsMasterTls if tls else FollowsMaster
    kwargs.pop("max_connections", None)
    sentinel_kwargs = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
    sentinel_kwargs["decode_responses"] = True
    for key, value in address.sentinel.options.items():
        sentinel_kwargs[key.removeprefix("sentinel_")] = value
    manager = Sentinels(list(address.sentinel.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call, unused-ignore]
    return manager.master_for(address.sentinel.service, **{**kwargs, **master})


class SwitchListener:
    """Listens to every sentinel of a master client's pool. When a failover of its service is about
    to promote a replica, commands to the master are held (the pool's ``gdw_gate``); when the
    sentinels announce the switch, every connection of the pool is closed (those in use fail and are
    retried by the client, on the new master) and the held commands go on, to the new master."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.service: str = pool.service_name
        self.switches = 0  # how many switches moved the pool (tests read it)
        self.holds = 0  # how many times commands were held for a promotion
        self.gate = asyncio.Event()
        self.gate.set()
        pool.gdw_gate = self.gate
        self._tasks: list[asyncio.Task[None]] = []
        self._limit: asyncio.TimerHandle | None = None
        self._refused = False  # a sentinel refused the subscription (warned once)
        #: the subscriptions that are up (a test waits for them before it fails over)
        self.subscribed: set[int] = set()

    def start(self) -> None:
        if not self._tasks:
            sentinels = self.pool.sentinel_manager.sentinels
            self._tasks = [asyncio.create_task(self._listen(i, s)) for i, s in enumerate(sentinels)]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._resume()

    async def _listen(self, index: int, sentinel: Any) -> None:
        pause = 0.1
        while True:
            pubsub = sentinel.pubsub()
            try:
                await pubsub.subscribe(SWITCH, PROMOTING, *RESUMED)
                self.subscribed.add(index)
                pause = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is not None:
                        await self.heard(str(message.get("channel", "")), str(message.get("data", "")))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a sentinel down or restarting: subscribe again, with backoff
                if isinstance(exc, NoPermissionError | AuthenticationError) and not self._refused:
                    self._refused = True
                    log.warning(
                        "Sentinel refused to let gdw listen to its failover events (%s): a planned failover may "
                        "lose the writes the old master takes before it is demoted; let the sentinel user "
                        "subscribe (docs/deployment.md)",
                        exc,
                    )
                elif index in self.subscribed:
                    log.debug("sentinel %s: failover listener lost (%s); subscribing again", index, exc)
                self.subscribed.discard(index)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
            finally:
                self.subscribed.discard(index)
                await asyncio.shield(pubsub.aclose())

    async def heard(self, channel: str, text: str) -> None:
        """Act on one message of a sentinel (each sentinel sends its own +switch-master: acted on once)."""
        parts = text.split()
        if channel == SWITCH:
            await self.switched(parts)
        elif _service(parts) != self.service:
            return
        elif channel == PROMOTING:
            self._hold()
        elif channel in RESUMED:
            self._resume()

    async def switched(self, parts: list[str]) -> None:
        if len(parts) != 5 or parts[0] != self.service or not parts[4].isdigit():
            return
        new = (parts[3], int(parts[4]))
        try:
            if self.pool.master_address == new and not self._connected_elsewhere(new):
                return
            log.warning("Sentinel: master %r moved to %s:%s; reconnecting", self.service, *new)
            self.pool.master_address = new
            self.switches += 1
            await self.pool.disconnect(inuse_connections=True)
        finally:
            self._resume()

    def _hold(self) -> None:
        if self.gate.is_set():
            log.warning("Sentinel: a failover of %r is promoting a replica; holding commands", self.service)
            self.holds += 1
            self.gate.clear()
        if self._limit is not None:
            self._limit.cancel()
        self._limit = asyncio.get_running_loop().call_later(HOLD_LIMIT, self._resume)

    def _resume(self) -> None:
        if self._limit is not None:
            self._limit.cancel()
            self._limit = None
        self.gate.set()

    def _connected_elsewhere(self, address: tuple[str, int]) -> bool:
        connections = [*self.pool._available_connections, *self.pool._in_use_connections]
        return any(c.is_connected and (c.host, c.port) != address for c in connections)


def _service(parts: list[str]) -> str:
    """The master named by a sentinel event: ``<type> <name> <ip> <port> [@ <master> <ip> <port>]``."""
    if "@" in parts:
        at = parts.index("@")
        return parts[at + 1] if at + 1 < len(parts) else ""
    return parts[1] if len(parts) > 1 else ""
