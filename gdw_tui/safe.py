"""Making storage data harmless before it reaches the terminal.

Anything read from storage (task names, args, errors, worker hosts, queue names) may carry Rich
markup (``[bold red]``) or terminal control sequences (``\\x1b[2J``). ``clean`` drops control
characters (keeping newlines and tabs only where asked); ``markup`` also escapes Rich markup for
strings that are rendered as markup; ``text`` gives a Rich ``Text`` that is never parsed as markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.markup import escape
from rich.text import Text

# C0 controls (except \t \n), DEL, C1 controls, and the escape sequences they start
_ESC_SEQ = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_NO_NL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(value: Any, *, multiline: bool = False) -> str:
    """``value`` as text without escape sequences or control characters."""
    s = value if isinstance(value, str) else str(value)
    s = _ESC_SEQ.sub("", s)
    if multiline:
        return _CONTROL.sub("", s.replace("\r\n", "\n"))
    return _CONTROL_NO_NL.sub(" ", s)


def markup(value: Any, *, multiline: bool = False) -> str:
    """Text safe to embed in a Rich markup string."""
    return escape(clean(value, multiline=multiline))


def text(value: Any, style: str = "", *, multiline: bool = False) -> Text:
    """A Rich Text of ``value`` (never parsed as markup)."""
    return Text(clean(value, multiline=multiline), style=style)


def shorten(s: str, width: int) -> str:
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"


def json_text(value: Any) -> str:
    """Compact JSON of a storage value (already decoded JSON), cleaned."""
    try:
        out = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        out = repr(value)
    return clean(out)
