"""The Lua scripts: one file per state change, each headed by its contract, carrying the one
transition table of gdw_core.status."""

from __future__ import annotations

import re

from gdw_core.status import TRANSITIONS
from gdw_core.storage.redis.scripts import NAMES, script_text


def lua_table() -> dict[str, set[str]]:
    prelude = script_text("_prelude")
    body = prelude.split("local ALLOWED = {", 1)[1].split("\n}\n", 1)[0]
    table: dict[str, set[str]] = {}
    for line in body.strip().splitlines():
        m = re.match(r"\s*(\w+) = \{(.*)\},?$", line)
        assert m, line
        table[m.group(1)] = set(re.findall(r"(\w+) = true", m.group(2)))
    return table


def test_lua_transition_table_is_the_python_one() -> None:
    assert lua_table() == {str(k): {str(v) for v in vs} for k, vs in TRANSITIONS.items()}


def test_every_script_states_its_contract_and_uses_redis_time() -> None:
    for name in NAMES:
        text = script_text(name)
        head = text.split("\n\n", 1)[0]
        assert head.startswith(f"-- {name}:"), name
        for word in ("KEYS[1]", "ARGV", "Returns"):
            assert word in text.split("\nlocal", 1)[0] or word in head, (name, word)
    prelude = script_text("_prelude")
    assert "redis.call('TIME')" in prelude


def test_every_transition_appends_an_event() -> None:
    prelude = script_text("_prelude")
    move = prelude.split("local function move(", 1)[1].split("\nend\n", 1)[0]
    assert "emit(new" in move
