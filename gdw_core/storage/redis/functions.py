"""The scripts as one Redis 7 function library: the generated tables and the helpers (prelude,
workflow, flow) are loaded once, and each script is a function of the library (``FCALL``).

Why: an EVALSHA body runs its 31 KB prelude on every call (~15 us), and with 25 bodies loaded
Redis's Lua heap holds 25 copies of it, which the garbage collector walks: on this project's
machine an enqueue cost ~95 us of Redis time by EVALSHA and ~45 us by FCALL (fresh server each,
same calls). The library's name carries the hash of its text, so two gdw versions sharing one
Redis each find their own functions (an old version's library stays until ``FUNCTION DELETE``).

Loaded lazily like the scripts (the first "Function not found" loads it, FUNCTION LOAD REPLACE);
functions replicate, so a promoted replica already has it. Where FCALL or FUNCTION LOAD is refused
(Redis < 7, an ACL without +fcall / +function|load) gdw falls back to EVALSHA for good."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: what every call runs around its script (``run(body)``): a clean per-call state first, and at
#: the end, also when the script raised, the events it buffered are written (one stream entry per
#: call, see ``emit`` in _prelude.lua)
RUN = """local function run(body)
  if redis == nil then load_globals() end
  begin_call(ARGV)
  workflow_begin()
  local ok, out = pcall(body)
  end_call()
  if not ok then error(out, 0) end
  return out
end
"""


def wrap(script: str) -> str:
    """An EVALSHA body's script part (after the head and RUN): the script as a function, run."""
    return f"return run(function()\n{script}\nend)\n"


@dataclass(frozen=True, slots=True)
class Library:
    name: str
    code: str
    #: script name -> function name
    functions: dict[str, str]


def build(head: str, names: Sequence[str], script_text: Callable[[str], str]) -> Library:
    """``head`` is the tables and helpers (scripts.prelude()); each script becomes one function.
    KEYS and ARGV are the library's locals, set by each function from its arguments."""
    body = [f"local KEYS, ARGV\n{head}\nLIBRARY = true\n{RUN}local BODY = {{}}\n"]
    for name in names:  # each script's function is made once, when the library loads
        body.append(
            f"BODY['{name}'] = function()\n{script_text(name)}\nend\n"
            f"LOAD_REDIS.register_function('@{name}', function(keys, args)\n"
            f"KEYS, ARGV = keys, args\nreturn run(BODY['{name}'])\nend)\n"
        )
    text = "".join(body)
    version = "gdw_" + hashlib.sha1(text.encode()).hexdigest()[:12]
    text = text.replace("LOAD_REDIS.register_function('@", f"LOAD_REDIS.register_function('{version}_")
    return Library(version, f"#!lua name={version}\n{text}", {n: f"{version}_{n}" for n in names})
