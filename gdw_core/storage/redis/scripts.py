"""The Lua scripts (``scripts/*.lua``, one per state change), run by SHA with EVALSHA, singly or
many in one pipelined round trip. Each script body is the tables generated from the lifecycle
rules (:func:`gdw_core.lifecycle.lua_tables`: the transition table, indexes, release and recovery
targets, event details), then the shared helpers (``scripts/_prelude.lua``), then the script.

Scripts are loaded lazily: the first NOSCRIPT reply loads them all (SCRIPT LOAD) and the call is
sent again, so opening a storage needs no SCRIPT permission (a read-only user can open and read).

On the fast lane (one Redis, not Cluster) the same scripts run as one Redis 7 function library
(:mod:`gdw_core.storage.redis.functions`, FCALL), loaded the same lazy way; where that is refused,
EVALSHA for good."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from gdw_core.lifecycle import lua_tables
from gdw_core.storage.redis import functions
from gdw_core.storage.redis.lane import FastLane, FunctionsRefused, as_error
from gdw_core.workflow.rules import lua_tables as workflow_lua_tables

log = logging.getLogger("gdw.redis")

NAMES = (
    "enqueue",
    "claim",
    "start",
    "complete",
    "fail",
    "cancel_running",
    "release",
    "progress",
    "heartbeat",
    "promote",
    "recover",
    "purge",
    "cancel",
    "retry_now",
    "pause",
    "fire_recurring",
    "recurring_add",
    "recurring_remove",
    "worker_beat",
    "worker_stop",
    "command",
    "bulk",
    "workflow_submit",
    "limit_set",
    "limit_rm",
    "repair",
)


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    body: str
    sha: str


@dataclass(frozen=True, slots=True)
class Call:
    """One script call: ``script(KEYS=[key], ARGV=args)``."""

    script: str
    key: str
    args: tuple[Any, ...]


def script_text(name: str) -> str:
    return resources.files("gdw_core.storage.redis").joinpath("scripts", f"{name}.lua").read_text("utf-8")


def prelude() -> str:
    """What every script body starts with: the generated tables, then ``_prelude.lua``, then
    ``_workflow.lua`` (workflow fan-in) and ``_flow.lua`` (flow control: the hooks the prelude
    declares, admission at claim)."""
    return (
        lua_tables()
        + workflow_lua_tables()
        + script_text("_prelude")
        + "\n"
        + script_text("_workflow")
        + "\n"
        + script_text("_flow")
    )


def _load_all() -> dict[str, Script]:
    head = prelude()
    out = {}
    for name in NAMES:
        body = head + "\n" + functions.RUN + functions.wrap(script_text(name))
        out[name] = Script(name, body, hashlib.sha1(body.encode()).hexdigest())
    return out


class Scripts:
    def __init__(self, cluster: bool = False) -> None:
        self.by_name = _load_all()
        self.cluster = cluster
        self.lane: FastLane | None = None  # set when the server can use it (see lane.py)
        self.library = functions.build(prelude(), NAMES, script_text)
        #: FCALL on the fast lane until Redis refuses it (then EVALSHA for good)
        self.functions = not cluster

    def evalsha(self, call: Call) -> tuple[Any, ...]:
        """The command the fast lane sends for ``call`` (FCALL, or EVALSHA)."""
        if self.functions:
            return ("FCALL", self.library.functions[call.script], 1, call.key, *call.args)
        return ("EVALSHA", self.by_name[call.script].sha, 1, call.key, *call.args)

    async def _via_lane(self, lane: FastLane, client: Any, calls: list[Call], raising: bool = True) -> list[Any]:
        results = await lane.execute([self.evalsha(c) for c in calls])
        return await self._finish(lane, client, calls, results, raising)

    async def run_stream(self, client: Any, calls: Iterator[Call]) -> list[Any]:
        """Like :meth:`run_many`, but each call is written as soon as it is built, so Redis runs
        the first ones while the next are being encoded."""
        lane = self.lane
        if lane is None:
            return await self.run_many(client, list(calls))
        futs: list[asyncio.Future[Any]] = []
        sent: list[Call] = []
        for call in calls:
            futs.extend(await lane.send([self.evalsha(call)]))
            sent.append(call)
        results = [as_error(r) if isinstance(r, ResponseError) else r for r in [await f for f in futs]]
        return await self._finish(lane, client, sent, results)

    async def _finish(
        self, lane: FastLane, client: Any, calls: list[Call], results: list[Any], raising: bool = True
    ) -> list[Any]:
        if any(isinstance(r, NoScriptError) for r in results):
            if any(isinstance(r, FunctionsRefused) for r in results):
                self._no_functions(next(r for r in results if isinstance(r, FunctionsRefused)))
            await self.load(client)
            for i, res in enumerate(results):
                if isinstance(res, NoScriptError):
                    results[i] = (await lane.execute([self.evalsha(calls[i])]))[0]
        if raising:
            for res in results:
                if isinstance(res, Exception):
                    raise res
        return results

    def _no_functions(self, why: Exception) -> None:
        if self.functions:  # debug: an ACL without +fcall is a supported setup, not a problem
            log.debug("Redis functions not available (%s); using EVALSHA", why)
        self.functions = False

    async def load(self, client: Any) -> None:
        """For a call that went through the fast lane: FUNCTION LOAD the library, else SCRIPT LOAD
        every script."""
        if self.functions and self.lane is not None:
            reply = (await self.lane.execute([("FUNCTION", "LOAD", "REPLACE", self.library.code)]))[0]
            if not isinstance(reply, Exception):
                return
            self._no_functions(reply)
        await self.load_scripts(client)

    async def load_scripts(self, client: Any) -> None:
        """For a call sent with EVALSHA through the client: SCRIPT LOAD every script (on Cluster,
        redis-py sends it to every primary). Never the library alone: the fast lane may have
        opened since the call was sent, and the call's retry is an EVALSHA."""
        for script in self.by_name.values():
            await client.script_load(script.body)

    async def run(self, client: Any, call: Call) -> Any:
        if self.lane is not None:
            return (await self._via_lane(self.lane, client, [call]))[0]
        script = self.by_name[call.script]
        try:
            return await client.evalsha(script.sha, 1, call.key, *call.args)
        except NoScriptError:  # the server restarted or was flushed: load and run again
            await self.load_scripts(client)
            return await client.evalsha(script.sha, 1, call.key, *call.args)

    async def run_many(self, client: Any, calls: list[Call]) -> list[Any]:
        """All calls in one pipelined round trip (not a transaction: each script is atomic on its
        own). Raises the first error a script returned."""
        results = await self.run_each(client, calls)
        for res in results:
            if isinstance(res, Exception):
                raise res
        return results

    async def run_each(self, client: Any, calls: list[Call]) -> list[Any]:
        """Like :meth:`run_many`, but a script's error reply is returned in its place (a
        ResponseError) instead of raised, so one failing call never hides the others' results.
        Connection trouble still raises."""
        if not calls:
            return []
        if self.lane is not None:
            return await self._via_lane(self.lane, client, calls, raising=False)
        if len(calls) == 1 or self.cluster:  # redis-py's cluster pipeline refuses EVALSHA
            return list(await asyncio.gather(*(self._run_or_error(client, c) for c in calls)))
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.evalsha(self.by_name[call.script].sha, 1, call.key, *call.args)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        for i, res in enumerate(results):
            if isinstance(res, NoScriptError):
                await self.load_scripts(client)
                results[i] = await self._run_or_error(client, calls[i])
        return results

    async def _run_or_error(self, client: Any, call: Call) -> Any:
        try:
            return await self.run(client, call)
        except ResponseError as exc:
            return exc
