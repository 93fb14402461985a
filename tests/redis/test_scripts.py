"""The Lua scripts: one file per state change, each headed by its contract, carrying the tables
generated from gdw_core.lifecycle (never a hand-written copy)."""

from __future__ import annotations

import re

from gdw_core.lifecycle import lua_tables
from gdw_core.status import TRANSITIONS
from gdw_core.storage.redis.functions import RUN, wrap
from gdw_core.storage.redis.scripts import NAMES, Scripts, prelude, script_text


def lua_table(text: str) -> dict[str, set[str]]:
    line = next(ln for ln in text.splitlines() if ln.startswith("local ALLOWED = {"))
    body = line.split("=", 1)[1].strip()[1:-1]
    return {m.group(1): set(re.findall(r"(\w+) = true", m.group(2))) for m in re.finditer(r"(\w+) = \{([^}]*)\}", body)}


def test_every_script_runs_the_generated_tables() -> None:
    scripts = Scripts()
    head = lua_tables()
    for name in NAMES:
        body = scripts.by_name[name].body
        assert body.startswith(head), name
        assert body == prelude() + "\n" + RUN + wrap(script_text(name))
    assert lua_table(scripts.by_name["claim"].body) == {str(k): {str(v) for v in vs} for k, vs in TRANSITIONS.items()}
    lib = scripts.library
    assert lib.code.startswith(f"#!lua name={lib.name}\n") and head in lib.code
    assert RUN in lib.code
    for name in NAMES:  # the same script text, run the same way (RUN), as one function each
        assert f"BODY['{name}'] = function()\n{script_text(name)}\nend\n" in lib.code
        start = f"'{lib.functions[name]}', function(keys, args)\nKEYS, ARGV = keys, args\n"
        assert start + f"return run(BODY['{name}'])" in lib.code


def test_no_script_carries_a_hand_written_table() -> None:
    for name in ("_prelude", *NAMES):
        text = script_text(name)
        for table in ("ALLOWED", "INDEX", "TERMINAL", "LEASED", "RELEASE_TO", "RECOVER_TO", "DETAIL"):
            assert f"local {table} =" not in text, (name, table)
    for literal in ("'poison:", "'lease expired'", "'released'", "'cancelled by operator'", "'retry now'"):
        assert all(literal not in script_text(n) for n in NAMES), literal


def test_every_script_states_its_contract_and_uses_redis_time() -> None:
    for name in NAMES:
        text = script_text(name)
        head = text.split("\n\n", 1)[0]
        assert head.startswith(f"-- {name}:"), name
        for word in ("KEYS[1]", "ARGV", "Returns"):
            assert word in text.split("\nlocal", 1)[0] or word in head, (name, word)
    assert "redis.call('TIME')" in script_text("_prelude")


def test_every_transition_appends_an_event() -> None:
    text = script_text("_prelude")
    move = text.split("local function move(", 1)[1].split("\nend\n", 1)[0]
    assert "emit(new" in move


def test_claim_never_pops_before_checking() -> None:
    assert "ZPOPMIN" not in script_text("claim")
