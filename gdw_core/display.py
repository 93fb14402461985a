"""How gdw shows things to a person, shared by the CLI and the dashboard: the one table of state
names, short labels and colours, the worker-state colours, the one sanitiser for text read from
storage, and durations that stay truthful below a second.

Anything read from storage (task names, args, errors, worker hosts, queue names) may carry Rich
markup (``[bold red]``) or terminal control sequences (``\\x1b[2J``). :func:`clean` drops escape
sequences and replaces control characters; :func:`markup` also escapes Rich markup, for strings
embedded in markup. Renderers that take plain text (``rich.text.Text``) never parse markup.

This module imports only the standard library and gdw_core (no Rich, no Textual), so the CLI and
the dashboard can both use it.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from gdw_core.status import TaskStatus


@dataclass(frozen=True, slots=True)
class StateLook:
    status: TaskStatus
    label: str  # the full name
    short: str  # fits a narrow column header
    tiny: str  # fits an 80-column table of all eight states
    style: str  # a Rich style (colour; bold for the states that need attention)

    @property
    def colour(self) -> str:
        """The style without emphasis (for bar segments)."""
        return self.style.replace("bold ", "")


#: the display order of states (tabs, bars, counts) and how each looks. The one table.
STATES: tuple[StateLook, ...] = (
    StateLook(TaskStatus.PENDING, "pending", "pending", "pend", "yellow"),
    StateLook(TaskStatus.SCHEDULED, "scheduled", "sched", "sched", "cyan"),
    StateLook(TaskStatus.CLAIMED, "claimed", "claimed", "claim", "blue"),
    StateLook(TaskStatus.RUNNING, "running", "running", "run", "bold bright_blue"),
    StateLook(TaskStatus.RETRYING, "retrying", "retry", "retry", "bold magenta"),
    StateLook(TaskStatus.COMPLETED, "completed", "done", "done", "green"),
    StateLook(TaskStatus.FAILED, "failed", "failed", "fail", "bold red"),
    StateLook(TaskStatus.CANCELLED, "cancelled", "cancel", "canc", "dim"),
    # held back by a rate or concurrency limit until its turn (gdw_core.flow)
    StateLook(TaskStatus.THROTTLED, "throttled", "thrott", "thr", "bold yellow"),
    # a workflow node waiting for its parents (gdw_core.workflow)
    StateLook(TaskStatus.BLOCKED, "blocked", "blocked", "block", "dim cyan"),
)

BY_STATUS: dict[str, StateLook] = {str(s.status): s for s in STATES}

#: ``status name -> Rich style``
STATUS_STYLE: dict[str, str] = {name: look.style for name, look in BY_STATUS.items()}
#: ``status name -> short column label``
SHORT_LABEL: dict[str, str] = {name: look.short for name, look in BY_STATUS.items()}
#: ``status name -> tiny column label``
TINY_LABEL: dict[str, str] = {name: look.tiny for name, look in BY_STATUS.items()}

#: worker states as gdw_core.lifecycle.worker_state names them
WORKER_STYLE: dict[str, str] = {
    "running": "green",
    "draining": "bold yellow",
    "stopped": "dim",
    "dead": "bold red reverse",
}


def status_style(status: TaskStatus | str) -> str:
    return STATUS_STYLE.get(str(status), "")


# -- the sanitiser ------------------------------------------------------------------------------
# escape sequences (CSI, OSC, two-character) are dropped whole; other C0 controls (except \t \n),
# DEL and C1 controls become a space (or are dropped in multi-line text)
_ESC_SEQ = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_NO_NL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# bidi overrides and isolates can reorder what an operator reads
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: Rich's and Textual's own escape pattern, widened to upper case and Textual's ``[$variable]``
_MARKUP = re.compile(r"(\\*)(\[[a-zA-Z#/@$][^[]*?])")


def _shown(ch: str) -> str:
    return ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else repr(ch)[1:-1]


def clean(value: Any, *, multiline: bool = False, show: bool = False) -> str:
    """``value`` as text without escape sequences, control or bidi-override characters.

    ``show=True`` (the CLI, whose output may be piped and read later) keeps every character
    visible instead: a control character appears as its escape (``\\x1b``, ``\\n``), so an
    operator sees that a stored name carries one. The dashboard drops them."""
    s = value if isinstance(value, str) else str(value)
    if show:
        return s if s.isprintable() else "".join(_shown(ch) for ch in s)
    s = _BIDI.sub("", _ESC_SEQ.sub("", s))
    if multiline:
        return _CONTROL.sub("", s.replace("\r\n", "\n"))
    return _CONTROL_NO_NL.sub(" ", s)


def markup(value: Any, *, multiline: bool = False) -> str:
    """Text safe to embed in a Rich markup string (cleaned, and ``[`` escaped like
    ``rich.markup.escape`` does)."""

    def escape_backslashes(match: re.Match[str]) -> str:
        backslashes, text = match.groups()
        return f"{backslashes}{backslashes}\\{text}"

    s = _MARKUP.sub(escape_backslashes, clean(value, multiline=multiline))
    if s.endswith("\\") and not s.endswith("\\\\"):
        s += "\\"
    return s


def shorten(s: str, width: int) -> str:
    """``s`` cut to ``width`` characters, ending in ``…`` when cut."""
    if width <= 0:
        return ""
    return s if len(s) <= width else s[: width - 1] + "…"


def json_text(value: Any) -> str:
    """Compact JSON of a storage value (already decoded JSON), cleaned."""
    try:
        out = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        out = repr(value)
    return clean(out)


# -- durations ----------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    """A duration that stays truthful below a second: ``0.0021`` -> ``2ms``, ``0.75`` -> ``750ms``,
    ``12.3`` -> ``00:13``, ``754.2`` -> ``12:35``, over an hour ``1:02:03``."""
    s = max(0.0, seconds)
    if s < 1.0:
        ms = math.floor(s * 1000)
        return f"{ms}ms" if ms >= 1 or s == 0 else "<1ms"
    total = math.ceil(s)
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"
